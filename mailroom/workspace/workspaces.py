"""Workspaces, their members and API tokens: the administrative verbs the CLI and API share."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from datetime import datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from mailroom.errors import ConflictError, InvalidInputError, NotFoundError
from mailroom.models import (
    ApiToken,
    Mailbox,
    MailboxStatus,
    Member,
    MemberRole,
    MessageCopy,
    Plan,
    Provider,
    RecordCreationMode,
    SenderPolicy,
    Workspace,
)
from mailroom.parsing.addresses.lists import normalize_address

SYNCED_PROVIDERS = (Provider.IMAP, Provider.GMAIL, Provider.MICROSOFT)
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")
TOKEN_PREFIX = "mr_"


async def create_workspace(slug: str, name: str | None = None, plan: Plan = Plan.FREE) -> Workspace:
    if not _SLUG.match(slug):
        raise InvalidInputError(
            f"invalid workspace slug {slug!r}: use 1-64 lowercase letters, digits and inner hyphens"
        )
    if await Workspace.filter(slug=slug).exists():
        raise ConflictError(f"workspace {slug!r} already exists")
    try:
        return await Workspace.create(slug=slug, name=name or slug, plan=plan)
    except IntegrityError as error:
        raise ConflictError(f"workspace {slug!r} already exists") from error


async def update_workspace(
    workspace: Workspace,
    *,
    name: str | None = None,
    plan: Plan | None = None,
    record_creation_mode: RecordCreationMode | None = None,
    sender_policy: SenderPolicy | None = None,
) -> Workspace:
    """Change the given settings of a workspace; the others stay as they are."""
    changes = {
        "name": name,
        "plan": plan,
        "record_creation_mode": record_creation_mode,
        "sender_policy": sender_policy,
    }
    for field, value in changes.items():
        if value is not None:
            setattr(workspace, field, value)
    await workspace.save()
    return workspace


async def get_workspace(slug: str) -> Workspace:
    workspace = await Workspace.get_or_none(slug=slug)
    if workspace is None:
        raise NotFoundError(f"no workspace {slug!r}")
    return workspace


def _address(value: str, what: str) -> str:
    address = normalize_address(value)
    if address is None:
        raise InvalidInputError(f"{what} {value!r} is not a valid email address")
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
    address = _address(email, "member email")
    alias_set = sorted({_address(a, "alias") for a in aliases or []} - {address})
    taken = {a for m in await Member.filter(workspace=workspace) for a in m.addresses}
    clash = taken & {address, *alias_set}
    if clash:
        raise ConflictError(
            f"{', '.join(sorted(clash))} already belongs to a member of {workspace.slug!r}"
        )
    role = MemberRole.ADMIN if admin else MemberRole.MEMBER
    return await Member.create(
        workspace=workspace,
        email=address,
        aliases=alias_set,
        role=role,
        name=name,
        forwarding_token=new_forwarding_token(),
    )


async def get_member(workspace: Workspace, email: str) -> Member:
    address = _address(email, "member email")
    for member in await Member.filter(workspace=workspace):
        if address in member.addresses:
            return member
    raise NotFoundError(f"no member {address} in workspace {workspace.slug!r}")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(member: Member) -> str:
    """Create an API token for a member and return it; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await ApiToken.create(
        workspace_id=member.workspace_id,
        member=member,
        token_hash=hash_token(token),
        prefix=token[:10],
    )
    return token


async def import_mailbox(member: Member) -> Mailbox:
    """The member's mailbox for file imports, created on first use."""
    mailbox, _ = await Mailbox.get_or_create(
        workspace_id=member.workspace_id,
        provider=Provider.IMPORT,
        address=member.email,
        defaults={"owner": member, "status": MailboxStatus.ACTIVE},
    )
    return mailbox


def new_forwarding_token() -> str:
    """120 random bits in lowercase base32: unguessable, and safe in a local part that some
    mail systems lowercase."""
    return base64.b32encode(secrets.token_bytes(15)).decode().lower()


def workspace_address(workspace: Workspace, mail_domain: str) -> str:
    return f"{workspace.slug}@{mail_domain}"


async def forwarding_address(member: Member, mail_domain: str, *, rotate: bool = False) -> str:
    """The member's personal forwarding address; `rotate` replaces its secret, after which the
    old address is refused."""
    if rotate or not member.forwarding_token:
        member.forwarding_token = new_forwarding_token()
        await member.save(update_fields=["forwarding_token"])
    workspace = await Workspace.get(id=member.workspace_id)
    return f"{workspace.slug}+{member.forwarding_token}@{mail_domain}"


async def forwarding_mailbox(member: Member) -> Mailbox:
    """The mailbox that holds what the member forwards or BCCs, created on first use."""
    mailbox, _ = await Mailbox.get_or_create(
        workspace_id=member.workspace_id,
        provider=Provider.FORWARDING,
        address=member.email,
        defaults={"owner": member, "status": MailboxStatus.ACTIVE},
    )
    return mailbox


async def find_mailbox(workspace: Workspace, address: str) -> Mailbox:
    """A connected (synced) mailbox of the workspace by its address."""
    normalized = normalize_address(address) or address.strip().lower()
    mailbox = await Mailbox.filter(
        workspace=workspace, address=normalized, provider__in=SYNCED_PROVIDERS
    ).first()
    if mailbox is None:
        raise NotFoundError(f"no connected mailbox {address} in workspace {workspace.slug!r}")
    return mailbox


async def mailbox_statuses(workspace: Workspace) -> list[dict[str, Any]]:
    """What `mailroom mailbox status` shows, per mailbox of the workspace."""
    rows = []
    for mailbox in await Mailbox.filter(workspace=workspace).order_by("created_at"):
        rows.append(
            {
                "address": mailbox.address,
                "provider": mailbox.provider.value,
                "status": mailbox.status.value,
                "messages": await MessageCopy.filter(mailbox_id=mailbox.id).count(),
                "progress": {"done": mailbox.progress_done, "total": mailbox.progress_total},
                "last_error": mailbox.last_error,
                "last_error_at": _iso(mailbox.last_error_at),
                "last_synced_at": _iso(mailbox.last_synced_at),
            }
        )
    return rows


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
