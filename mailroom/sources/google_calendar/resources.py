"""A page of events.list read into what the sync stores: each item's key (the instance id)
with its occurrence as a `CalendarEvent`, or None when the calendar no longer has it (status
cancelled: a deleted event, a cancelled instance) or it is no meeting (working location, out of
office, focus time, birthdays).

A page that is not what events.list returns is a ProtocolError. An item that cannot be read
(an id that is no id, times missing or absurd) is skipped and named in the page's `skipped`:
one broken event must not hold up the calendar. What can be read of an odd one is kept with
its defects. Attendees past MAX_ATTENDEES are left out, which its defects say.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from mailroom.envelope import Attendee, AttendeeKind, CalendarEvent, EventStatus, Response
from mailroom.parsing.addresses.lists import normalize_address
from mailroom.sources.google_calendar.errors import ProtocolError
from mailroom.sources.google_calendar.times import Unreadable, event_time, stamp

MAX_ATTENDEES = 1000  # read of one event; the store keeps as many (intake.events)
MAX_ADDRESS = 320
MAX_SEQUENCE = 2**31 - 1
# Google's event ids are base32hex digits, an instance's followed by _ and its original start;
# ids of imported events may hold _ and upper case. Whatever a server sends is a stored key of
# at most 600 characters (longer ones would be cut, and two could become one).
_KEY = re.compile(r"[0-9A-Za-z_-]{1,600}")
_INSTANCE = re.compile(r"_(\d{8})(T\d{6}Z)?\Z")
MEETINGS = frozenset({"default", "fromGmail"})
PRIVATE = frozenset({"private", "confidential"})
RESPONSES = {
    "needsAction": Response.NEEDS_ACTION,
    "accepted": Response.ACCEPTED,
    "tentative": Response.TENTATIVE,
    "declined": Response.DECLINED,
}


@dataclass(frozen=True, slots=True)
class Entry:
    """One item: its key, the occurrence (None: gone, or no meeting), and the series it is an
    instance of (recurringEventId)."""

    key: str
    event: CalendarEvent | None
    series: str | None = None
    cancelled: bool = False


@dataclass(frozen=True, slots=True)
class EventPage:
    """One page. `next_page_token` None on the last page, which holds `next_sync_token`."""

    entries: tuple[Entry, ...]
    next_page_token: str | None
    next_sync_token: str | None
    skipped: tuple[str, ...] = ()  # why each unreadable item was skipped


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise ProtocolError("Google Calendar's answer to events.list is not JSON") from error
    if not isinstance(payload, dict):
        raise ProtocolError("Google Calendar's answer to events.list is not a JSON object")
    return payload


def event_page(payload: dict[str, Any]) -> EventPage:
    items = payload.get("items", [])
    if not isinstance(items, list):
        raise ProtocolError("Google Calendar's items is not a list")
    entries: list[Entry] = []
    skipped: list[str] = []
    for index, item in enumerate(items):
        try:
            entries.append(entry(item))
        except Unreadable as error:
            skipped.append(f"item {index}: {error}")
    next_page = _token(payload, "nextPageToken")
    next_sync = _token(payload, "nextSyncToken")
    if next_page is None and next_sync is None:
        raise ProtocolError("Google Calendar's last page has no nextSyncToken")
    return EventPage(tuple(entries), next_page, next_sync, tuple(skipped))


def entry(item: Any) -> Entry:
    if not isinstance(item, dict):
        raise Unreadable("not an object")
    key = _key(item.get("id"), "id")
    series = item.get("recurringEventId")
    series = None if series is None else _key(series, "recurringEventId")
    if item.get("status") == "cancelled":
        return Entry(key, None, series, cancelled=True)
    if item.get("eventType", "default") not in MEETINGS:
        return Entry(key, None, series)
    return Entry(key, occurrence(item, key, series), series)


def occurrence(item: dict[str, Any], key: str, series: str | None) -> CalendarEvent:
    defects: list[str] = []
    start, all_day, found = event_time(item.get("start"), "start")
    defects += found
    end, _, found = event_time(item.get("end"), "end")
    defects += found
    if end < start:
        defects.append("ends before it starts: taken to end at its start")
        end = start
    uid = item.get("iCalUID")
    if not isinstance(uid, str) or not uid.strip():
        uid = f"{series or key}@google.com"
        defects.append("no iCalUID: the event id stands for it")
    private = item.get("visibility") in PRIVATE
    if private:  # never stored: only what finds a stored copy to remove
        return CalendarEvent(uid, _recurrence_id(item, key, series), start, end, private=True)
    organizer = _organizer(item.get("organizer"), defects)
    tentative = item.get("status") == "tentative"
    return CalendarEvent(
        uid=uid,
        recurrence_id=_recurrence_id(item, key, series),
        start=start,
        end=end,
        all_day=all_day,
        summary=_text(item, "summary", defects),
        description=_text(item, "description", defects),
        location=_text(item, "location", defects),
        conference=_conference(item),
        status=EventStatus.TENTATIVE if tentative else EventStatus.CONFIRMED,
        organizer=organizer,
        attendees=_attendees(item.get("attendees"), defects),
        sequence=_sequence(item.get("sequence"), defects),
        updated=_updated(item.get("updated"), defects),
        defects=tuple(defects),
    )


def _recurrence_id(item: dict[str, Any], key: str, series: str | None) -> datetime | None:
    """An instance's original start in UTC; None for a single event."""
    if series is None:
        return None
    try:
        original, _, _ = event_time(item.get("originalStartTime"), "originalStartTime")
    except Unreadable:
        # The instance id carries its original start too (_YYYYMMDD or _YYYYMMDDTHHMMSSZ).
        match = _INSTANCE.search(key)
        if match is None:
            raise
        text = match.group(1) + (match.group(2) or "T000000Z")
        original = datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return original.astimezone(UTC)


