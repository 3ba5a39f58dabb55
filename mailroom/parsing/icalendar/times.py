"""When an iCalendar event happens: DTSTART with DTEND or DURATION, as aware datetimes.

A time keeps the UTC offset it was written in (a TZID'd time gets its zone's offset at that
moment). A date (an all-day event) is midnight UTC of that day. A time written without a zone
(floating) or with a zone nobody knows is read in the calendar's X-WR-TIMEZONE if it names one,
else as UTC, with a defect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from typing import Any

from icalendar import Component

from mailroom.parsing.icalendar.text import shown

_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Span:
    start: datetime
    end: datetime
    all_day: bool


def moment(value: date, floating: tzinfo | None) -> datetime:
    """`value` as an aware datetime with a fixed offset. Raises OverflowError at the edges of
    the datetime range, ValueError for a zone a day or more off UTC."""
    if not isinstance(value, datetime):
        return datetime.combine(value, time(), UTC)
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=floating or UTC)
    offset = value.utcoffset()
    return value.replace(tzinfo=UTC if not offset else timezone(offset))


def utc(value: date, floating: tzinfo | None) -> datetime:
    """`value` in UTC, read as `moment` reads it."""
    return moment(value, floating).astimezone(UTC)


def date_value(component: Component, name: str) -> date | None:
    """The date or datetime of property `name`, None when missing, broken or of another type."""
    value = plain_value(component, name)
    return value if isinstance(value, date) else None


def plain_value(component: Component, name: str) -> object:
    """The `.dt` of date, time and duration property `name` (its first if repeated), None when
    missing or broken."""
    prop = component.get(name)
    if isinstance(prop, list):
        prop = prop[0] if prop else None
    try:
        return getattr(prop, "dt", None)
    except Exception:  # icalendar raises BrokenCalendarProperty on a value it could not parse
        return None


def read_span(component: Component, floating: tzinfo | None, defects: list[str]) -> Span | None:
    """The event's start, end and whether it is all-day; None without a usable DTSTART."""
    first = date_value(component, "DTSTART")
    if first is None:
        return None
    all_day = not isinstance(first, datetime)
    try:
        start = moment(first, floating)
        _note_zone(component.get("DTSTART"), first, floating, defects)
        end = _end(component, start, all_day, floating, defects)
    except (OverflowError, ValueError):
        defects.append("its times are out of range")
        return None
    if end < start:
        defects.append("it ends before it starts: read the other way round")
        start, end = end, start
    elif all_day and end == start:
        end = start + _DAY  # "DTEND equal to DTSTART" all-day events mean that one day
    return Span(start, end, all_day)


def _end(
    component: Component,
    start: datetime,
    all_day: bool,
    floating: tzinfo | None,
    defects: list[str],
) -> datetime:
    last = date_value(component, "DTEND")
    if last is not None and isinstance(last, datetime) == all_day:
        defects.append("DTSTART and DTEND mix a date and a time: DTEND ignored")
    elif last is not None:
        _note_zone(component.get("DTEND"), last, floating, defects)
        return moment(last, floating)
    elif "DTEND" in component:
        defects.append("its DTEND could not be read")
    duration = plain_value(component, "DURATION")
    if isinstance(duration, timedelta):
        return start + duration
    if "DURATION" in component:
        defects.append("its DURATION could not be read")
    return start + _DAY if all_day else start


def _note_zone(prop: Any, value: date, floating: tzinfo | None, defects: list[str]) -> None:
    if not isinstance(value, datetime) or value.tzinfo is not None:
        return
    where = str(floating) if floating is not None else "UTC"
    tzid = getattr(prop, "params", {}).get("TZID")
    if tzid:
        note = f"unknown time zone {shown(str(tzid))!r}: read as {where}"
    elif floating is None:
        note = "a time without a time zone: read as UTC"
    else:
        return  # the calendar's X-WR-TIMEZONE says where floating times are
    if note not in defects:
        defects.append(note)
