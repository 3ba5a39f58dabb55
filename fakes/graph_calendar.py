"""The local Graph's calendar: the signed-in user's default calendar beside `FakeGraph`'s mail,
stateful and thread-safe, served by `GraphServer` (graph_http sends it every `calendarView`
request). It shares the mailbox's access tokens, queued faults and Outlook's MailboxConcurrency
limit (4 requests at once) with the mail.

It follows Microsoft's documentation (learn.microsoft.com/graph/api/event-delta,
/graph/delta-query-events, /graph/api/resources/event):

- `GET /me/calendarView/delta?startDateTime=&endDateTime=` (and `/users/{id or address}/...`):
  the view's single events, and the occurrences and exceptions of series expanded in it (an
  event is in the view when it overlaps the range; times without an offset are UTC). A round's
  first answer, as Outlook's, carries no events, only a next link; then pages of `Prefer:
  odata.maxpagesize` (10 by default) linked by `@odata.nextLink` ($skiptoken) up to an
  `@odata.deltaLink` ($deltatoken). Tokens are opaque and kept server side with the window. A
  later round answers what was added or changed in the view since the last, and `@removed`
  entries (`{"reason": "deleted"}`, the id only) for what left it, and for single events
  outside the range that changed, as the documentation warns.
- Every property of a calendarView's event, no `$select` (refused with `$filter`, `$orderby`,
  `$expand`, `$search` and the other query options); `Prefer: outlook.timezone` (IANA or
  Windows names; UTC without it) and `outlook.body-content-type="text"`; `iCalUId` as Exchange
  writes it: the hexadecimal PidLidGlobalObjectId, with the instance's date for an occurrence
  or exception (so it differs per occurrence), the UID of a meeting from elsewhere wrapped as
  `vCal-Uid`; `originalStart` (UTC) and `seriesMasterId` on occurrences and exceptions.
- Errors in Graph's envelope: 400 ErrorInvalidParameter without the time window, 410 with
  `FakeGraph.resync_code` (SyncStateNotFound) for a token it no longer knows, 401, 429.

Controls, from any thread: `add()` a single event or a series (`Recurrence`: daily or weekly),
`change()` (a single, a series, or one occurrence, which becomes an exception), `cancel()`
(isCancelled, as the organizer's cancellation leaves a meeting in an attendee's calendar),
`delete()` (a single, a series, or one occurrence), `instances()` (a series' occurrence ids),
`copy_to()` (the same meeting in another mailbox's calendar), `ical_uid()`,
`expire_delta_tokens()`, `denied` (403 ErrorAccessDenied, as for an account that did not grant
Calendars.Read). Observations: `rounds` (delta rounds begun), and the mail fake's
`calls["calendarView"]`, `requests`, `peak_in_flight`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
import struct
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from html import escape
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from fakes.graph import (
    DEFAULT_PAGE,
    DELTA,
    MAX_PAGE,
    RESYNC_MESSAGES,
    TOKENS_KEPT,
    Answer,
    Call,
    FakeGraph,
    graph_error,
)

# PidLidGlobalObjectId ([MS-OXOCAL] 2.2.1.27): the class id, then the instance date (year,
# month, day; zero but for an occurrence), the creation time, padding, the size of the data.
CLASS_ID = bytes.fromhex("040000008200E00074C5B7101A82E008")
VCAL_UID = b"vCal-Uid\x01\x00\x00\x00"
EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)
MAX_SERIES_DAYS = 366 * 40  # how far a series is walked, whatever its range says
TOUCHED_KEPT = 100_000
NEVER = "0001-01-01T00:00:00Z"  # Graph's time of a response never given
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
OPTIONS = {"$skiptoken", "$deltatoken"}  # every other query option is refused with delta
WINDOWS_NAMES = {iana: windows for windows, iana in reversed(WINDOWS_TO_OLSON.items())}
MISSING_WINDOW = (
    "This request requires a time window specified by the query string parameters "
    "StartDateTime and EndDateTime."
)


@dataclass(frozen=True)
class Recurrence:
    """A patternedRecurrence: `daily` or `weekly` (on `days`, "monday"...), every `interval`,
    ending after `count` occurrences, on `until` (inclusive), or never."""

    pattern: str = "weekly"
    interval: int = 1
    days: tuple[str, ...] = ()
    count: int | None = None
    until: date | None = None


@dataclass(frozen=True)
class Guest:
    """An attendee (or the organizer): `type` required, optional or resource; `response` as
    Graph's responseType (none, accepted, declined, tentativelyAccepted, notResponded)."""

    address: str
    name: str = ""
    type: str = "required"
    response: str = "none"


