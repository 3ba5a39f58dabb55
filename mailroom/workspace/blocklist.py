"""The workspace's blocklist, kept by its admins: addresses and domains (a domain covers its
subdomains) that never make records, and whose mail only its owners see."""

from __future__ import annotations

from uuid import UUID

from mailroom.errors import InvalidInputError
from mailroom.models import BlockKind, BlocklistEntry, Workspace
from mailroom.parsing.addresses.lists import normalize_address
from mailroom.parsing.addresses.owners import registrable_domain
from mailroom.workspace.actors import Actor, require_admin
from mailroom.workspace.store import conflict_if_taken, in_workspace


def blocklist_value(value: str) -> tuple[BlockKind, str]:
    """What `value` blocks: an address (it has an @) or a domain under a public suffix."""
    text = value.strip().lower()
    if "@" in text:
        address = normalize_address(text)
        if address is not None:
            return BlockKind.ADDRESS, address
    else:
        domain = text.lstrip("@.")
        if registrable_domain(domain):
            return BlockKind.DOMAIN, domain
    raise InvalidInputError(f"{value!r} is neither an email address nor a domain")


async def add_blocklist_entry(actor: Actor, workspace: Workspace, value: str) -> BlocklistEntry:
    require_admin(actor, workspace)
    kind, normalized = blocklist_value(value)
    with conflict_if_taken(f"{normalized} is already blocklisted", workspace=workspace.slug):
        return await BlocklistEntry.create(
            workspace=workspace, kind=kind, value=normalized, created_by=actor.member
        )


async def remove_blocklist_entry(
    actor: Actor, workspace: Workspace, entry_id: UUID
) -> BlocklistEntry:
    """The entry removed, as it was."""
    require_admin(actor, workspace)
    row = await in_workspace(BlocklistEntry, workspace, entry_id)
    await row.delete()
    return row


async def blocklist_of(workspace_id: UUID) -> list[BlocklistEntry]:
    """In the order the entries were made."""
    return await BlocklistEntry.filter(workspace_id=workspace_id).order_by("created_at")
