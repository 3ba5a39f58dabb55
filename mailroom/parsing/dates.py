"""When a message was sent: its Date header, else the newest Received stamp, else arrival.

The timezone of the Date header is kept (the sender's offset says where they were). Dates that
cannot be right (before 1970, or more than a day after the message arrived) count as missing,
since they would put the message at the wrong end of every timeline.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import parsedate_tz

from mailroom.envelope import DateSource

_EARLIEST_YEAR = 1970
_CLOCK_SKEW = timedelta(days=1)
_RECEIVED_TRIED = 10


def parse_date(value: str) -> datetime | None:
    """An RFC 5322 (or obsolete, or ISO 8601) date as an aware datetime, or None."""
    try:
        parts = parsedate_tz(value)
    except (ValueError, IndexError, TypeError, OverflowError):
        parts = None
    if parts is None:
        return _parse_iso(value)
    year, month, day, hour, minute, second = parts[:6]
    try:
        zone = timezone(timedelta(seconds=parts[9] or 0))
        return datetime(year, month, day, hour, minute, second, tzinfo=zone)
    except (ValueError, OverflowError):
        return None


def _parse_iso(value: str) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def choose_date(
    date_value: str | None, received: list[str], arrival: datetime
) -> tuple[datetime, DateSource, str | None]:
    """The message date, where it came from, and a defect when it was not the Date header."""
    if date_value is None:
        problem = "no Date header"
    else:
        parsed = parse_date(date_value)
        if parsed is not None and _plausible(parsed, arrival):
            return parsed, DateSource.HEADER, None
        shown = date_value.strip()[:80]
        problem = f"Date header {'implausible' if parsed else 'unparseable'}: {shown!r}"
    for value in received[:_RECEIVED_TRIED]:
        stamp = parse_date(value.rpartition(";")[2])
        if stamp is not None and _plausible(stamp, arrival):
            return stamp, DateSource.RECEIVED, f"{problem}; using the newest Received date"
    return arrival, DateSource.ARRIVAL, f"{problem}; using the arrival time"


def _plausible(moment: datetime, arrival: datetime) -> bool:
    return moment.year >= _EARLIEST_YEAR and moment <= arrival + _CLOCK_SKEW
