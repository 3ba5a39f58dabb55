"""The intake of calendar events: every calendar source (Google Calendar, Graph, CalDAV,
invitations in mail, .ics files) hands the items it sees to `apply_events`.

An item is the provider's key for one occurrence in one calendar of a mailbox, with the
occurrence (`CalendarEvent`) or None when the calendar no longer has it. Items are applied in
one transaction, under the workspace's write lock, together with the calendar's cursor when the
source moves it: a crash leaves the cursor where the stored events end.

- One `Event` per meeting occurrence in a workspace, keyed by its UID and original start
  (`event_key`): the same meeting in three members' calendars is one event with three copies.
  A newer version (a higher SEQUENCE, or the same one updated later) replaces what an event
  shows; an older one only adds its copy.
- A private event is never stored: its item is treated as gone, so an event that becomes
  private is removed from that calendar, and from the workspace when no calendar holds it.
- An event no calendar holds any more is deleted with its attendees and interactions.
- Attendees and organizers become people like a message's participants (`resolver.meetings`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from tortoise.expressions import Q
from tortoise.transactions import in_transaction
from uuid_utils.compat import uuid7

from mailroom.envelope import Attendee, AttendeeKind, CalendarEvent, EventStatus, Response
from mailroom.intake.durable import Target
from mailroom.intake.locks import workspace_write_lock
from mailroom.models import (
    CalendarCursor,
    Event,
    EventAttendee,
    EventCopy,
    Mailbox,
    Member,
)
from mailroom.models.bulk import chunked, insert_rows, uuids
from mailroom.resolver import WorkspaceRules
from mailroom.resolver.history import reinteract
from mailroom.resolver.interactions import forget, link_history, meeting_rows, record, relink
from mailroom.resolver.meetings import Meeting, resolve_meetings

# Text an event may carry into the store: a description is capped, a title or place cut, and
# attendees beyond MAX_ATTENDEES are left out (with a defect), whatever a calendar sends.
MAX_TEXT = 64 * 1024
MAX_SHORT = 2000
MAX_ATTENDEES = 1000
MAX_UID = 1000
MAX_ADDRESS = 320
# The calendar of a mailbox that holds the meetings its mail brought (invitations).
INVITATIONS = "invitations"


@dataclass(frozen=True, slots=True)
class EventItem:
    """One item of a calendar: the provider's key, and the occurrence or None when gone."""

    item: str
    event: CalendarEvent | None


@dataclass(slots=True)
class EventReport:
    new: int = 0  # events the workspace did not have
    updated: int = 0  # events whose content changed
    unchanged: int = 0
    removed: int = 0  # items gone from the calendar (private ones included)
    deleted: int = 0  # events no calendar holds any more, deleted
    private: int = 0  # items skipped (or removed) because they are private
    people_created: int = 0
    event_ids: list[UUID] = field(default_factory=list)

    def merge(self, other: EventReport) -> None:
        self.new += other.new
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.removed += other.removed
        self.deleted += other.deleted
        self.private += other.private
        self.people_created += other.people_created
        self.event_ids += other.event_ids


def event_key(uid: str, recurrence_id: datetime | None) -> str:
    """What makes two sightings one meeting occurrence: the UID and the original start in
    UTC, digested so that the index stays narrow whatever a calendar writes."""
    occurrence = recurrence_id.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ") if recurrence_id else ""
    return hashlib.sha256(f"{uid}\x1f{occurrence}".encode("utf-8", "replace")).hexdigest()


async def calendar_cursor(mailbox_id: UUID, calendar: str) -> CalendarCursor:
    """The calendar's cursor, made (empty) the first time."""
    cursor, _ = await CalendarCursor.get_or_create(mailbox_id=mailbox_id, calendar=calendar)
    return cursor


