"""Google Calendar's times read into aware datetimes: an EventDateTime ({"dateTime",
"timeZone"} or {"date"}) and the RFC 3339 stamps of `updated`. Whatever a server writes, a time
comes back within years Mailroom can store, or as an `Unreadable` naming the field.

An all-day event starts at midnight UTC of its first day and ends at midnight after its last
(Google's end date is exclusive already), as `CalendarEvent` wants them.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Years a meeting may fall in. Outside them a time is a broken or hostile answer: Python takes
# years 1 to 9999, but offsets near those ends overflow, and the store wants sane ones.
FIRST_YEAR, LAST_YEAR = 1900, 2300
MAX_STAMP = 40  # characters: RFC 3339 with nanoseconds and an offset is 35
MAX_ZONE = 64


class Unreadable(ValueError):
    """A time that cannot be read; its message names the field."""


def event_time(value: Any, where: str) -> tuple[datetime, bool, list[str]]:
    """(moment, all-day, defects) of an EventDateTime."""
    if not isinstance(value, dict):
        raise Unreadable(f"{where} is missing")
    defects: list[str] = []
    if "dateTime" in value:
        moment = stamp(value["dateTime"], f"{where}.dateTime", aware=False)
        if moment.tzinfo is None:
            zone = _zone(value.get("timeZone"))
            if zone is None:
                defects.append(f"{where} has no offset and no known time zone: taken as UTC")
            moment = moment.replace(tzinfo=zone or UTC)
        return _bounded(moment, where), False, defects
    if "date" in value:
        text = value["date"]
        if not isinstance(text, str) or len(text) != 10:
            raise Unreadable(f"{where}.date is not a date")
        try:
            day = date.fromisoformat(text)
        except ValueError as error:
            raise Unreadable(f"{where}.date is not a date: {text!r}") from error
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return _bounded(moment, where), True, defects
    raise Unreadable(f"{where} has neither dateTime nor date")


def stamp(value: Any, where: str, *, aware: bool = True) -> datetime:
    """An RFC 3339 time; with `aware`, one without an offset is refused."""
    if not isinstance(value, str) or not 10 <= len(value) <= MAX_STAMP:
        raise Unreadable(f"{where} is not a time")
    try:
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError as error:
        raise Unreadable(f"{where} is not an RFC 3339 time: {value[:MAX_STAMP]!r}") from error
    if aware and moment.tzinfo is None:
        raise Unreadable(f"{where} has no offset: {value!r}")
    return _bounded(moment, where) if moment.tzinfo else moment


def _bounded(moment: datetime, where: str) -> datetime:
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise Unreadable(f"{where} is in the year {moment.year}")
    return moment


def _zone(name: Any) -> tzinfo | None:
    if not isinstance(name, str) or not 0 < len(name) <= MAX_ZONE:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: a name that is a path ("../x") or otherwise no key of the database.
        return None
