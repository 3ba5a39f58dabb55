"""The local Google Calendar's events as it keeps them, and a series' instances: the original
starts an RRULE (with EXDATEs) makes, in the series' time zone (so that 9:00 stays 9:00 across a
change of daylight saving time), their ids, and Google's EventDateTime and RFC 3339 forms.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr

MAX_INSTANCES = 5000  # of one series, whatever its rule


@dataclass
class Stored:
    """An event as the calendar keeps it: a single event, or a series' master with its
    exceptions (instance id -> the fields it changes; {"status": "cancelled"} cancels it)."""

    id: str
    ical_uid: str
    start: dict[str, str]
    end: dict[str, str]
    fields: dict[str, Any]  # summary, description, attendees, organizer, visibility, ...
    recurrence: list[str] | None
    created: datetime
    updated: datetime
    status: str = "confirmed"
    sequence: int = 0
    version: int = 0  # bumped by each change: the etag, and the key of cached renderings
    exceptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)  # instance ids no longer in the series


@dataclass(frozen=True)
class Occurrence:
    """One item of a listing: a single event, an instance, or a master (singleEvents=false)."""

    item_id: str
    event_id: str
    original: datetime | date | None  # an instance's original start
    start: datetime  # UTC, for sorting and the time bounds
    end: datetime


def utc_now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def is_date(value: object) -> bool:
    return isinstance(value, date) and not isinstance(value, datetime)


def event_time(value: datetime | date | dict[str, str], zone: str | None) -> dict[str, str]:
    """An EventDateTime: {"date"} for a day, {"dateTime", "timeZone"?} for a moment (naive
    moments are in `zone`)."""
    if isinstance(value, dict):
        return dict(value)
    if is_date(value):
        return {"date": value.isoformat()}
    assert isinstance(value, datetime)
    if value.tzinfo is None:
        if zone is None:
            raise ValueError("a naive time needs a time zone")
        value = value.replace(tzinfo=ZoneInfo(zone))
    elif zone is not None:
        value = value.astimezone(ZoneInfo(zone))
    written = {"dateTime": value.isoformat(timespec="seconds")}
    if zone is not None:
        written["timeZone"] = zone
    return written


def check_recurrence(lines: Sequence[str]) -> None:
    for line in lines:
        name = line.split(":", 1)[0].split(";", 1)[0].upper()
        if name not in ("RRULE", "EXDATE"):
            raise ValueError(f"the fake Google Calendar expands RRULE and EXDATE, not {name}")


def originals(stored: Stored, until: datetime) -> Iterator[datetime | date]:
    """The original starts of a series before `until`, EXDATEs left out; bounded."""
    assert stored.recurrence
    all_day = "date" in stored.start
    if all_day:
        first = date.fromisoformat(stored.start["date"])
        start: datetime = datetime(first.year, first.month, first.day)
        limit = until.astimezone(UTC).replace(tzinfo=None)
    else:
        start = datetime.fromisoformat(stored.start["dateTime"])
        zone = stored.start.get("timeZone")
        if zone:
            start = start.astimezone(ZoneInfo(zone))
        limit = until
    rules = [line for line in stored.recurrence if line.upper().startswith("RRULE")]
    excluded = exdates(stored.recurrence, stored.start.get("timeZone"))
    rule = rrulestr("\n".join(rules), dtstart=start, forceset=True)
    for count, moment in enumerate(rule):
        if count >= MAX_INSTANCES or moment >= limit:
            return
        if all_day:
            if moment.date() not in excluded:
                yield moment.date()
        elif moment.astimezone(UTC) not in excluded:
            yield moment


def exdates(lines: Sequence[str], zone: str | None) -> set[Any]:
    found: set[Any] = set()
    for line in lines:
        head, _, values = line.partition(":")
        if not head.upper().startswith("EXDATE"):
            continue
        params = dict(p.split("=", 1) for p in head.split(";")[1:] if "=" in p)
        tz = ZoneInfo(params.get("TZID", zone or "UTC"))
        for value in values.split(","):
            if "T" not in value:
                found.add(datetime.strptime(value, "%Y%m%d").date())
                continue
            moment = datetime.strptime(value.rstrip("Z"), "%Y%m%dT%H%M%S")
            moment = moment.replace(tzinfo=UTC if value.endswith("Z") else tz)
            found.add(moment.astimezone(UTC))
    return found


def instance_id(event_id: str, original: datetime | date) -> str:
    if is_date(original):
        return f"{event_id}_{original.strftime('%Y%m%d')}"
    assert isinstance(original, datetime)
    return f"{event_id}_{original.astimezone(UTC).strftime('%Y%m%dT%H%M%SZ')}"


def original_of(stored: Stored, instance: str) -> datetime | date:
    stamp = instance.rsplit("_", 1)[1]
    if "T" not in stamp:
        return datetime.strptime(stamp, "%Y%m%d").date()
    moment = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    zone = stored.start.get("timeZone")
    return moment.astimezone(ZoneInfo(zone)) if zone else moment


def instance_times(stored: Stored, original: datetime | date) -> tuple[dict[str, str], ...]:
    """An instance's start and end as the series makes them (before any exception)."""
    zone = stored.start.get("timeZone")
    if "date" in stored.start:
        length = date.fromisoformat(stored.end["date"]) - date.fromisoformat(stored.start["date"])
        assert is_date(original)
        return event_time(original, None), event_time(original + length, None)
    assert isinstance(original, datetime)
    length = datetime.fromisoformat(stored.end["dateTime"]) - datetime.fromisoformat(
        stored.start["dateTime"]
    )
    local = original.astimezone(ZoneInfo(zone)) if zone else original
    end = (local.astimezone(UTC) + length).astimezone(local.tzinfo)
    return event_time(local, zone), event_time(end, zone)


def new_event_id(number: int) -> str:
    """Google's event ids: base32hex digits (0-9, a-v), 5 to 1024 of them."""
    digest = hashlib.sha256(f"event-{number}".encode()).digest()
    return base64.b32hexencode(digest).decode().lower().rstrip("=")[:26]