@dataclass(frozen=True, slots=True)
class CalendarRules:
    """The bounds of calendar intake (from the settings of the same names): the window
    recurring events expand in, days back and ahead of now, the most occurrences one calendar
    object expands to, and the most people a meeting may have and still make records."""

    days_back: int = 730
    days_ahead: int = 365
    max_occurrences: int = 1000
    max_attendees: int = 50

    def window(self, now: datetime | None = None) -> tuple[datetime, datetime]:
        now = now or datetime.now(UTC)
        return now - timedelta(days=self.days_back), now + timedelta(days=self.days_ahead)


async def apply_events(
    mailbox: Target,
    calendar: str,
    items: Sequence[EventItem],
    *,
    generation: int | None = None,
    state: dict[str, Any] | None = None,
    max_attendees: int = 50,
) -> EventReport:
    """Store what one calendar of `mailbox` holds now, in one transaction.

    Items are marked with `generation` (the cursor's own when None); with `state`, the
    calendar's cursor moves to it (and to `generation`) in the same transaction."""
    async with in_transaction() as connection:
        await workspace_write_lock(connection, mailbox.workspace_id)
        cursor = await calendar_cursor(mailbox.id, calendar)
        generation = cursor.generation if generation is None else generation
        report = await store_events(
            mailbox, calendar, items, generation=generation, max_attendees=max_attendees
        )
        if state is not None:
            await CalendarCursor.filter(id=cursor.id).update(
                state=state, generation=generation, synced_at=datetime.now(UTC)
            )
    return report


async def store_events(
    mailbox: Target,
    calendar: str,
    items: Sequence[EventItem],
    *,
    generation: int = 0,
    max_attendees: int = 50,
    sender: str | None = None,
    known: Known | None = None,
) -> EventReport:
    """`apply_events` inside the caller's transaction, which holds the workspace's write lock.

    `sender` marks items that came in mail from that address (an invitation): a sender may
    add meetings, but change one only when they are its organizer and no synced calendar
    holds it (a calendar the member's provider keeps is the better authority). Whatever a
    sender writes identifies a meeting; it never rewrites another's. `known` is what the
    caller's transaction read already (a batch of mail, each message with its invitation)."""
    report = EventReport()
    writer = _Writer(mailbox, calendar, generation, max_attendees, report, sender, known)
    await writer.apply(items)
    return report


async def sweep_events(
    mailbox: Target, calendar: str, generation: int, *, since: datetime | None = None
) -> EventReport:
    """After a full resync of generation `generation`: remove the calendar's items it did not
    see again (deleted while the calendar could not tell, or before a 410). With `since` (the
    start of the window the resync listed), meetings that ended before it stay: the resync
    could not see them, and they are history."""
    report = EventReport()
    async with in_transaction() as connection:
        await workspace_write_lock(connection, mailbox.workspace_id)
        stale = EventCopy.filter(
            mailbox_id=mailbox.id, calendar=calendar, generation__lt=generation
        )
        if since is not None:
            stale = stale.filter(event__ends_at__gt=since)
        rows = await stale.values_list("id", "event_id")
        for chunk in chunked([copy_id for copy_id, _ in rows]):
            await EventCopy.filter(id__in=chunk).delete()
        report.removed = len(rows)
        report.deleted = await _drop_orphans({event_id for _, event_id in rows})
    return report


async def remove_calendar_events(mailbox_id: UUID, calendar: str | None = None) -> int:
    """Forget a mailbox's calendar items (all of them, or one calendar's), and the events no
    other calendar holds. Call inside the workspace's write lock; returns the events
    deleted."""
    query = EventCopy.filter(mailbox_id=mailbox_id)
    if calendar is not None:
        query = query.filter(calendar=calendar)
    affected = await uuids(query.values_list("event_id", flat=True))
    await query.delete()
    return await _drop_orphans(affected)


