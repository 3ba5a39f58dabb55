"""The workspace's meetings as the API and the CLI read them, and who sees how much of them.

A meeting that is stored is not private (private ones never are), so the whole team sees its
title, times, place, organizer, attendees and their answers. Its description and joining link
follow the sharing of the calendars that hold it, like an email's body: the owner of a holding
mailbox sees them, anyone else only when a holding mailbox shares FULL by default, and nobody
but its owners when an attendee is on the workspace's blocklist.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from mailroom.models import (
    BlockKind,
    BlocklistEntry,
    CompanyDomain,
    Event,
    EventAttendee,
    EventCopy,
    PersonEmail,
    Sharing,
)
from mailroom.models.bulk import chunked
from mailroom.parsing.addresses.owners import within
from mailroom.workspace.visibility import Viewer

# What `mailroom events` lists at most; a window holding more says so.
MAX_LISTED = 100_000


def events_between(
    query: QuerySet[Event], start: datetime | None, end: datetime | None
) -> QuerySet[Event]:
    """The events of `query` that overlap [start, end)."""
    if end is not None:
        query = query.filter(starts_at__lt=end)
    if start is not None:
        query = query.filter(Q(ends_at__gt=start) | Q(starts_at__gte=start))
    return query


def person_events(workspace_id: UUID, person_id: UUID) -> QuerySet[Event]:
    on_it = EventAttendee.filter(workspace_id=workspace_id, person_id=person_id)
    return Event.filter(workspace_id=workspace_id, id__in=Subquery(on_it.values("event_id")))


async def company_events(workspace_id: UUID, company_id: UUID) -> QuerySet[Event]:
    """A company's meetings: anyone at its domains, person or not, and its people's addresses
    elsewhere, as its emails are found."""
    domains = [
        str(d)
        for d in await CompanyDomain.filter(
            workspace_id=workspace_id, company_id=company_id
        ).values_list("domain", flat=True)
    ]
    people = PersonEmail.filter(workspace_id=workspace_id, person__company_id=company_id)
    on_it = EventAttendee.filter(
        Q(domain__in=domains) | Q(address__in=Subquery(people.values("address"))),
        workspace_id=workspace_id,
    )
    return Event.filter(workspace_id=workspace_id, id__in=Subquery(on_it.values("event_id")))


async def details_shown(viewer: Viewer, event_ids: Sequence[UUID]) -> dict[UUID, bool]:
    """Whether the viewer may see each event's description and joining link."""
    ids = sorted(set(event_ids))
    holders: dict[UUID, list[tuple[UUID, Sharing]]] = {}
    for chunk in chunked(ids):
        rows = await EventCopy.filter(
            workspace_id=viewer.workspace_id, event_id__in=chunk
        ).values_list("event_id", "mailbox__owner_id", "mailbox__default_sharing")
        for event_id, owner, sharing in rows:
            holders.setdefault(event_id, []).append((owner, Sharing(sharing)))
    blocked = await _blocked(viewer.workspace_id, ids)
    shown: dict[UUID, bool] = {}
    for event_id in ids:
        held = holders.get(event_id, [])
        if any(owner == viewer.member_id for owner, _ in held):
            shown[event_id] = True
        else:
            full = any(sharing is Sharing.FULL for _, sharing in held)
            shown[event_id] = full and event_id not in blocked
    return shown


async def _blocked(workspace_id: UUID, ids: list[UUID]) -> set[UUID]:
    entries = await BlocklistEntry.filter(workspace_id=workspace_id).values_list("kind", "value")
    if not entries:
        return set()
    addresses = {v for k, v in entries if k == BlockKind.ADDRESS}
    domains = {v for k, v in entries if k == BlockKind.DOMAIN}
    blocked: set[UUID] = set()
    for chunk in chunked(ids):
        rows = await EventAttendee.filter(event_id__in=chunk).values_list("event_id", "address")
        for event_id, address in rows:
            if address in addresses or within(address.rpartition("@")[2], domains):
                blocked.add(event_id)
    return blocked


@dataclass(frozen=True, slots=True)
class Listed:
    """One occurrence as `mailroom events --json` prints it."""

    row: Event
    attendees: list[EventAttendee]
    calendars: list[str]

    def to_json(self) -> dict[str, Any]:
        event = self.row
        organizer = next((a for a in self.attendees if a.organizer), None)
        return {
            "uid": event.uid,
            "recurrence_id": _utc(event.recurrence_id) if event.recurrence_id else None,
            "start": local_time(event.starts_at, event.utc_offset).isoformat(),
            "end": local_time(event.ends_at, event.end_utc_offset).isoformat(),
            "all_day": event.all_day,
            "summary": event.summary,
            "status": event.status.value,
            "location": event.location,
            "organizer": (
                {"address": organizer.address, "name": organizer.name}
                if organizer
                else ({"address": event.organizer, "name": event.organizer_name})
                if event.organizer
                else None
            ),
            "attendees": [
                {"address": a.address, "name": a.name, "response": a.response.value}
                for a in self.attendees
                if not a.organizer or a.address != event.organizer
            ],
            "calendars": self.calendars,
        }


async def list_events(
    workspace_id: UUID, start: datetime | None, end: datetime | None
) -> list[Listed]:
    """The workspace's occurrences overlapping [start, end), in time order, with their
    attendees and the addresses of the mailboxes whose calendars hold them."""
    query = events_between(Event.filter(workspace_id=workspace_id), start, end)
    rows = await query.order_by("starts_at", "id").limit(MAX_LISTED)
    ids = [r.id for r in rows]
    attendees: dict[UUID, list[EventAttendee]] = {}
    calendars: dict[UUID, set[str]] = {}
    for chunk in chunked(ids):
        for attendee in await EventAttendee.filter(event_id__in=chunk).order_by("position"):
            attendees.setdefault(attendee.event_id, []).append(attendee)
        held = await EventCopy.filter(event_id__in=chunk).values_list(
            "event_id", "mailbox__address"
        )
        for event_id, address in held:
            calendars.setdefault(event_id, set()).add(str(address))
    return [Listed(r, attendees.get(r.id, []), sorted(calendars.get(r.id, set()))) for r in rows]


def local_time(moment: datetime, offset_minutes: int) -> datetime:
    """A stored UTC time in the offset it was written in."""
    return moment.astimezone(timezone(timedelta(minutes=offset_minutes)))


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()
