"""Relationship figures as a whole: made again for a workspace, recounted when who counts
changes (the blocklist, the members), and counted as meetings come to pass. Each runs in one
transaction under the workspace's write lock, as ingest does."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from uuid import UUID

from tortoise.transactions import in_transaction

from mailroom.intake.locks import workspace_write_lock
from mailroom.models import EventAttendee, Interaction, Participant, Workspace
from mailroom.models.bulk import uuids
from mailroom.parsing.addresses.owners import registrable_domain, within
from mailroom.resolver.figures import settle
from mailroom.resolver.history import items_of, rebuild, reinteract


async def rebuild_figures(workspace_id: UUID, now: datetime | None = None) -> int:
    """Every interaction, connection and figure of the workspace made again from its mail and
    meetings. Returns how many interactions there are."""
    async with in_transaction() as connection:
        await workspace_write_lock(connection, workspace_id)
        return await rebuild(workspace_id, now or datetime.now(UTC))


async def recount(
    workspace_id: UUID, addresses: Iterable[str] = (), domain: str | None = None
) -> None:
    """Make the interactions of these addresses (and of every address at `domain` and its
    subdomains) again, after whether they count changed: a blocklist entry or a member came
    or went."""
    wanted = set(addresses)
    async with in_transaction() as connection:
        await workspace_write_lock(connection, workspace_id)
        if domain is not None:
            wanted |= await _addresses_at(workspace_id, domain)
        if not wanted:
            return
        messages, events = await items_of(workspace_id, wanted)
        await reinteract(workspace_id, messages=messages, events=events, now=datetime.now(UTC))


async def _addresses_at(workspace_id: UUID, domain: str) -> set[str]:
    """The addresses stored at a domain or its subdomains (participants, attendees, and the
    interactions of both)."""
    registrable = registrable_domain(domain) or domain
    found: set[str] = set()
    for model in (Participant, EventAttendee, Interaction):
        rows = await model.filter(workspace_id=workspace_id, domain=registrable).values_list(
            "address", flat=True
        )
        found.update(str(a) for a in rows)
    return {a for a in found if within(a.rpartition("@")[2], frozenset({domain}))}


async def settle_workspaces(now: datetime | None = None) -> int:
    """Count, in every workspace, the interactions whose time came since they were stored:
    meetings that were ahead. Returns how many."""
    now = now or datetime.now(UTC)
    counted = 0
    due = await uuids(
        Interaction.filter(counted=False, occurred_at__lte=now).values_list(
            "workspace_id", flat=True
        )
    )
    for workspace_id in due:
        if not await Workspace.exists(id=workspace_id):
            continue
        async with in_transaction() as connection:
            await workspace_write_lock(connection, workspace_id)
            counted += await settle(workspace_id, now)
    return counted
