"""Interactions: each member's part in each message and meeting, with each contact address.

What a message gives a member who holds a copy of it (mail that is bulk, automated or from a
mailing list gives nothing):
- the member sent it (an outbound copy): SENT with each recipient;
- the member got it (an inbound copy): RECEIVED with its sender, COPIED with the others on it;
- the member replied to a contact's message (the reply's In-Reply-To is its Message-ID, and
  the contact is among the reply's recipients): ANSWERED on that message, beside RECEIVED.
A meeting gives each member holding it who did not decline it MET with each person on it,
unless it is cancelled. Members' own addresses, their domains and blocklisted contacts never
count. Each is weighted by how few people were on it (resolver/strength.py).

The rows are a function of what is stored (messages, copies, participants, events), whatever
the order things arrived in: a member holding both an outbound and an inbound copy has the
rows of both, and a reply pairs with its message whichever came first. So `rebuild` gives
the rows that the incremental path keeps, and a test holds it to that.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from tortoise.expressions import Q
from uuid_utils.compat import uuid7

from mailroom.envelope import Response, Role
from mailroom.models import (
    CompanyDomain,
    Exchange,
    Interaction,
    InteractionKind,
    Person,
    PersonEmail,
)
from mailroom.models.bulk import chunked, insert_rows
from mailroom.parsing.msgids import id_key
from mailroom.resolver.figures import Contacts, add_counted, execute_in, recompute
from mailroom.resolver.rules import WorkspaceRules
from mailroom.resolver.strength import WEIGHTS, size_factor, stored

# Roles that mean a person took part; Sender and Reply-To are how mail was sent, not to whom.
INTERACTION_ROLES = (Role.FROM, Role.TO, Role.CC, Role.BCC)
_RECIPIENTS = (Role.TO, Role.CC, Role.BCC)
_OUTBOUND = (Exchange.SENT,)
_INBOUND = (Exchange.RECEIVED, Exchange.COPIED, Exchange.ANSWERED)
_ANSWER_RATIO = WEIGHTS[Exchange.ANSWERED] / WEIGHTS[Exchange.RECEIVED]


@dataclass(frozen=True, slots=True)
class Party:
    """Someone on a message or a meeting."""

    role: Role | None  # a participant's header; None for a meeting's attendee
    address: str
    domain: str
    person_id: UUID | None


@dataclass(frozen=True, slots=True)
class Mail:
    """What interactions are made from, of a stored message (or one being stored)."""

    id: UUID
    workspace_id: UUID
    sent_at: datetime
    own_link: str | None
    reply_link: str | None
    countable: bool
    parties: tuple[Party, ...]

    @classmethod
    def of(cls, message: Mapping[str, Any], participants: Iterable[Mapping[str, Any]]) -> Mail:
        """From a message's stored values and its participants' (a row's or a dict's)."""
        own, parent = message["internet_message_id"], message["in_reply_to"]
        return cls(
            id=message["id"],
            workspace_id=message["workspace_id"],
            sent_at=message["sent_at"],
            own_link=id_key(own) if own else None,
            reply_link=id_key(parent) if parent else None,
            countable=not message["bulk"] and not message["list_id"],
            parties=tuple(
                Party(p["role"], p["address"], p["domain"], p["person_id"])
                for p in participants
                if p["role"] in INTERACTION_ROLES
            ),
        )


@dataclass(frozen=True, slots=True)
class Gathering:
    """What interactions are made from, of a stored event: its people (rooms, resources and
    groups left out)."""

    id: UUID
    workspace_id: UUID
    starts_at: datetime
    cancelled: bool
    people: tuple[Party, ...]


def mail_rows(
    mail: Mail, holders: Iterable[tuple[UUID, bool]], rules: WorkspaceRules, now: datetime
) -> list[dict[str, Any]]:
    """The interactions of a message for its holders: (member, whether their copy is
    outbound), a member once per direction."""
    if not mail.countable:
        return []
    factor = size_factor(len({p.address for p in mail.parties}))
    sender = next((p.address for p in mail.parties if p.role is Role.FROM), None)
    contacts = _contacts(p for p in mail.parties if rules.is_contact(p.address))
    rows: list[dict[str, Any]] = []
    for member_id, outbound in sorted(set(holders)):
        for parties in contacts:
            if outbound:
                chosen = [p for p in parties if p.role in _RECIPIENTS]
                exchange = Exchange.SENT if chosen else Exchange.COPIED
                link = mail.reply_link if chosen else None
            else:
                chosen = [p for p in parties if p.address == sender]
                exchange = Exchange.RECEIVED if chosen else Exchange.COPIED
                link = mail.own_link if chosen else None
            party = min(chosen or parties, key=lambda p: p.address)
            rows.append(
                _row(mail.workspace_id, member_id, party, exchange, mail.sent_at, factor, now)
                | {"message_id": mail.id, "kind": InteractionKind.EMAIL, "link": link}
            )
    return rows


def meeting_rows(
    meeting: Gathering,
    holders: Iterable[tuple[UUID, Response | None]],
    rules: WorkspaceRules,
    now: datetime,
) -> list[dict[str, Any]]:
    """The interactions of a meeting for its holders: (member, their answer)."""
    if meeting.cancelled:
        return []
    members = sorted({m for m, response in holders if response is not Response.DECLINED})
    factor = size_factor(len({p.address for p in meeting.people}))
    contacts = _contacts(p for p in meeting.people if rules.is_contact(p.address))
    return [
        _row(
            meeting.workspace_id,
            member_id,
            min(parties, key=lambda p: p.address),
            Exchange.MET,
            meeting.starts_at,
            factor,
            now,
        )
        | {"event_id": meeting.id, "kind": InteractionKind.MEETING, "link": None}
        for member_id in members
        for parties in contacts
    ]


def _contacts(parties: Iterable[Party]) -> list[list[Party]]:
    """Parties grouped by whom they are: a person's addresses together (a message to two of
    them counts once), an address without a person alone."""
    found: dict[UUID | str, list[Party]] = {}
    for party in parties:
        found.setdefault(party.person_id or party.address, []).append(party)
    return [found[k] for k in sorted(found, key=str)]


def contact_key(row: Mapping[str, Any]) -> UUID | str:
    """Whom a row is with: its person, or its address when no person holds it."""
    key: UUID | str = row["person_id"] or row["address"]
    return key


def _row(
    workspace_id: UUID,
    member_id: UUID,
    party: Party,
    exchange: Exchange,
    at: datetime,
    factor: float,
    now: datetime,
) -> dict[str, Any]:
    return {
        "id": uuid7(),
        "workspace_id": workspace_id,
        "member_id": member_id,
        "address": party.address,
        "domain": party.domain,
        "person_id": party.person_id,
        "company_id": None,
        "exchange": exchange,
        "occurred_at": at,
        "value": stored(WEIGHTS[exchange] * factor, at),
        "counted": at <= now,
    }


async def record(
    workspace_id: UUID,
    rows: Sequence[dict[str, Any]],
    *,
    figures: bool = True,
    new: Collection[UUID] = (),
    companies: Mapping[UUID, UUID | None] | None = None,
) -> None:
    """Store the interactions among `rows` that are not stored yet, with the answers they
    complete, and add the counted ones to the connections and figures (unless `figures` is
    False: a rebuild recomputes them once at the end). `new` names messages stored in this
    transaction (none of their interactions can be stored yet); `companies`, the company of
    people the caller knows it of."""
    rows = await _unstored(workspace_id, rows, new)
    if not rows:
        return
    await _companies(workspace_id, rows, companies)
    rows += await _answers(workspace_id, rows)
    await insert_rows(Interaction, rows, ignore_conflicts=True)
    if figures:
        await add_counted(workspace_id, [r for r in rows if r["counted"]])


async def _unstored(
    workspace_id: UUID, rows: Sequence[dict[str, Any]], new: Collection[UUID]
) -> list[dict[str, Any]]:
    """The rows whose (item, member, address, exchange) is not stored, once each."""
    have: set[tuple[UUID, UUID, str, str]] = set()
    for item in ("message_id", "event_id"):
        items = sorted({r[item] for r in rows if r.get(item) and r[item] not in new})
        for chunk in chunked(items):
            # By the item alone (its key is the workspace's): with the workspace too, SQLite
            # may read the workspace's every row through an index that leads with it.
            found = await Interaction.filter(**{f"{item}__in": chunk}).values_list(
                item, "member_id", "address", "exchange"
            )
            have |= {(i, m, a, str(e)) for i, m, a, e in found}
    fresh: list[dict[str, Any]] = []
    for row in rows:
        key = (row.get("message_id") or row["event_id"], row["member_id"], row["address"])
        if (*key, str(row["exchange"])) not in have:
            have.add((*key, str(row["exchange"])))
            fresh.append(row)
    return fresh


async def _companies(
    workspace_id: UUID,
    rows: Sequence[dict[str, Any]],
    known: Mapping[UUID, UUID | None] | None = None,
) -> None:
    """Each row's company: its person's, or for an address without a person its domain's."""
    company_of_person: dict[UUID, UUID | None] = dict(known or {})
    people = sorted({r["person_id"] for r in rows if r["person_id"]} - company_of_person.keys())
    for chunk in chunked(people):
        company_of_person.update(await Person.filter(id__in=chunk).values_list("id", "company_id"))
    domains = sorted({r["domain"] for r in rows if not r["person_id"] and r["domain"]})
    company_of_domain: dict[str, UUID] = {}
    for chunk in chunked(domains):
        company_of_domain.update(
            await CompanyDomain.filter(workspace_id=workspace_id, domain__in=chunk).values_list(
                "domain", "company_id"
            )
        )
    for row in rows:
        if row["person_id"]:
            row["company_id"] = company_of_person.get(row["person_id"])
        else:
            row["company_id"] = company_of_domain.get(row["domain"])