@dataclass(frozen=True)
class Look:
    """What an event (or one exception of a series) shows."""

    subject: str
    body: str
    location: str | None
    room: str | None  # the booked room's address: the location is then a conferenceRoom
    organizer: Guest
    attendees: tuple[Guest, ...]
    sensitivity: str  # normal, personal, private, confidential
    cancelled: bool
    join_url: str | None
    response: str  # responseStatus: the calendar owner's own answer


@dataclass
class Altered:
    """An exception: one occurrence of a series changed."""

    look: Look
    start: datetime  # UTC; naive midnight for all-day (floating)
    end: datetime
    modified: datetime
    change_key: str


@dataclass
class Stored:
    """A single event or a series master."""

    id: str
    global_id: bytes  # its instance date zero
    look: Look
    start: datetime  # wall time in `zone` (naive); midnight for all-day
    end: datetime
    zone: str
    all_day: bool
    recurrence: Recurrence | None
    created: datetime
    modified: datetime
    change_key: str
    exceptions: dict[datetime, Altered] = field(default_factory=dict)  # by original wall start
    deleted: set[datetime] = field(default_factory=set)  # occurrences deleted, same keys


@dataclass(frozen=True)
class Instance:
    """An event of the view as it is at one moment: a single one, an occurrence or an
    exception."""

    id: str
    kind: str  # singleInstance, occurrence, exception
    master: Stored
    original: datetime | None  # UTC
    start: datetime  # UTC; naive midnight for all-day
    end: datetime
    look: Look
    modified: datetime
    change_key: str


@dataclass(frozen=True)
class Base:
    """A delta token: the view the next round is compared with."""

    start: datetime
    end: datetime
    seen: dict[str, str]  # id -> digest of what it showed
    seq: int  # the calendar's last change the view includes


@dataclass(frozen=True)
class Pages:
    """A skip token: a round under way."""

    base: Base  # what the round's delta link will hold
    entries: tuple[Instance | str, ...]  # an id alone: removed
    offset: int


@dataclass(frozen=True)
class Prefs:
    zone: ZoneInfo
    zone_name: str
    text: bool
    applied: tuple[str, ...]


