"""Who may write into a workspace through the gateway, and whose mailbox the mail goes to.

On the workspace address, only mail whose From is a member's address or alias is taken; on a
member's personal address, mail from that member, or mail that member's own mail system
auto-forwarded (the original sender in From, the member named by the forwarding headers or as
envelope sender). Under the VERIFIED sender policy the From domain (for auto-forwarded mail:
the original's, or the member's own) must also be authenticated by DKIM or SPF.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from mailroom.models import Member, SenderPolicy
from mailroom.parsing.addresses.lists import parse_address_list
from mailroom.parsing.headers import HeaderTable
from mailroom.sources.smtp.authenticity import Verdict
from mailroom.sources.smtp.recipients import Recipient
from mailroom.sources.smtp.replies import Reply

# Headers in which forwarding mail systems name the mailbox they forward for.
FORWARDED_FOR = (
    "X-Forwarded-For",
    "X-Forwarded-To",
    "Delivered-To",
    "X-Original-To",
    "Resent-From",
    "Resent-Sender",
)


class Kind(StrEnum):
    FROM_MEMBER = "from-member"  # BCC'd or forwarded by the member: unwrapped when processed
    AUTO_FORWARD = "auto-forward"  # a mailbox rule passed on mail the member received


@dataclass(frozen=True, slots=True)
class Delivery:
    member: Member
    kind: Kind


class Refused(Exception):
    """The message is refused with the reply `kind` (its text filled with `values`)."""

    def __init__(self, kind: Reply, **values: object) -> None:
        super().__init__(kind.format(**values))
        self.kind = kind
        self.values = values


@dataclass(frozen=True, slots=True)
class Letter:
    """What admission reads of one message: its From, envelope sender and forwarding headers."""

    sender: str | None  # the first From address
    mail_from: str  # the envelope sender, lowercased ("" for bounces)
    forwarded_for: frozenset[str]

    @classmethod
    def read(cls, headers: HeaderTable, mail_from: str) -> Letter:
        senders, _ = parse_address_list(headers.first("from") or "")
        named: set[str] = set()
        for name in FORWARDED_FOR:
            for value in headers.all(name.lower()):
                for part in value.replace(",", " ").split():
                    addresses, _ = parse_address_list(part)
                    named.update(a.address for a in addresses)
        return cls(senders[0].address if senders else None, mail_from.lower(), frozenset(named))


Members = Callable[[Recipient], Awaitable[dict[str, Member]]]


async def admit(
    letter: Letter,
    recipients: list[Recipient],
    members_of: Members,
    verdict: Callable[[], Awaitable[Verdict]],
) -> list[Delivery]:
    """The deliveries for a message, one per member; `Refused` if any recipient refuses it
    (so that nothing accepted is silently dropped for another recipient)."""
    if letter.sender is None:
        raise Refused(Reply.NO_FROM)
    deliveries: dict[object, Delivery] = {}
    for recipient in recipients:
        delivery = _delivery(letter, recipient, await members_of(recipient))
        if recipient.workspace.sender_policy is SenderPolicy.VERIFIED:
            await _check_authentic(letter, delivery, await verdict())
        deliveries.setdefault(delivery.member.id, delivery)
    return list(deliveries.values())


def _delivery(letter: Letter, recipient: Recipient, members: dict[str, Member]) -> Delivery:
    sender = letter.sender or ""
    owner = recipient.member
    if owner is None:
        if sender not in members:
            raise Refused(Reply.NOT_A_MEMBER, sender=sender)
        return Delivery(members[sender], Kind.FROM_MEMBER)
    if sender in owner.addresses:
        return Delivery(owner, Kind.FROM_MEMBER)
    if _forwarded_by(letter, owner):
        return Delivery(owner, Kind.AUTO_FORWARD)
    raise Refused(Reply.NOT_THIS_MEMBER)


def _forwarded_by(letter: Letter, member: Member) -> bool:
    """The member's mail system forwarded this: it names the member, or sends as the member
    (also through SRS: `SRS0=hash=tt=original.example=user@member.example`)."""
    addresses = member.addresses
    if letter.forwarded_for & addresses or letter.mail_from in addresses:
        return True
    domains = {a.rpartition("@")[2] for a in addresses}
    local, _, domain = letter.mail_from.rpartition("@")
    return local.startswith(("srs0=", "srs1=")) and domain in domains


async def _check_authentic(letter: Letter, delivery: Delivery, verdict: Verdict) -> None:
    sender = letter.sender or ""
    domain = sender.rpartition("@")[2]
    if verdict.aligned(domain):
        return
    if delivery.kind is Kind.AUTO_FORWARD and any(
        verdict.aligned(a.rpartition("@")[2]) for a in delivery.member.addresses
    ):
        return
    raise Refused(Reply.NOT_AUTHENTICATED, sender=sender, domain=domain)
