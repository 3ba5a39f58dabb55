"""One VEVENT as a `CalendarEvent`: the event as written, before any expansion of a series.

What cannot be read becomes a defect on the event; a VEVENT without a usable DTSTART (or with
a RECURRENCE-ID that cannot be read) cannot be placed or keyed and is skipped, with a defect on
the calendar. A private event keeps only its key, times and status: it is handed on only so that
a copy stored before it became private is removed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo

from icalendar import Component

from mailroom.envelope import Attendee, CalendarEvent, EventStatus
from mailroom.parsing.icalendar.people import read_attendees, read_organizer, values
from mailroom.parsing.icalendar.text import shown
from mailroom.parsing.icalendar.times import date_value, read_span, utc

_STATUSES = {"CANCELLED": EventStatus.CANCELLED, "TENTATIVE": EventStatus.TENTATIVE}
_PRIVATE = {"PRIVATE", "CONFIDENTIAL"}
# Links to join online, best first (RFC 7986, then what Google and Microsoft write).
_CONFERENCE_EXTENSIONS = (
    "X-GOOGLE-CONFERENCE",
    "X-MICROSOFT-SKYPETEAMSMEETINGURL",
    "X-MICROSOFT-ONLINEMEETINGCONFLINK",
)
_SEQUENCE_MAX = 2**31 - 1  # the database's integer
# Control characters (but tab and newline) have no place in text and PostgreSQL refuses NUL.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass(frozen=True, slots=True)
class Context:
    """What the calendar around an event says about it."""

    cancelled: bool  # METHOD:CANCEL cancels every event it carries
    floating: tzinfo | None  # X-WR-TIMEZONE: where times without a zone are


def read_event(
    component: Component, context: Context, calendar_defects: list[str]
) -> CalendarEvent | None:
    """The event `component` says, as written; None, with a defect on the calendar, when it
    cannot be placed or keyed."""
    defects: list[str] = []
    span = read_span(component, context.floating, defects)
    if span is None:
        calendar_defects.append(
            f"an event without a usable DTSTART was skipped ({_named(component)})"
        )
        return None
    recurrence_id: datetime | None = None
    if "RECURRENCE-ID" in component:
        recurrence_id = _recurrence_id(component, context.floating)
        if recurrence_id is None:
            calendar_defects.append(
                f"an event whose RECURRENCE-ID could not be read was skipped ({_named(component)})"
            )
            return None
    organizer = read_organizer(component, defects)
    summary = text(component, "SUMMARY")
    status = _status(component, context)
    private = text(component, "CLASS", upper=True) in _PRIVATE
    sequence = _sequence(component, defects)
    defects.extend(_line_defects(component))
    uid = text(component, "UID") or _derived_uid(span.start, summary, organizer, defects)
    event = CalendarEvent(
        uid=uid,
        recurrence_id=recurrence_id,
        start=span.start,
        end=span.end,
        all_day=span.all_day,
        status=status,
        private=private,
        sequence=sequence,
        updated=_updated(component),
        defects=tuple(defects),
    )
    if private:
        return event
    return _with_content(event, component, organizer, summary)


def text(component: Component, name: str, *, upper: bool = False) -> str | None:
    """Property `name` as clean text (its first value if repeated), None when empty."""
    found = values(component, name)
    if not found:
        return None
    cleaned = _CONTROLS.sub("", str(found[0])).strip()
    return (cleaned.upper() if upper else cleaned) or None


def _with_content(
    event: CalendarEvent, component: Component, organizer: Attendee | None, summary: str | None
) -> CalendarEvent:
    defects = list(event.defects)
    attendees = read_attendees(component, defects)
    return replace(
        event,
        summary=summary,
        description=text(component, "DESCRIPTION"),
        location=text(component, "LOCATION"),
        conference=_conference(component),
        organizer=organizer,
        attendees=attendees,
        defects=tuple(defects),
    )


def _named(component: Component) -> str:
    uid = text(component, "UID")
    return f"UID {shown(uid)!r}" if uid else "no UID"


def _recurrence_id(component: Component, floating: tzinfo | None) -> datetime | None:
    value = date_value(component, "RECURRENCE-ID")
    if value is None:
        return None
    try:
        return utc(value, floating)
    except (OverflowError, ValueError):
        return None


def _status(component: Component, context: Context) -> EventStatus:
    if context.cancelled:
        return EventStatus.CANCELLED
    return _STATUSES.get(text(component, "STATUS", upper=True) or "", EventStatus.CONFIRMED)


def _sequence(component: Component, defects: list[str]) -> int:
    found = values(component, "SEQUENCE")
    if not found:
        return 0
    try:
        sequence = int(str(found[0]).strip())
    except ValueError:
        defects.append(f"SEQUENCE {shown(str(found[0]))!r} is not a number: read as 0")
        return 0
    if not 0 <= sequence <= _SEQUENCE_MAX:
        defects.append(f"SEQUENCE {sequence} is out of range: read as 0")
        return 0
    return sequence


def _updated(component: Component) -> datetime | None:
    value = date_value(component, "LAST-MODIFIED") or date_value(component, "DTSTAMP")
    if value is None:
        return None
    try:
        return utc(value, None)
    except (OverflowError, ValueError):
        return None


def _conference(component: Component) -> str | None:
    links = [str(value).strip() for value in values(component, "CONFERENCE")]
    web = [link for link in links if link.lower().startswith(("https://", "http://"))]
    for link in (*web, *links):
        if link:
            return _CONTROLS.sub("", link)
    return next(
        (found for name in _CONFERENCE_EXTENSIONS if (found := text(component, name))), None
    )


def _line_defects(component: Component) -> list[str]:
    """Content lines icalendar could not split into name, parameters and value (a broken
    ATTENDEE line loses that attendee); broken values of properties read here are told apart
    where they are read."""
    return [
        f"a line could not be read: {shown(message)}"
        for name, message in component.errors
        if name is None
    ]


def _derived_uid(
    start: datetime, summary: str | None, organizer: Attendee | None, defects: list[str]
) -> str:
    """A UID for an event written without one, the same each time the event is read."""
    defects.append("it has no UID: one was derived from its start, summary and organizer")
    address = organizer.address if organizer is not None else ""
    seed = "\n".join((start.astimezone(UTC).isoformat(), summary or "", address))
    return "mailroom-" + hashlib.sha256(seed.encode("utf-8", "replace")).hexdigest()[:32]
