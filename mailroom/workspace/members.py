"""A workspace's members: adding them (no two share an address), finding them, and their
personal forwarding addresses."""

from __future__ import annotations

import base64
import secrets
from uuid import UUID

from mailroom.errors import ConflictError, InvalidInputError, NotFoundError
from mailroom.models import Member, MemberRole, Workspace
from mailroom.parsing.addresses.lists import normalize_address
from mailroom.sources.smtp import recipients
from mailroom.workspace.store import conflict_if_taken


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
) -> Member:
    """Add a member; an address already used by another member (as address or alias) is refused,
    since mail from it could not be told apart."""
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
        return await Member.create(
            workspace=workspace,
            email=address,
            aliases=alias_set,
            role=role,
            name=name,
            forwarding_token=new_forwarding_token(),
        )


async def get_member(workspace: Workspace, email: str) -> Member:
    """The member who has `email` as their address or one of their aliases."""
    address = valid_address(email, "member email")
    for member in await Member.filter(workspace=workspace):
        if address in member.addresses:
            return member
    raise NotFoundError(
        f"no member {address} in workspace {workspace.slug!r}", workspace=workspace.slug
    )


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