async def _answers(workspace_id: UUID, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """ANSWERED rows that `rows` complete: a member's message to a contact whose In-Reply-To
    is a message the member received from that contact (any of a person's addresses), in
    either order of arrival."""
    links = sorted(
        {r["link"] for r in rows if r["exchange"] in (Exchange.SENT, Exchange.RECEIVED)} - {None}
    )
    if not links:
        return []
    pairs: dict[tuple[UUID, UUID | str, str], _Pair] = defaultdict(_Pair)
    for chunk in chunked(links):
        stored_rows = await Interaction.filter(workspace_id=workspace_id, link__in=chunk).values(
            *_ANSWER_FIELDS
        )
        for row in stored_rows:
            pairs[row["member_id"], contact_key(row), row["link"]].add(row)
    for row in rows:
        if row.get("link"):
            pairs[row["member_id"], contact_key(row), row["link"]].add(row)
    answers = []
    for pair in pairs.values():
        if pair.sent:
            answers += [
                {f: r[f] for f in _ANSWER_FIELDS}
                | {
                    "id": uuid7(),
                    "workspace_id": workspace_id,
                    "exchange": Exchange.ANSWERED,
                    "value": r["value"] * _ANSWER_RATIO,
                }
                for r in pair.received
                if r["message_id"] not in pair.answered
            ]
    return answers


_ANSWER_FIELDS = (
    "member_id",
    "address",
    "domain",
    "person_id",
    "company_id",
    "message_id",
    "kind",
    "exchange",
    "occurred_at",
    "value",
    "counted",
    "link",
)


@dataclass(slots=True)
class _Pair:
    """A member's rows with one contact that share a link: a reply and what it answers."""

    sent: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)
    answered: set[UUID] = field(default_factory=set)

    def add(self, row: Mapping[str, Any]) -> None:
        exchange = Exchange(row["exchange"])
        if exchange is Exchange.SENT:
            self.sent = True
        elif exchange is Exchange.RECEIVED and all(
            r["message_id"] != row["message_id"] for r in self.received
        ):
            self.received.append(dict(row))
        elif exchange is Exchange.ANSWERED:
            self.answered.add(row["message_id"])