async def _drop_orphans(event_ids: set[UUID]) -> int:
    """After these events lost copies: delete those that no copy holds, and make the others'
    interactions again from the copies left. Returns how many were deleted."""
    held: set[UUID] = set()
    for chunk in chunked(sorted(event_ids)):
        held |= await uuids(EventCopy.filter(event_id__in=chunk).values_list("event_id", flat=True))
    orphans = sorted(event_ids - held)
    for chunk in chunked(orphans):
        workspaces = await uuids(Event.filter(id__in=chunk).values_list("workspace_id", flat=True))
        for workspace_id in workspaces:
            await forget(workspace_id, Q(event_id__in=chunk))
        await Event.filter(id__in=chunk).delete()  # their attendees go with them
    for chunk in chunked(sorted(held)):
        rows = await Event.filter(id__in=chunk).values_list("workspace_id", "id")
        by_workspace: dict[UUID, list[UUID]] = {}
        for workspace_id, event_id in rows:
            by_workspace.setdefault(workspace_id, []).append(event_id)
        for workspace_id, ids in by_workspace.items():
            await reinteract(workspace_id, events=ids, now=datetime.now(UTC))
    return len(orphans)


@dataclass(slots=True)
class Draft:
    """An event about to be inserted: its values, without a model's cost (a first sync makes
    thousands a page)."""

    id: UUID
    workspace_id: UUID
    key: str
    uid: str = ""
    recurrence_id: datetime | None = None
    starts_at: datetime = datetime.min.replace(tzinfo=UTC)
    ends_at: datetime = datetime.min.replace(tzinfo=UTC)
    utc_offset: int = 0
    end_utc_offset: int = 0
    all_day: bool = False
    status: EventStatus = EventStatus.CONFIRMED
    summary: str | None = None
    location: str | None = None
    description: str | None = None
    conference: str | None = None
    organizer: str | None = None
    organizer_name: str | None = None
    attendee_count: int = 0
    sequence: int = 0
    updated: datetime | None = None
    defects: list[str] = field(default_factory=list)

    def row(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


class Known:
    """What a transaction reads once for all the items it stores: the workspace's rules and
    each mailbox owner's addresses. A batch of mail shares one across its invitations (read
    for every message, they were most of the statements an invitation cost); the rules come
    with it, the batch having read them already."""

    def __init__(self, workspace_id: UUID, rules: WorkspaceRules | None = None) -> None:
        self.workspace_id = workspace_id
        self._rules = rules
        self._owners: dict[UUID, frozenset[str]] = {}

    async def rules(self) -> WorkspaceRules:
        if self._rules is None:
            self._rules = await WorkspaceRules.load(self.workspace_id)
        return self._rules

    async def owner(self, mailbox_id: UUID) -> frozenset[str]:
        if mailbox_id not in self._owners:
            self._owners[mailbox_id] = await _owner_addresses(mailbox_id)
        return self._owners[mailbox_id]


class _Writer:
    """One transaction's worth of items of one calendar."""

    def __init__(
        self,
        mailbox: Target,
        calendar: str,
        generation: int,
        max_attendees: int,
        report: EventReport,
        sender: str | None = None,
        known: Known | None = None,
    ) -> None:
        self.sender = sender
        self.known = known or Known(mailbox.workspace_id)
        self.mailbox = mailbox
        self.workspace_id = mailbox.workspace_id
        self.calendar = calendar
        self.generation = generation
        self.max_attendees = max_attendees
        self.report = report
        self.rows: dict[UUID, Event | Draft] = {}  # every event this transaction found or made
        self.created: set[UUID] = set()  # the ones it made

    async def apply(self, items: Sequence[EventItem]) -> None:
        latest: dict[str, CalendarEvent | None] = {}
        for item in items:  # the last word on an item wins
            latest[_text(item.item, 600) or ""] = item.event
        gone = [k for k, e in latest.items() if e is None or e.private]
        self.report.private = sum(1 for e in latest.values() if e is not None and e.private)
        kept = {k: _bounded(e) for k, e in latest.items() if e is not None and not e.private}
        affected = await self._remove(gone)
        changed = await self._upsert(kept)
        self.report.deleted += await _drop_orphans(affected - set(changed))
        if changed:
            await self._records(changed)

    async def _remove(self, items: list[str]) -> set[UUID]:
        affected: set[UUID] = set()
        for chunk in chunked(items):
            found = EventCopy.filter(
                mailbox_id=self.mailbox.id, calendar=self.calendar, item__in=chunk
            )
            ids = await uuids(found.values_list("event_id", flat=True))
            if ids:
                self.report.removed += await found.count()
                await found.delete()
            affected |= ids
        return affected

    async def _upsert(self, kept: dict[str, CalendarEvent]) -> dict[UUID, CalendarEvent | None]:
        """Find or create each item's event and copy. Returns the events whose content or
        holders changed, with the content they now show (None: the stored attendees stand)."""
        keys = {item: event_key(e.uid, e.recurrence_id) for item, e in kept.items()}
        stored: dict[str, Event | Draft] = {}
        for chunk in chunked(sorted(set(keys.values()))):
            for found in await Event.filter(workspace_id=self.workspace_id, key__in=chunk):
                stored[found.key] = found
        copies: dict[str, tuple[UUID, str | None, int]] = {}
        for chunk in chunked(sorted(kept)):
            rows = await EventCopy.filter(
                mailbox_id=self.mailbox.id, calendar=self.calendar, item__in=chunk
            ).values_list("item", "event_id", "response", "generation")
            for item, event_id, response, generation in rows:
                copies[item] = (event_id, response, generation)
        owner = await self.known.owner(self.mailbox.id)
        changed: dict[UUID, CalendarEvent | None] = {}
        created: dict[UUID, Draft] = {}
        new_rows: list[dict[str, Any]] = []
        moved: set[UUID] = set()
        for item, event in kept.items():
            key = keys[item]
            row = stored.get(key)
            if row is None:
                row = Draft(uuid7(), self.workspace_id, key)
                _fill(row, event)
                created[row.id] = row  # inserted together, after the loop
                stored[key] = row
                self.report.new += 1
                changed[row.id] = event
            elif isinstance(row, Draft):  # twice in one page: the newer one is inserted
                if _newer(event, row) and _fill(row, event):
                    changed[row.id] = event
                self.report.unchanged += 1
            elif _newer(event, row) and await self._may_change(row, event) and _fill(row, event):
                await row.save()
                self.report.updated += 1
                changed[row.id] = event
            else:
                self.report.unchanged += 1
            self.report.event_ids.append(row.id)
            self.rows[row.id] = row
            response = _own_response(event, owner)
            before = copies.get(item)
            if before is None:
                new_rows.append(
                    {
                        "id": uuid7(),
                        "workspace_id": self.workspace_id,
                        "event_id": row.id,
                        "mailbox_id": self.mailbox.id,
                        "calendar": self.calendar,
                        "item": item,
                        "response": response,
                        "generation": self.generation,
                    }
                )
                changed.setdefault(row.id, None)
            elif before != (row.id, response, self.generation):
                await EventCopy.filter(
                    mailbox_id=self.mailbox.id, calendar=self.calendar, item=item
                ).update(event_id=row.id, response=response, generation=self.generation)
                if before[0] != row.id:
                    moved.add(before[0])
                if before[:2] != (row.id, response):
                    changed.setdefault(row.id, None)
        await insert_rows(Event, [draft.row() for draft in created.values()])
        self.created |= set(created)
        await insert_rows(EventCopy, new_rows)
        # An item that now holds another occurrence may have left its old one without holders.
        self.report.deleted += await _drop_orphans(moved - set(changed))
        return changed

    async def _may_change(self, row: Event, event: CalendarEvent) -> bool:
        if self.sender is None:
            return True
        organizer = event.organizer.address if event.organizer else None
        if organizer != self.sender or row.organizer != organizer:
            return False
        synced = EventCopy.filter(event_id=row.id).exclude(calendar=INVITATIONS)
        return not await synced.exists()

    async def _records(self, changed: dict[UUID, CalendarEvent | None]) -> None:
        """Attendees, people and interactions of the events that changed."""
        rules = await self.known.rules()
        events = {i: self.rows[i] for i in changed}
        holders = await _holders(list(events))
        kept = await _stored_people([i for i, e in changed.items() if e is None])
        meetings = []
        for event_id, row in events.items():
            content = changed[event_id]
            on_it = tuple(content.everyone()) if content else kept.get(event_id, ())
            meetings.append(
                Meeting(row, on_it, row.organizer, holders.get(event_id, []), self.max_attendees)
            )
        result = await resolve_meetings(rules, meetings)
        self.report.people_created += result.people_created
        # Events made in this transaction have no attendees or interactions to replace.
        older = [i for i in events if i not in self.created]
        for chunk in chunked(older):
            await EventAttendee.filter(event_id__in=chunk).delete()
            await forget(self.workspace_id, Q(event_id__in=chunk))
        rows = [r for m in meetings for r in m.attendee_rows(self.workspace_id, result.person_of)]
        await insert_rows(EventAttendee, rows)
        await link_history(self.workspace_id, result.new_people)
        await relink(self.workspace_id, domains=result.new_domains, people=result.linked)
        members = await _members({mailbox for h in holders.values() for mailbox, _ in h})
        now = datetime.now(UTC)
        interactions = [
            row
            for m in meetings
            for row in meeting_rows(
                m.gathering(result.person_of),
                [(members[mailbox], response) for mailbox, response in m.holders],
                rules,
                now,
            )
        ]
        await record(self.workspace_id, interactions)


async def _members(mailbox_ids: set[UUID]) -> dict[UUID, UUID]:
    """The owner of each mailbox."""
    found: dict[UUID, UUID] = {}
    for chunk in chunked(sorted(mailbox_ids)):
        found.update(await Mailbox.filter(id__in=chunk).values_list("id", "owner_id"))
    return found


async def _stored_people(event_ids: list[UUID]) -> dict[UUID, tuple[Attendee, ...]]:
    """Who is stored on these events, organizer first, in their order."""
    found: dict[UUID, list[Attendee]] = {}
    for chunk in chunked(event_ids):
        rows = await EventAttendee.filter(event_id__in=chunk).order_by("event_id", "position")
        for row in rows:
            found.setdefault(row.event_id, []).append(
                Attendee(row.address, row.name, row.response, row.kind, row.optional)
            )
    return {k: tuple(v) for k, v in found.items()}


async def _holders(event_ids: list[UUID]) -> dict[UUID, list[tuple[UUID, Response | None]]]:
    """Which mailboxes hold each event, with their owner's answer."""
    found: dict[UUID, list[tuple[UUID, Response | None]]] = {}
    for chunk in chunked(event_ids):
        rows = await EventCopy.filter(event_id__in=chunk).values_list(
            "event_id", "mailbox_id", "response"
        )
        for event_id, mailbox_id, response in rows:
            found.setdefault(event_id, []).append(
                (mailbox_id, Response(response) if response else None)
            )
    return found


async def _owner_addresses(mailbox_id: UUID) -> frozenset[str]:
    mailbox = await Mailbox.get(id=mailbox_id)
    owner = await Member.get(id=mailbox.owner_id)
    return frozenset([*owner.addresses, mailbox.address.lower()])


def _own_response(event: CalendarEvent, owner: frozenset[str]) -> Response | None:
    """The calendar owner's answer, when they are on the event; the organizer accepted."""
    if event.organizer is not None and event.organizer.address in owner:
        return Response.ACCEPTED
    for attendee in event.attendees:
        if attendee.address in owner:
            return attendee.response
    return None


def _newer(event: CalendarEvent, row: Event | Draft) -> bool:
    """Whether `event` is at least as new as what `row` shows (iTIP's SEQUENCE, then the
    last modification): an older copy from a calendar that has not caught up changes
    nothing."""
    if event.sequence != row.sequence:
        return event.sequence > row.sequence
    if event.updated is None or row.updated is None:
        return True
    return event.updated >= row.updated


def _fill(row: Event | Draft, event: CalendarEvent) -> bool:
    """Copy what `event` shows onto `row`; returns whether anything changed."""
    organizer = event.organizer
    values: dict[str, Any] = {
        "uid": event.uid,
        "recurrence_id": event.recurrence_id.astimezone(UTC) if event.recurrence_id else None,
        "starts_at": event.start.astimezone(UTC),
        "ends_at": max(event.end, event.start).astimezone(UTC),
        "utc_offset": _offset(event.start),
        "end_utc_offset": _offset(event.end),
        "all_day": event.all_day,
        "status": event.status,
        "summary": event.summary,
        "location": event.location,
        "description": event.description,
        "conference": event.conference,
        "organizer": organizer.address if organizer else None,
        "organizer_name": organizer.name if organizer else None,
        "attendee_count": sum(1 for a in event.attendees if a.kind is AttendeeKind.PERSON),
        "sequence": event.sequence,
        "updated": event.updated.astimezone(UTC) if event.updated else None,
        "defects": list(event.defects),
    }
    changed = False
    for name, value in values.items():
        if getattr(row, name, None) != value:
            setattr(row, name, value)
            changed = True
    return changed


def _offset(moment: datetime) -> int:
    delta = moment.utcoffset()
    return int(delta.total_seconds() // 60) if delta is not None else 0


def _bounded(event: CalendarEvent) -> CalendarEvent:
    """The event within the store's bounds, what was cut said in its defects: whatever a
    calendar sends, one page must not fail to store (PostgreSQL refuses NUL in text, and an
    address is at most 320 characters)."""
    defects = list(event.defects)
    attendees = tuple(_attendee(a) for a in event.attendees if len(a.address) <= MAX_ADDRESS)
    if len(attendees) < len(event.attendees):
        defects.append(f"{len(event.attendees) - len(attendees)} attendees with no usable address")
    if len(attendees) > MAX_ATTENDEES:
        defects.append(f"{len(attendees)} attendees, the first {MAX_ATTENDEES} kept")
        attendees = attendees[:MAX_ATTENDEES]
    description = _text(event.description, MAX_TEXT + 1)
    if description is not None and len(description) > MAX_TEXT:
        defects.append(f"description cut to {MAX_TEXT} characters")
        description = description[:MAX_TEXT]
    organizer = event.organizer
    if organizer is not None:
        organizer = _attendee(organizer) if len(organizer.address) <= MAX_ADDRESS else None
    return replace(
        event,
        uid=_text(event.uid, MAX_UID) or "",
        summary=_text(event.summary, MAX_SHORT),
        location=_text(event.location, MAX_SHORT),
        conference=_text(event.conference, MAX_SHORT),
        description=description,
        organizer=organizer,
        attendees=attendees,
        defects=tuple(_text(d, MAX_SHORT) or "" for d in defects[:50]),
    )


def _attendee(attendee: Attendee) -> Attendee:
    name = attendee.name
    if "\x00" not in attendee.address and (name is None or _plain(name, MAX_SHORT)):
        return attendee  # nearly always: no copy made
    return replace(
        attendee,
        address=attendee.address.replace("\x00", ""),
        name=_text(attendee.name, MAX_SHORT),
    )


def _plain(text: str, limit: int) -> bool:
    return len(text) <= limit and "\x00" not in text


def _text(text: str | None, limit: int) -> str | None:
    return text.replace("\x00", "")[:limit] if text is not None else None


__all__ = [
    "EventItem",
    "EventReport",
    "EventStatus",
    "apply_events",
    "calendar_cursor",
    "event_key",
    "remove_calendar_events",
    "sweep_events",
]