class GraphCalendar:
    def __init__(self, graph: FakeGraph) -> None:
        self.graph = graph
        self.lock = graph.lock
        self.seq = 0
        self.rounds = 0
        self.denied = False
        self._events: dict[str, Stored] = {}
        self._occurrences: dict[str, tuple[str, datetime]] = {}  # id -> (master, wall start)
        self._touched: list[tuple[int, str, datetime, datetime]] = []  # singles changed
        self._tokens: OrderedDict[str, Base | Pages] = OrderedDict()

    # The calendar -------------------------------------------------------------------------

    def add(
        self,
        subject: str,
        start: datetime | date,
        end: datetime | date,
        *,
        zone: str = "UTC",
        recurrence: Recurrence | None = None,
        attendees: tuple[Guest, ...] = (),
        organizer: Guest | None = None,
        body: str = "",
        location: str | None = None,
        room: str | None = None,
        sensitivity: str = "normal",
        join_url: str | None = None,
        response: str | None = None,
        uid: str | None = None,
    ) -> str:
        """A single event or a series (its master's id); times aware (kept as wall times in
        `zone`), or dates for an all-day event (`end` the day after the last). `uid`: the
        iCalendar UID of a meeting made elsewhere (Exchange wraps it as vCal-Uid)."""
        owner = Guest(self.graph.address, self.graph.display_name)
        organizer = organizer or owner
        if response is None:
            response = "organizer" if organizer.address == owner.address else "notResponded"
        look = Look(
            subject, body, location, room, organizer, attendees, sensitivity, False, join_url,
            response,
        )  # fmt: skip
        all_day = not isinstance(start, datetime)
        wall_start, wall_end = _wall(start, zone), _wall(end, zone)
        if recurrence is not None and recurrence.pattern not in ("daily", "weekly"):
            raise ValueError("the fake expands daily and weekly series only")
        now = datetime.now(UTC)
        with self.lock:
            self.seq += 1
            stored = Stored(
                id=_event_id(secrets.token_bytes(16)),
                global_id=_global_id(now, uid),
                look=look,
                start=wall_start,
                end=wall_end,
                zone=zone,
                all_day=all_day,
                recurrence=recurrence,
                created=now,
                modified=now,
                change_key=_change_key(),
            )
            self._events[stored.id] = stored
            self._touch(stored)
            return stored.id

    def change(self, event_id: str, **changes: Any) -> None:
        """Change what an event shows (Look's fields; `start` and `end` as for `add`). An
        occurrence's id changes that occurrence alone, which becomes an exception; a series'
        new times drop its exceptions, as Outlook does."""
        with self.lock:
            self.seq += 1
            times = {k: changes.pop(k) for k in ("start", "end") if k in changes}
            if event_id in self._occurrences:
                self._alter(event_id, changes, times)
                return
            stored = self._events[event_id]
            stored.look = replace(stored.look, **changes)
            if times:
                self._touch(stored)  # where it was
                stored.start = _wall(times.get("start", stored.start), stored.zone)
                stored.end = _wall(times.get("end", stored.end), stored.zone)
                stored.exceptions.clear()
            stored.modified, stored.change_key = datetime.now(UTC), _change_key()
            self._touch(stored)

    def cancel(self, event_id: str) -> None:
        """The organizer cancelled the meeting (or one occurrence): it stays in this calendar,
        isCancelled, until the owner removes it."""
        self.change(event_id, cancelled=True)

    def delete(self, event_id: str) -> None:
        """Delete a single event, a whole series, or one occurrence of a series."""
        with self.lock:
            self.seq += 1
            if event_id in self._occurrences:
                master_id, wall = self._occurrences[event_id]
                stored = self._events[master_id]
                stored.exceptions.pop(wall, None)
                stored.deleted.add(wall)
                return
            stored = self._events.pop(event_id)
            self._touch(stored)

    def instances(
        self, series_id: str, start: datetime, end: datetime
    ) -> list[tuple[str, datetime]]:
        """The ids and original starts (UTC) of a series' occurrences and exceptions that
        overlap [start, end)."""
        with self.lock:
            found = self._expand(self._events[series_id], start, end)
            return [(i.id, i.original) for i in found if i.original is not None]

    def ical_uid(self, event_id: str) -> str:
        """The iCalUId Graph gives the event (an occurrence's carries its date)."""
        with self.lock:
            if event_id in self._occurrences:
                master_id, wall = self._occurrences[event_id]
                return _instance_uid(self._events[master_id].global_id, wall.date()).hex().upper()
            return self._events[event_id].global_id.hex().upper()

    def copy_to(self, other: GraphCalendar, event_id: str, response: str = "accepted") -> str:
        """The same meeting (its global object id) in another mailbox's calendar, with that
        owner's `response`; the id it has there."""
        with self.lock:
            stored = self._events[event_id]
            look = replace(stored.look, response=response)
            copied = replace(stored, look=look, exceptions=dict(stored.exceptions))
            copied.deleted = set(stored.deleted)
        with other.lock:
            other.seq += 1
            copied.id = _event_id(secrets.token_bytes(16))
            other._events[copied.id] = copied
            other._touch(copied)
            return copied.id

    def expire_delta_tokens(self) -> None:
        """Outlook forgets every delta and skip token of the calendar: following one answers
        410."""
        with self.lock:
            self._tokens.clear()

    def _alter(self, occurrence_id: str, changes: dict[str, Any], times: dict[str, Any]) -> None:
        master_id, wall = self._occurrences[occurrence_id]
        stored = self._events[master_id]
        before = stored.exceptions.get(wall)
        if before is None:
            start, end = self._occurrence_times(stored, wall)
            before = Altered(stored.look, start, end, stored.modified, stored.change_key)
        start = _utc(times["start"]) if "start" in times else before.start
        end = _utc(times["end"]) if "end" in times else before.end
        stored.exceptions[wall] = Altered(
            replace(before.look, **changes), start, end, datetime.now(UTC), _change_key()
        )

    def _touch(self, stored: Stored) -> None:
        """Note where a single event is, for the removals a round reports outside its range."""
        if stored.recurrence is None:
            start, end = self._occurrence_times(stored, stored.start)
            self._touched.append((self.seq, stored.id, start, end))
            del self._touched[:-TOUCHED_KEPT]

    # Expanding ----------------------------------------------------------------------------

    def _view(self, start: datetime, end: datetime) -> dict[str, Instance]:
        found: list[Instance] = []
        for stored in self._events.values():
            found += self._expand(stored, start, end)
        found.sort(key=lambda i: (_instant(i.start), i.id))
        return {i.id: i for i in found}

    def _expand(self, stored: Stored, start: datetime, end: datetime) -> list[Instance]:
        if stored.recurrence is None:
            first, last = self._occurrence_times(stored, stored.start)
            single = Instance(
                stored.id, "singleInstance", stored, None, first, last, stored.look,
                stored.modified, stored.change_key,
            )  # fmt: skip
            return [single] if _overlaps(single, start, end) else []
        found = []
        for wall in self._walls(stored, end):
            if wall in stored.deleted:
                continue
            occurrence_id = _event_id(f"{stored.id}/{wall.isoformat()}".encode())
            self._occurrences[occurrence_id] = (stored.id, wall)
            original = _utc(wall, stored.zone)  # an all-day one's: its zone's midnight
            altered = stored.exceptions.get(wall)
            if altered is None:
                first, last = self._occurrence_times(stored, wall)
                instance = Instance(
                    occurrence_id, "occurrence", stored, original, first, last, stored.look,
                    stored.modified, stored.change_key,
                )  # fmt: skip
            else:
                instance = Instance(
                    occurrence_id, "exception", stored, original, altered.start, altered.end,
                    altered.look, altered.modified, altered.change_key,
                )  # fmt: skip
            if _overlaps(instance, start, end):
                found.append(instance)
        return found

    def _occurrence_times(self, stored: Stored, wall: datetime) -> tuple[datetime, datetime]:
        """An occurrence's times from its wall start: the series' wall-clock length kept, so
        that 09:00-10:00 Berlin stays so across a DST change."""
        wall_end = wall + (stored.end - stored.start)
        if stored.all_day:
            return wall, wall_end
        return _utc(wall, stored.zone), _utc(wall_end, stored.zone)

    def _walls(self, stored: Stored, until: datetime) -> Iterator[datetime]:
        """The series' occurrences' wall starts, in order, up to `until`, its range's end or
        MAX_SERIES_DAYS."""
        rule = stored.recurrence
        assert rule is not None
        first = stored.start.date()
        last = first + timedelta(days=MAX_SERIES_DAYS)
        if rule.until is not None:
            last = min(last, rule.until)
        last = min(last, (_instant(until) + timedelta(days=1)).date())
        week_of_first = first - timedelta(days=(first.weekday() + 1) % 7)  # weeks from Sunday
        count = 0
        day = first
        while day <= last and (rule.count is None or count < rule.count):
            if rule.pattern == "daily":
                hit = (day - first).days % rule.interval == 0
            else:
                weeks = (day - week_of_first).days // 7
                hit = weeks % rule.interval == 0 and DAYS[day.weekday()] in rule.days
            if hit:
                count += 1
                yield datetime.combine(day, stored.start.time())
            day += timedelta(days=1)

    # Serving (called by graph_http) ---------------------------------------------------------

    def serves(self, call: Call) -> bool:
        names = [segment.lower() for segment in call.path.strip("/").split("/")]
        if names[:1] == ["users"] and len(names) >= 2:
            names = names[2:]
        elif names[:1] == ["me"]:
            names = names[1:]
        else:
            return False
        return names[:1] == ["calendarview"]

    async def respond(self, call: Call, authorization: str) -> Answer:
        """One request: faults, the token, routing, the mailbox's concurrency, the answer;
        recorded in the mail fake's observations."""
        graph = self.graph
        kind = ""
        answer = graph.gateway_fault(call) or graph.unauthenticated(call, authorization)
        if answer is None and self.denied:
            answer = graph_error(
                call, 403, "ErrorAccessDenied", "Access is denied. Check credentials and try again."
            )
        if answer is None:
            routed = self._route(call)
            if isinstance(routed, Answer):
                answer = routed
            else:
                kind = "calendarView"
                answer = await self._run(call, routed)
        graph.record(call, kind, answer)
        return answer

    async def _run(self, call: Call, prefix: str) -> Answer:
        graph = self.graph
        with self.lock:
            graph.calls["calendarView"] += 1
        # One mailbox, one MailboxConcurrency: the calendar's requests take the mail's places.
        refused = graph._admit(call)
        if refused is not None:
            return refused
        try:
            await asyncio.sleep(graph.delay)
            with self.lock:
                return self._delta(call, prefix)
        finally:
            with self.lock:
                graph.in_flight -= 1

    def _route(self, call: Call) -> str | Answer:
        segments = call.path.strip("/").split("/")
        prefix = "me"
        if segments[0].lower() == "users":
            user = segments[1]
            if user.lower() not in (self.graph.user_id, self.graph.address.lower()):
                return graph_error(
                    call, 404, "ErrorInvalidUser", f"The requested user '{user}' is invalid."
                )
            prefix, segments = f"users/{user}", segments[2:]
        else:
            segments = segments[1:]
        if len(segments) != 2 or segments[1].lower() not in DELTA:
            return graph_error(
                call, 400, "BadRequest", f"Resource not found for the segment '{segments[-1]}'."
            )
        if call.method != "GET":
            return graph_error(
                call, 405, "ErrorInvalidRequest", "The OData request is not supported."
            )
        return prefix

    def _delta(self, call: Call, prefix: str) -> Answer:
        for option, _ in call.query:
            if option.startswith("$") and option.lower() not in OPTIONS:
                return graph_error(
                    call,
                    400,
                    "ErrorInvalidUrlQuery",
                    f"The query parameter '{option}' is not supported with delta on calendarView.",
                )
        skip, delta = call.option("$skiptoken"), call.option("$deltatoken")
        if skip is not None or delta is not None:
            state = self._tokens.get(skip if skip is not None else delta or "")
            if skip is not None and isinstance(state, Pages):
                pages = state
            elif skip is None and isinstance(state, Base):
                pages = self._round(state)
            else:
                return self._gone(call, prefix)
        else:
            window = _window(call)
            if isinstance(window, str):
                return graph_error(call, 400, "ErrorInvalidParameter", window)
            pages = self._first(*window)
            # Outlook's first answer of a round carries no event, only the link to them.
            return self._answer(call, prefix, [], pages, pages.base)
        entries, following = self._page(call, pages)
        return self._answer(call, prefix, entries, following, pages.base)

    def _first(self, start: datetime, end: datetime) -> Pages:
        self.rounds += 1
        view = self._view(start, end)
        base = Base(start, end, {i: _digest(v) for i, v in view.items()}, self.seq)
        return Pages(base, tuple(view.values()), 0)

    def _round(self, before: Base) -> Pages:
        """A new round: what changed in the view since `before`."""
        self.rounds += 1
        view = self._view(before.start, before.end)
        digests = {i: _digest(v) for i, v in view.items()}
        entries: list[Instance | str] = [
            v for i, v in view.items() if before.seen.get(i) != digests[i]
        ]
        gone = [i for i in before.seen if i not in view]
        # "Events outside the date range that have been added, deleted, or updated since the
        # previous delta call" come as removed too.
        for seq, event_id, start, end in self._touched:
            outside = _instant(end) <= before.start or _instant(start) >= before.end
            if seq > before.seq and outside and event_id not in view and event_id not in gone:
                gone.append(event_id)
        entries += gone
        return Pages(Base(before.start, before.end, digests, self.seq), tuple(entries), 0)

    def _page(self, call: Call, pages: Pages) -> tuple[list[Instance | str], Pages | None]:
        size = _page_size(call)
        chunk = list(pages.entries[pages.offset : pages.offset + size])
        if pages.offset + size >= len(pages.entries):
            return chunk, None
        return chunk, replace(pages, offset=pages.offset + size)

    def _answer(
        self,
        call: Call,
        prefix: str,
        entries: list[Instance | str],
        following: Pages | None,
        base: Base,
    ) -> Answer:
        prefs = _prefs(call)
        link = f"{self.graph.url}/v1.0/{prefix}/calendarView/delta"
        body: dict[str, Any] = {
            "@odata.context": f"{self.graph.url}/v1.0/$metadata#Collection(event)"
        }
        if following is not None:
            body["@odata.nextLink"] = f"{link}?$skiptoken={self._keep(following)}"
        else:  # the round is complete: the next one starts from what this one showed
            body["@odata.deltaLink"] = f"{link}?$deltatoken={self._keep(base)}"
        body["value"] = [
            {"@odata.type": "#microsoft.graph.event", "id": e, "@removed": {"reason": "deleted"}}
            if isinstance(e, str)
            else self._render(e, prefs)
            for e in entries
        ]
        return Answer(200, body, {"Preference-Applied": ", ".join(prefs.applied)})

    def _keep(self, state: Base | Pages) -> str:
        token = secrets.token_urlsafe(40)
        self._tokens[token] = state
        while len(self._tokens) > TOKENS_KEPT:
            self._tokens.popitem(last=False)
        return token

    def _gone(self, call: Call, prefix: str) -> Answer:
        code = self.graph.resync_code
        message = RESYNC_MESSAGES.get(code, RESYNC_MESSAGES["SyncStateNotFound"])
        location = f"{self.graph.url}/v1.0/{prefix}/calendarView/delta"
        return graph_error(call, 410, code, message, Location=location)

    # Rendering ---------------------------------------------------------------------------

    def _render(self, instance: Instance, prefs: Prefs) -> dict[str, Any]:
        stored, look = instance.master, instance.look
        owner = self.graph.address.lower()
        preview = " ".join(look.body.split())[:255]
        body = look.body if prefs.text else _html(look.body)
        uid = stored.global_id
        if instance.original is not None:
            uid = _instance_uid(uid, _wall_of(instance.original, stored))
        zone_name = WINDOWS_NAMES.get(stored.zone, stored.zone)
        rendered: dict[str, Any] = {
            "@odata.type": "#microsoft.graph.event",
            "@odata.etag": f'W/"{instance.change_key}"',
            "id": instance.id,
            "createdDateTime": _stamp(stored.created),
            "lastModifiedDateTime": _stamp(instance.modified),
            "changeKey": instance.change_key,
            "categories": [],
            "transactionId": None,
            "originalStartTimeZone": zone_name,
            "originalEndTimeZone": zone_name,
            "iCalUId": uid.hex().upper(),
            "reminderMinutesBeforeStart": 15,
            "isReminderOn": True,
            "hasAttachments": False,
            "subject": look.subject,
            "bodyPreview": preview,
            "importance": "normal",
            "sensitivity": look.sensitivity,
            "isAllDay": stored.all_day,
            "isCancelled": look.cancelled,
            "isOrganizer": look.organizer.address.lower() == owner,
            "responseRequested": True,
            "seriesMasterId": stored.id if instance.kind != "singleInstance" else None,
            "showAs": "free" if look.cancelled else "busy",
            "type": instance.kind,
            "webLink": f"https://outlook.office365.com/owa/?itemid={instance.id}&exvsurl=1"
            "&path=/calendar/item",
            "onlineMeetingUrl": None,
            "isOnlineMeeting": look.join_url is not None,
            "onlineMeetingProvider": "teamsForBusiness" if look.join_url else "unknown",
            "allowNewTimeProposals": True,
            "isDraft": False,
            "hideAttendees": False,
            "recurrence": None,  # occurrences carry none; masters are not in a calendarView
            "onlineMeeting": {"joinUrl": look.join_url} if look.join_url else None,
            "responseStatus": {"response": look.response, "time": NEVER},
            "body": {"contentType": "text" if prefs.text else "html", "content": body},
            "start": _when(instance.start, stored.all_day, prefs),
            "end": _when(instance.end, stored.all_day, prefs),
            "location": _location(look),
            "locations": [_location(look)] if look.location else [],
            "attendees": [_attendee(g) for g in look.attendees],
            "organizer": {"emailAddress": _address(look.organizer)},
        }
        if instance.original is not None:
            rendered["originalStart"] = _stamp(instance.original)
        return rendered


