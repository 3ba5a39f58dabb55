"""Graph's calendar answers as Mailroom reads them: a page of a calendarView's delta
(`event_page`), and each of its entries (`read_entry`) as a `CalendarEvent`, a removal, or
unreadable (with the reason, for the log).

A page of the wrong shape is a ProtocolError; an entry of the wrong shape (no id, no times, a
year no calendar holds) is Unreadable and skipped, the others stored: one broken event must not
hold a calendar back. Every list and string is bounded before it is read.

- The key: the UID from `iCalUId` (`global_ids`) and, for an occurrence or exception,
  `originalStart` (UTC) as the recurrence id; an all-day one's is its day's midnight UTC, as
  every source writes it.
- Times: Graph is asked for UTC (`Prefer: outlook.timezone`) and each time is given back the
  offset of the zone the event was made in (`originalStartTimeZone`, an IANA or a Windows
  name), so that a 09:00 Berlin meeting keeps showing 09:00 on both sides of a DST change. An
  all-day event starts at midnight UTC of its first day.
- `sensitivity` private or confidential: removed, never stored; `isCancelled`: kept as
  cancelled.
- Attendees and the organizer: `attendees`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from mailroom.envelope import CalendarEvent, EventStatus, Response
from mailroom.sources.graph.attendees import attending, read_attendees, read_person
from mailroom.sources.graph.errors import ProtocolError
from mailroom.sources.graph.global_ids import series_uid

# Ids go into stored keys (at most 600 characters) and nowhere else: Graph's are base64url.
_ID = re.compile(r"[0-9A-Za-z_=+/-]{1,500}")
MAX_ENTRIES = 10_000  # on one page; odata.maxpagesize is at most 1000
MAX_TEXT = 64 * 1024
MAX_SHORT = 2000
EARLIEST, LATEST = 1900, 2200  # years a meeting may be in
OCCURRENCES = frozenset({"occurrence", "exception"})
PRIVATE = frozenset({"private", "confidential"})
UTC_NAMES = frozenset({"utc", "tzone://microsoft/utc", "etc/utc", "z"})


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page: its entries as sent, and `next_link` to follow or, on the last page,
    `delta_link`, where the next round starts. Exactly one of them is set."""

    entries: tuple[dict[str, Any], ...]
    next_link: str | None
    delta_link: str | None


@dataclass(frozen=True, slots=True)
class Entry:
    """An event of the view (`event`), or one removed from it (None): `@removed`, or made
    private (`private`), which removes it whenever it was."""

    id: str
    event: CalendarEvent | None
    private: bool = False


@dataclass(frozen=True, slots=True)
class Unreadable:
    id: str | None
    reason: str


class _Skip(Exception):
    """An entry that cannot be stored, and why."""