async def forget(workspace_id: UUID, query: Q) -> None:
    """Delete the interactions `query` selects, with the answers that lose their reply or
    their message, and recompute what they counted for."""
    # `query` names the workspace's own messages, events or people: filtering by the workspace
    # too would let SQLite pick an index that leads with it, and read every row.
    doomed = await Interaction.filter(query).values(*_FORGET)
    if not doomed:
        return
    ids = {r["id"] for r in doomed}
    replies = {
        (r["member_id"], contact_key(r), r["link"])
        for r in doomed
        if r["exchange"] == Exchange.SENT and r["link"]
    }
    received = {
        (r["message_id"], r["member_id"], contact_key(r))
        for r in doomed
        if r["exchange"] == Exchange.RECEIVED
    }
    orphaned: list[dict[str, Any]] = []
    for chunk in chunked(sorted({link for _, _, link in replies})):
        rows = await Interaction.filter(
            workspace_id=workspace_id,
            link__in=chunk,
            exchange__in=[Exchange.SENT, Exchange.ANSWERED],
        ).values(*_FORGET)
        left = {
            (r["member_id"], contact_key(r), r["link"])
            for r in rows
            if r["exchange"] == Exchange.SENT and r["id"] not in ids
        }
        orphaned += [
            r
            for r in rows
            if r["exchange"] == Exchange.ANSWERED
            and (key := (r["member_id"], contact_key(r), r["link"])) in replies
            and key not in left
        ]
    for chunk in chunked(sorted({m for m, _, _ in received})):
        rows = await Interaction.filter(message_id__in=chunk, exchange=Exchange.ANSWERED).values(
            *_FORGET
        )
        orphaned += [
            r for r in rows if (r["message_id"], r["member_id"], contact_key(r)) in received
        ]
    for row in orphaned:
        if row["id"] not in ids:
            ids.add(row["id"])
            doomed.append(row)
    for chunk in chunked(sorted(ids)):
        await Interaction.filter(id__in=chunk).delete()
    await recompute(workspace_id, Contacts.of(doomed))