def _window(call: Call) -> tuple[datetime, datetime] | str:
    """startDateTime and endDateTime (names in any case), or why they are refused."""
    start, end = call.option("startDateTime"), call.option("endDateTime")
    if start is None or end is None:
        return MISSING_WINDOW
    first, last = _parse_instant(start), _parse_instant(end)
    if first is None:
        return f"The value '{start}' of parameter 'StartDateTime' is invalid."
    if last is None:
        return f"The value '{end}' of parameter 'EndDateTime' is invalid."
    if last <= first:
        return "The EndDateTime must be later than the StartDateTime."
    return first, last


def _parse_instant(text: str) -> datetime | None:
    """ISO 8601; without an offset, UTC (the documented reading)."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _prefs(call: Call) -> Prefs:
    applied = ["odata.track-changes"]
    size = call.prefer.get("odata.maxpagesize", "")
    if size.isdigit() and int(size) >= 1:
        applied.append(f"odata.maxpagesize={min(int(size), MAX_PAGE)}")
    zone, zone_name = ZoneInfo("UTC"), "UTC"
    asked = call.prefer.get("outlook.timezone")
    found = _zone(asked) if asked else None
    if asked and found is not None:
        zone, zone_name = found, asked
        applied.append(f'outlook.timezone="{asked}"')
    text = call.prefer.get("outlook.body-content-type", "").lower() == "text"
    if text:
        applied.append('outlook.body-content-type="text"')
    return Prefs(zone, zone_name, text, tuple(applied))


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(WINDOWS_TO_OLSON.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _page_size(call: Call) -> int:
    asked = call.prefer.get("odata.maxpagesize", "")
    return min(int(asked), MAX_PAGE) if asked.isdigit() and int(asked) >= 1 else DEFAULT_PAGE


def _when(moment: datetime, all_day: bool, prefs: Prefs) -> dict[str, str]:
    """A dateTimeTimeZone in the preferred zone; an all-day event's midnight floats."""
    local = moment if all_day else moment.astimezone(prefs.zone).replace(tzinfo=None)
    return {"dateTime": local.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": prefs.zone_name}


def _location(look: Look) -> dict[str, Any]:
    if look.location is None:
        return {"displayName": "", "locationType": "default", "uniqueIdType": "unknown"}
    location: dict[str, Any] = {
        "displayName": look.location,
        "locationType": "conferenceRoom" if look.room else "default",
        "uniqueId": look.room or look.location,
        "uniqueIdType": "directory" if look.room else "private",
    }
    if look.room:
        location["locationEmailAddress"] = look.room
    return location


def _attendee(guest: Guest) -> dict[str, Any]:
    return {
        "type": guest.type,
        "status": {"response": guest.response, "time": NEVER},
        "emailAddress": _address(guest),
    }


def _address(guest: Guest) -> dict[str, str]:
    return {"name": guest.name or guest.address, "address": guest.address}


def _html(text: str) -> str:
    return (
        '<html>\r\n<head>\r\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
        f"\r\n</head>\r\n<body>\r\n{escape(text)}\r\n</body>\r\n</html>\r\n"
    )


def _digest(instance: Instance) -> str:
    """What a round compares: everything the event shows."""
    shown = (instance.look, instance.start, instance.end, instance.change_key, instance.kind)
    return hashlib.sha256(repr(shown).encode()).hexdigest()


def _overlaps(instance: Instance, start: datetime, end: datetime) -> bool:
    first, last = _instant(instance.start), _instant(instance.end)
    if first == last:
        return start <= first < end
    return first < end and last > start


def _instant(moment: datetime) -> datetime:
    """An aware instant; a floating all-day midnight read as UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _wall(moment: datetime | date, zone: str) -> datetime:
    if isinstance(moment, datetime):
        return moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
    return datetime.combine(moment, datetime.min.time())


def _utc(moment: datetime | date, zone: str = "UTC") -> datetime:
    if not isinstance(moment, datetime):
        return datetime.combine(moment, datetime.min.time())  # all-day: floating midnight
    if moment.tzinfo is None:
        return moment.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    return moment.astimezone(UTC)


def _wall_of(original: datetime, stored: Stored) -> date:
    return original.astimezone(ZoneInfo(stored.zone)).date()


def _global_id(created: datetime, uid: str | None) -> bytes:
    """A PidLidGlobalObjectId: Outlook's own (16 random bytes), or a meeting made elsewhere,
    its UID wrapped as vCal-Uid (then without a creation time, as Exchange writes it)."""
    if uid is not None:
        data = VCAL_UID + uid.encode() + b"\x00"
        filetime = 0
    else:
        data = secrets.token_bytes(16)
        filetime = int((created - EPOCH_1601).total_seconds() * 10_000_000)
    return (
        CLASS_ID
        + bytes(4)
        + struct.pack("<Q", filetime)
        + bytes(8)
        + struct.pack("<I", len(data))
        + data
    )


def _instance_uid(global_id: bytes, day: date) -> bytes:
    return global_id[:16] + struct.pack(">HBB", day.year, day.month, day.day) + global_id[20:]


def _event_id(seed: bytes) -> str:
    """An Outlook-like event id: base64url of 110 bytes, ending in '='."""
    body = hashlib.sha256(seed).digest()
    while len(body) < 104:
        body += hashlib.sha256(body).digest()
    return base64.urlsafe_b64encode(b"\x00\x07\x46\x00\x00\x00" + body[:104]).decode()


def _change_key() -> str:
    return "DwAAABYAAAA" + secrets.token_urlsafe(21)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000Z")


__all__ = ["GraphCalendar", "Guest", "Recurrence"]