def event_page(payload: dict[str, Any]) -> EventPage:
    entries = payload.get("value", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ProtocolError("Graph's calendarView delta value is not a list of objects")
    if len(entries) > MAX_ENTRIES:
        raise ProtocolError(f"Graph's calendarView delta page holds {len(entries)} entries")
    next_link, delta_link = _link(payload, "@odata.nextLink"), _link(payload, "@odata.deltaLink")
    if (next_link is None) == (delta_link is None):
        raise ProtocolError("a delta page must end in exactly one of a next link or a delta link")
    return EventPage(tuple(entries), next_link, delta_link)


def read_entry(entry: dict[str, Any], owner: frozenset[str]) -> Entry | Unreadable:
    """One entry of a page; `owner` the calendar owner's addresses (normalized)."""
    ident = entry.get("id")
    if not isinstance(ident, str) or not _ID.fullmatch(ident):
        shown = ident[:40] if isinstance(ident, str) else type(ident).__name__
        return Unreadable(None, f"an event id that is no id: {shown!r}")
    if "@removed" in entry:
        return Entry(ident, None)
    if str(entry.get("sensitivity", "")).lower() in PRIVATE:
        return Entry(ident, None, private=True)
    try:
        return Entry(ident, _event(ident, entry, owner))
    except _Skip as skipped:
        return Unreadable(ident, str(skipped))


def _event(ident: str, entry: dict[str, Any], owner: frozenset[str]) -> CalendarEvent:
    defects: list[str] = []
    kind = _text(entry, "type", 40, defects) or "singleInstance"
    if kind not in OCCURRENCES and kind != "singleInstance":
        raise _Skip(f"an event of type {kind[:40]!r} in a calendar view")
    all_day = entry.get("isAllDay") is True
    zone = _zone(_text(entry, "originalStartTimeZone", 100, defects))
    end_zone = _zone(_text(entry, "originalEndTimeZone", 100, defects)) or zone
    start = _moment(entry.get("start"), "start", zone, all_day)
    end = _moment(entry.get("end"), "end", end_zone, all_day)
    if end < start:
        defects.append("the event ends before it starts")
        end = start
    uid = _text(entry, "iCalUId", 4000, defects) or _text(entry, "uid", 4000, defects)
    master = _text(entry, "seriesMasterId", 500, defects)
    if uid is None:
        defects.append("no iCalUId: the event is keyed by its Graph id")
        uid = f"graph:{master or ident}"
    attendees, rooms = read_attendees(entry, owner, defects)
    organizer = read_person(entry.get("organizer"), defects)
    return CalendarEvent(
        uid=series_uid(uid),
        recurrence_id=_recurrence_id(entry, kind, start, zone, all_day, defects),
        start=start,
        end=end,
        all_day=all_day,
        summary=_text(entry, "subject", MAX_SHORT, defects),
        description=_description(entry, defects),
        location=_location(entry),
        conference=_conference(entry),
        status=EventStatus.CANCELLED if entry.get("isCancelled") is True else EventStatus.CONFIRMED,
        organizer=None if organizer is None else attending(organizer, Response.ACCEPTED, rooms),
        attendees=attendees,
        updated=_stamp(entry.get("lastModifiedDateTime")),
        defects=tuple(defects),
    )


def _moment(value: object, name: str, zone: tzinfo | None, all_day: bool) -> datetime:
    """A dateTimeTimeZone: the instant in the event's own zone; an all-day one's day at
    midnight UTC."""
    if not isinstance(value, dict):
        raise _Skip(f"no {name} time")
    text, named = value.get("dateTime"), value.get("timeZone", "UTC")
    if not isinstance(text, str) or len(text) > 40 or not isinstance(named, str):
        raise _Skip(f"the {name} time is not a dateTimeTimeZone")
    wall = _iso(text, name)
    given = _zone(named[:100])
    if given is None:
        raise _Skip(f"the {name} time is in a zone no one knows: {named[:60]!r}")
    moment = wall if wall.tzinfo is not None else wall.replace(tzinfo=given)
    if not all_day:
        return moment.astimezone(zone or UTC)
    if wall.tzinfo is None and wall.time() == time(0):
        return _midnight(wall.date())  # a floating midnight, as Graph gives all-day events
    return _midnight(_day(moment, zone))


def _recurrence_id(
    entry: dict[str, Any],
    kind: str,
    start: datetime,
    zone: tzinfo | None,
    all_day: bool,
    defects: list[str],
) -> datetime | None:
    if kind not in OCCURRENCES:
        return None
    text = entry.get("originalStart")
    if not isinstance(text, str) or len(text) > 40:
        if kind == "exception":  # moved, perhaps: its start is not where it began
            raise _Skip("an exception without its originalStart")
        defects.append("an occurrence without its originalStart: its start is taken")
        return start
    original = _iso(text, "originalStart")
    original = original if original.tzinfo is not None else original.replace(tzinfo=UTC)
    return _midnight(_day(original, zone)) if all_day else original.astimezone(UTC)


def _iso(text: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise _Skip(f"the {name} time is not a time: {text[:40]!r}") from None
    if not EARLIEST <= moment.year <= LATEST:
        raise _Skip(f"the {name} time is in the year {moment.year}")
    return moment


def _day(moment: datetime, zone: tzinfo | None) -> date:
    """The day an all-day event's instant stands for: a midnight in the event's zone, or else
    the nearest midnight UTC (zones are at most ±12 hours from it)."""
    if zone is not None:
        local = moment.astimezone(zone)
        if local.time() == time(0):
            return local.date()
    return (moment.astimezone(UTC) + timedelta(hours=12)).date()


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def _zone(name: str | None) -> tzinfo | None:
    """A zone by its IANA or Windows name; None for one unknown (or Outlook's custom ones)."""
    if name is None:
        return None
    if name.lower() in UTC_NAMES:
        return UTC
    try:
        return ZoneInfo(WINDOWS_TO_OLSON.get(name, name))
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def _location(entry: dict[str, Any]) -> str | None:
    places = entry.get("locations")
    candidates = [entry.get("location"), *(places[:10] if isinstance(places, list) else [])]
    for place in candidates:
        name = place.get("displayName") if isinstance(place, dict) else None
        if isinstance(name, str) and name.strip():
            return name.strip()[:MAX_SHORT]
    return None


def _description(entry: dict[str, Any], defects: list[str]) -> str | None:
    """The body as text (asked for so); a body Graph sent as HTML anyway gives way to the
    preview, which is text."""
    body = entry.get("body")
    if isinstance(body, dict) and str(body.get("contentType", "")).lower() == "text":
        content = body.get("content")
        if isinstance(content, str):
            return content.strip()[:MAX_TEXT] or None
    return _text(entry, "bodyPreview", MAX_TEXT, defects)


def _conference(entry: dict[str, Any]) -> str | None:
    for link in (_field(entry, "onlineMeeting", "joinUrl"), entry.get("onlineMeetingUrl")):
        if isinstance(link, str) and link.startswith(("https://", "http://")):
            return link[:MAX_SHORT]
    return None


def _stamp(value: object) -> datetime | None:
    """An Edm.DateTimeOffset (lastModifiedDateTime), None when unreadable: it only orders
    versions."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = _iso(value, "lastModifiedDateTime")
    except _Skip:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _text(entry: dict[str, Any], name: str, limit: int, defects: list[str]) -> str | None:
    value = entry.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        defects.append(f"{name} is not a string")
        return None
    return value.strip()[:limit] or None


def _field(entry: dict[str, Any], name: str, inner: str) -> object:
    value = entry.get(name)
    return value.get(inner) if isinstance(value, dict) else None


def _link(payload: dict[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 8192:
        raise ProtocolError(f"Graph's {name} is not a link")
    return value