def _organizer(value: Any, defects: list[str]) -> Attendee | None:
    if value is None:
        return None
    found = _person(value, defects, "organizer")
    return None if found is None else Attendee(found[0], found[1], Response.ACCEPTED)


def _attendees(value: Any, defects: list[str]) -> tuple[Attendee, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        defects.append("attendees is not a list: left out")
        return ()
    if len(value) > MAX_ATTENDEES:
        defects.append(f"{len(value)} attendees, the first {MAX_ATTENDEES} read")
    found: list[Attendee] = []
    for item in value[:MAX_ATTENDEES]:
        person = _person(item, defects, "an attendee")
        if person is None:
            continue
        assert isinstance(item, dict)
        kind = AttendeeKind.RESOURCE if item.get("resource") is True else AttendeeKind.PERSON
        response = RESPONSES.get(str(item.get("responseStatus")), Response.NEEDS_ACTION)
        found.append(Attendee(person[0], person[1], response, kind, item.get("optional") is True))
    return tuple(found)


def _person(value: Any, defects: list[str], what: str) -> tuple[str, str | None] | None:
    """(address, name) of an organizer or attendee; None (with a defect) without an address."""
    email = value.get("email") if isinstance(value, dict) else None
    address = _address(email) if isinstance(email, str) and 3 <= len(email) <= MAX_ADDRESS else None
    if address is None or len(address) > MAX_ADDRESS:
        if len(defects) < 50:
            defects.append(f"{what} without a usable address left out")
        return None
    assert isinstance(value, dict)
    name = value.get("displayName")
    return address, name[:500] if isinstance(name, str) and name.strip() else None


@lru_cache(maxsize=8192)
def _address(email: str) -> str | None:
    # The same few hundred people attend a calendar's meetings: each read once, not per event.
    return normalize_address(email)


def _conference(item: dict[str, Any]) -> str | None:
    """The link to join: hangoutLink, else the conference's video entry point."""
    link = item.get("hangoutLink")
    if _web(link):
        return str(link)
    data = item.get("conferenceData")
    points = data.get("entryPoints") if isinstance(data, dict) else None
    for point in points if isinstance(points, list) else ():
        if isinstance(point, dict) and point.get("entryPointType") == "video":
            if _web(point.get("uri")):
                return str(point["uri"])
    return None


def _web(value: Any) -> bool:
    # Only links a browser opens as a page: no javascript:, data: or file: from a server.
    return isinstance(value, str) and value.lower().startswith(("https://", "http://"))


def _text(item: dict[str, Any], name: str, defects: list[str]) -> str | None:
    value = item.get(name)
    if value is None or isinstance(value, str):
        return value or None
    defects.append(f"{name} is not text: left out")
    return None


def _sequence(value: Any, defects: list[str]) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEQUENCE:
        defects.append(f"sequence {str(value)[:20]} is no sequence: taken as 0")
        return 0
    return value


def _updated(value: Any, defects: list[str]) -> datetime | None:
    if value is None:
        return None
    try:
        return stamp(value, "updated")
    except Unreadable as error:
        defects.append(str(error))
        return None


def _key(value: Any, name: str) -> str:
    if not isinstance(value, str) or not _KEY.fullmatch(value):
        shown = value[:40] if isinstance(value, str) else type(value).__name__
        raise Unreadable(f"{name} is not an id: {shown!r}")
    return value


def _token(payload: dict[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > 4096:
        raise ProtocolError(f"Google Calendar's {name} is not a token")
    return value