_FORGET = (
    "id",
    "member_id",
    "address",
    "link",
    "exchange",
    "message_id",
    "person_id",
    "company_id",
)


async def relink(
    workspace_id: UUID,
    addresses: Iterable[str] = (),
    domains: Iterable[str] = (),
    people: Iterable[UUID] = (),
) -> None:
    """Point the interactions of these addresses, domains and people at the person that holds
    each address now and that person's company (or the domain's, for an address without a
    person), and recompute what moved."""
    found: dict[UUID, dict[str, Any]] = {}
    fields = ("id", "address", "domain", "person_id", "company_id")
    lookups: list[tuple[str, Sequence[Any]]] = [
        ("address", sorted(set(addresses))),
        ("domain", sorted(set(domains))),
        ("person_id", sorted(set(people))),
    ]
    for name, values in lookups:
        for chunk in chunked(values):
            where: dict[str, Any] = {f"{name}__in": chunk}
            if name != "person_id":  # a person's key is the workspace's (see `forget`)
                where["workspace_id"] = workspace_id
            rows = await Interaction.filter(**where).values(*fields)
            found.update((r["id"], r) for r in rows)
    if not found:
        return
    rows = list(found.values())
    targets = [dict(r) | {"person_id": None} for r in rows]
    await _people(workspace_id, targets)
    await _companies(workspace_id, targets)
    moves: dict[tuple[Any, Any], list[UUID]] = defaultdict(list)
    for old, new in zip(rows, targets, strict=True):
        if (old["person_id"], old["company_id"]) != (new["person_id"], new["company_id"]):
            moves[new["person_id"], new["company_id"]].append(old["id"])
    if not moves:
        return
    for (person_id, company_id), ids in moves.items():
        for chunk in chunked(ids):
            await Interaction.filter(id__in=chunk).update(
                person_id=person_id, company_id=company_id
            )
    moved = {i for ids in moves.values() for i in ids}
    await recompute(
        workspace_id,
        Contacts.of([r for r in rows if r["id"] in moved])
        | Contacts.of([t for t in targets if t["id"] in moved]),
    )


async def _people(workspace_id: UUID, rows: Sequence[dict[str, Any]]) -> None:
    addresses = sorted({r["address"] for r in rows})
    person_of: dict[str, UUID] = {}
    for chunk in chunked(addresses):
        person_of.update(
            await PersonEmail.filter(workspace_id=workspace_id, address__in=chunk).values_list(
                "address", "person_id"
            )
        )
    for row in rows:
        row["person_id"] = person_of.get(row["address"])


async def link_history(
    workspace_id: UUID, new_people: dict[str, UUID], *, interactions: bool = True
) -> None:
    """Give new people what they were already on: their participant and attendee rows, and
    the interactions of their addresses. The new people's addresses must already be stored."""
    for chunk in chunked(sorted(new_people)):
        for table in ("participant", "event_attendee"):
            await execute_in(
                f"UPDATE {table} SET person_id = (SELECT pe.person_id FROM person_email pe"
                f" WHERE pe.workspace_id = {table}.workspace_id AND pe.address = {table}.address)"
                " WHERE workspace_id = {0} AND person_id IS NULL AND address IN ({values})",
                [workspace_id],
                chunk,
            )
    if interactions:
        await relink(workspace_id, addresses=new_people)
