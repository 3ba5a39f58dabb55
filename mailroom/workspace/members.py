"""A workspace's members: adding and removing them (admins only; no two share an address),
finding them, and their personal forwarding addresses."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from uuid import UUID

from mailroom.errors import ConflictError, InvalidInputError, NotFoundError
from mailroom.intake.intelligence import recount
from mailroom.intake.removal import remove_mailbox as delete_mailbox
from mailroom.models import Mailbox, Member, MemberRole, ThreadShare, Workspace
from mailroom.parsing.addresses.lists import normalize_address
from mailroom.parsing.addresses.owners import is_free_mail, registrable_domain
from mailroom.sources.smtp import recipients
from mailroom.workspace.actors import OPERATOR, Actor, require_admin
from mailroom.workspace.store import conflict_if_taken, in_workspace


def valid_address(value: str, what: str = "") -> str:
    """`value` normalized, or an InvalidInputError (naming it as `what`, if given)."""
    address = normalize_address(value)
    if address is None:
        named = f"{what} " if what else ""
        raise InvalidInputError(f"{named}{value!r} is not a valid email address")
    return address


async def add_member(
    workspace: Workspace,
    email: str,
    *,
    admin: bool = False,
    aliases: list[str] | None = None,
    name: str | None = None,
    by: Actor = OPERATOR,
) -> Member:
    """Add a member, as an admin (or the operator) may; an address already used by another
    member (as address or alias) is refused, since mail from it could not be told apart."""
    require_admin(by, workspace)
    address = valid_address(email, "member email")
    alias_set = sorted({valid_address(a, "alias") for a in aliases or []} - {address})
    taken = {a for m in await Member.filter(workspace=workspace) for a in m.addresses}
    clash = taken & {address, *alias_set}
    if clash:
        raise ConflictError(
            f"{', '.join(sorted(clash))} already belongs to a member of {workspace.slug!r}",
            workspace=workspace.slug,
        )
    role = MemberRole.ADMIN if admin else MemberRole.MEMBER
    with conflict_if_taken(
        f"{address} already belongs to a member of {workspace.slug!r}", workspace=workspace.slug
    ):
        member = await Member.create(
            workspace=workspace,
            email=address,
            aliases=alias_set,
            role=role,
            name=name,
            forwarding_token=new_forwarding_token(),
        )
    await _recount(workspace, member)
    return member


async def _recount(workspace: Workspace, member: Member) -> None:
    """A member's addresses, and those of their organisation's domain, count in relationship
    figures only while they are no member's."""
    domains = {registrable_domain(a.rpartition("@")[2]) for a in member.addresses}
    for domain in sorted(d for d in domains if d and not is_free_mail(d)):
        await recount(workspace.id, domain=domain)
    await recount(workspace.id, member.addresses)


async def get_member(workspace: Workspace, email: str) -> Member:
    """The member who has `email` as their address or one of their aliases."""
    address = valid_address(email, "member email")
    for member in await Member.filter(workspace=workspace):
        if address in member.addresses:
            return member
    raise NotFoundError(
        f"no member {address} in workspace {workspace.slug!r}", workspace=workspace.slug
    )


async def workspace_member(workspace: Workspace, member_id: UUID) -> Member:
    """A member of the workspace by id."""
    return await in_workspace(Member, workspace, member_id)


@dataclass(frozen=True, slots=True)
class RemovedMember:
    member: Member  # as it was
    mailboxes: int
    messages: int  # the mail only their mailboxes had


async def remove_member(actor: Actor, workspace: Workspace, member: Member) -> RemovedMember:
    """Remove a member, as an admin may (the last admin stays). Each of their mailboxes goes as
    `mailbox remove` removes one: the mail only it had goes, and every record stays; their
    tokens and the threads they shared go with them."""
    require_admin(actor, workspace)
    admins = Member.filter(workspace_id=workspace.id, role=MemberRole.ADMIN)
    if member.role is MemberRole.ADMIN and not await admins.exclude(id=member.id).exists():
        raise ConflictError(
            f"{member.email} is the last admin of {workspace.slug!r}: add another admin first",
            workspace=workspace.slug,
        )
    boxes = await Mailbox.filter(workspace_id=workspace.id, owner_id=member.id)
    messages = 0
    for box in boxes:
        messages += await delete_mailbox(box.id, workspace.id)
    await ThreadShare.filter(workspace_id=workspace.id, shared_by_id=member.id).delete()
    await member.delete()  # its tokens and the shares made to it go with it
    await _recount(workspace, member)
    return RemovedMember(member, len(boxes), messages)


async def members_of(workspace_id: UUID) -> list[Member]:
    """In the order they joined."""
    return await Member.filter(workspace_id=workspace_id).order_by("created_at")


async def member_by_id(workspace_id: UUID, member_id: UUID) -> Member | None:
    return await Member.get_or_none(workspace_id=workspace_id, id=member_id)


def new_forwarding_token() -> str:
    """120 random bits in lowercase base32: unguessable, and safe in a local part that some
    mail systems lowercase."""
    return base64.b32encode(secrets.token_bytes(15)).decode().lower()


async def forwarding_address(member: Member, mail_domain: str, *, rotate: bool = False) -> str:
    """The member's personal forwarding address; `rotate` replaces its secret, after which the
    old address is refused."""
    if rotate or not member.forwarding_token:
        member.forwarding_token = new_forwarding_token()
        await member.save(update_fields=["forwarding_token"])
    workspace = await Workspace.get(id=member.workspace_id)
    return recipients.personal_address(workspace.slug, member.forwarding_token, mail_domain)
