"""The workspace's blocklist, kept by its admins: addresses and domains (a domain covers its
subdomains) that never make records, and whose mail only its owners see.

What an admin may write, the same at the command line and in the API: an address
(`sales@spam.com`), a domain (`spam.com`; `.spam.com` too), `@spam.com`, or a web address, of
which the host counts (`https://www.spam.com/offer`). Anything else is refused with a sentence
that says what to write, rather than stored as a value that never matches.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit
from uuid import UUID

from mailroom.errors import InvalidInputError, NotFoundError
from mailroom.intake.intelligence import recount
from mailroom.models import BlockKind, BlocklistEntry, Workspace
from mailroom.parsing.addresses.domains import normalize_domain
from mailroom.parsing.addresses.lists import normalize_address
from mailroom.parsing.addresses.owners import registrable_domain
from mailroom.workspace.actors import Actor, require_admin
from mailroom.workspace.store import conflict_if_taken, in_workspace

_FORMS = (
    "give an address (sales@spam.com), a domain (spam.com, which covers its subdomains), "
    "@spam.com, or a web address (https://spam.com)"
)


def blocklist_value(value: str) -> tuple[BlockKind, str]:
    """What `value` blocks: an address, or a domain that an organisation can hold (under a
    public suffix, not one itself)."""
    text = value.strip()
    if not text:
        raise InvalidInputError(f"a blocklist entry cannot be empty: {_FORMS}")
    if "*" in text:
        domain = text.rpartition("*")[2].lstrip("@.") or "spam.com"
        raise InvalidInputError(
            f"{value!r} is a pattern, which the blocklist does not take: a domain covers every "
            f"address at it and its subdomains, so give {domain}"
        )
    if "://" in text:
        return BlockKind.DOMAIN, _domain(_url_host(value, text), value)
    if text.startswith("@"):
        return BlockKind.DOMAIN, _domain(text[1:], value)
    if "@" in text:
        address = normalize_address(text)
        if address is None or not _is_domain(address.rpartition("@")[2]):
            raise InvalidInputError(f"{value!r} is not a valid email address: {_FORMS}")
        return BlockKind.ADDRESS, address
    return BlockKind.DOMAIN, _domain(text.removeprefix("."), value)


def _url_host(value: str, text: str) -> str:
    try:
        host = urlsplit(text).hostname
    except ValueError:
        host = None
    if not host:
        raise InvalidInputError(f"{value!r} is a web address without a host name: {_FORMS}")
    return host


def _domain(text: str, value: str) -> str:
    domain = normalize_domain(text.removesuffix("."))
    if domain is None:
        raise InvalidInputError(f"{value!r} is neither an email address nor a domain: {_FORMS}")
    if _is_ip(domain):
        raise InvalidInputError(
            f"{value!r} is an IP address; the blocklist holds addresses and domains"
        )
    if registrable_domain(domain) is None:
        raise InvalidInputError(
            f"{value!r} is not a domain an organisation holds (it is a public suffix such as "
            "com or co.uk, or its ending is unknown): give the organisation's domain, or an "
            "address"
        )
    return domain


def _is_domain(text: str) -> bool:
    return normalize_domain(text) is not None and not _is_ip(text.strip("[]"))


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]").removeprefix("ipv6:"))
    except ValueError:
        return False
    return True


async def add_blocklist_entry(actor: Actor, workspace: Workspace, value: str) -> BlocklistEntry:
    require_admin(actor, workspace)
    kind, normalized = blocklist_value(value)
    with conflict_if_taken(f"{normalized} is already blocklisted", workspace=workspace.slug):
        entry = await BlocklistEntry.create(
            workspace=workspace, kind=kind, value=normalized, created_by=actor.member
        )
    await _recount(entry)
    return entry


async def _recount(entry: BlocklistEntry) -> None:
    """Blocklisted contacts never count in relationship figures, from the moment they are
    blocklisted until they are not."""
    if entry.kind is BlockKind.ADDRESS:
        await recount(entry.workspace_id, [entry.value])
    else:
        await recount(entry.workspace_id, domain=entry.value)


async def find_blocklist_entry(workspace: Workspace, value: str) -> BlocklistEntry:
    """The entry that `value` names, written in any of the forms `add_blocklist_entry` takes."""
    kind, normalized = blocklist_value(value)
    row = await BlocklistEntry.get_or_none(workspace_id=workspace.id, kind=kind, value=normalized)
    if row is None:
        raise NotFoundError(
            f"{normalized} is not on the blocklist of {workspace.slug!r}", workspace=workspace.slug
        )
    return row


async def remove_blocklist_entry(
    actor: Actor, workspace: Workspace, entry_id: UUID
) -> BlocklistEntry:
    """The entry removed, as it was."""
    require_admin(actor, workspace)
    row = await in_workspace(BlocklistEntry, workspace, entry_id)
    await row.delete()
    await _recount(row)
    return row


async def blocklist_of(workspace_id: UUID) -> list[BlocklistEntry]:
    """In the order the entries were made."""
    return await BlocklistEntry.filter(workspace_id=workspace_id).order_by("created_at")
