"""A workspace's mailboxes: finding a connected mailbox by address or any mailbox by id, what
`mailbox status` shows, and removing one. Connecting one is `connecting`'s, changing its sharing
`sharing`'s; the import and forwarding mailboxes are made, on first use, by the sources that
fill them (`sources.mailboxes`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from mailroom.errors import InvalidInputError, NotFoundError
from mailroom.intake.removal import remove_mailbox as delete_mailbox
from mailroom.models import Direction, Mailbox, MessageCopy, Provider, Workspace
from mailroom.parsing.addresses.lists import normalize_address
from mailroom.workspace.actors import Actor, require_manager
from mailroom.workspace.store import in_workspace

# Mailboxes that Mailroom syncs from a provider (as opposed to forwarding and file imports);
# a CalDAV account's calendars count as one.
SYNCED_PROVIDERS = (Provider.IMAP, Provider.GMAIL, Provider.MICROSOFT, Provider.CALDAV)


async def find_mailbox(workspace: Workspace, address: str) -> Mailbox:
    """A connected (synced) mailbox of the workspace by its address."""
    normalized = normalize_address(address) or address.strip().lower()
    mailbox = await Mailbox.filter(
        workspace=workspace, address=normalized, provider__in=SYNCED_PROVIDERS
    ).first()
    if mailbox is None:
        raise NotFoundError(
            f"no connected mailbox {address} in workspace {workspace.slug!r}",
            workspace=workspace.slug,
        )
    return mailbox


async def mailbox_at(
    workspace: Workspace, address: str, provider: Provider | None = None
) -> Mailbox:
    """Any mailbox of the workspace by its address: a member's import, forwarding and connected
    mailboxes may share one, and then `provider` says which."""
    normalized = normalize_address(address) or address.strip().lower()
    query = Mailbox.filter(workspace=workspace, address=normalized)
    if provider is not None:
        query = query.filter(provider=provider)
    found = await query.order_by("created_at")
    if not found:
        raise NotFoundError(
            f"no mailbox {address} in workspace {workspace.slug!r}", workspace=workspace.slug
        )
    if len(found) > 1:
        kinds = ", ".join(m.provider.value.lower() for m in found)
        raise InvalidInputError(
            f"{workspace.slug!r} has {len(found)} mailboxes at {normalized} ({kinds}): "
            "name the kind of the one meant (--provider)",
            workspace=workspace.slug,
            mailbox=normalized,
        )
    return found[0]


async def mailbox_by_id(
    workspace: Workspace, mailbox_id: UUID, provider: Provider | None = None
) -> Mailbox:
    """Any mailbox of the workspace by its id (of `provider`, if given)."""
    where = {"provider": provider} if provider is not None else {}
    return await in_workspace(Mailbox, workspace, mailbox_id, **where)


async def mailboxes_of(workspace_id: UUID) -> list[Mailbox]:
    """In the order they were made."""
    return await Mailbox.filter(workspace_id=workspace_id).order_by("created_at")


async def stored_messages(mailbox_id: UUID) -> int:
    """How many messages the mailbox holds a copy of."""
    return await MessageCopy.filter(mailbox_id=mailbox_id).count()


async def sent_messages(mailbox_id: UUID) -> int:
    """How many of the mailbox's messages its owner sent."""
    return await MessageCopy.filter(mailbox_id=mailbox_id, direction=Direction.OUTBOUND).count()


async def remove_mailbox(actor: Actor, mailbox: Mailbox) -> int:
    """Remove a mailbox, as its owner or an admin may: the mail only it had goes (a message
    another mailbox also saw stays), every record it made stays, and the relationship figures
    stop counting it. Returns how many messages went with it."""
    require_manager(actor, mailbox, "remove")
    return await delete_mailbox(mailbox.id, mailbox.workspace_id)


async def mailbox_statuses(workspace: Workspace) -> list[dict[str, Any]]:
    """What `mailroom mailbox status` shows, per mailbox of the workspace."""
    rows = []
    for mailbox in await mailboxes_of(workspace.id):
        rows.append(
            {
                "address": mailbox.address,
                "provider": mailbox.provider.value,
                "status": mailbox.status.value,
                "messages": await stored_messages(mailbox.id),
                "progress": {"done": mailbox.progress_done, "total": mailbox.progress_total},
                "last_error": mailbox.last_error,
                "last_error_at": _iso(mailbox.last_error_at),
                "last_synced_at": _iso(mailbox.last_synced_at),
                "reconciliation": mailbox.reconciliation,  # the last one, if one was made
            }
        )
    return rows


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None
