"""Meetings from iCalendar files (.ics): each file's events, recurring ones expanded over the
calendar window, stored in the mailbox's `files` calendar.

An item is the occurrence itself (its UID and original start), so importing a file again, or
a newer export of the same calendar, updates the meetings instead of doubling them. A file that
is not iCalendar, or too large to be one anyone exports, is `Unreadable`; a broken one is kept
with what could be read and its defects.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mailroom.intake.events import (
    CalendarRules,
    EventItem,
    EventReport,
    apply_events,
    event_key,
)
from mailroom.models import Mailbox
from mailroom.sources.files.formats import Unreadable

FILES = "files"  # the mailbox's calendar that imported files fill
MAX_FILE_BYTES = 16 * 1024 * 1024
_SNIFF = 4096


@dataclass(slots=True)
class CalendarImport:
    report: EventReport = field(default_factory=EventReport)
    files: int = 0
    defects: list[str] = field(default_factory=list)  # "file: defect"
    unreadable: list[Unreadable] = field(default_factory=list)


def is_calendar(path: Path) -> bool:
    """Whether `path` is a file that starts as iCalendar does (after a BOM or blank lines)."""
    if not path.is_file():
        return False
    try:
        with path.open("rb") as handle:
            head = handle.read(_SNIFF)
    except OSError:
        return False
    return head.lstrip(b"\xef\xbb\xbf \t\r\n").upper().startswith(b"BEGIN:VCALENDAR")


async def import_calendars(
    mailbox: Mailbox, paths: Iterable[Path], rules: CalendarRules
) -> CalendarImport:
    from mailroom.parsing.icalendar import read_calendar

    result = CalendarImport()
    start, end = rules.window()
    for path in paths:
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                result.unreadable.append(
                    Unreadable(path, f"{size} bytes, over the {MAX_FILE_BYTES} a calendar may be")
                )
                continue
            data = path.read_bytes()
        except OSError as error:
            result.unreadable.append(Unreadable(path, error.strerror or str(error)))
            continue
        reading = read_calendar(
            data,
            start=start,
            end=end,
            max_occurrences=rules.max_occurrences,
            max_bytes=MAX_FILE_BYTES,
        )
        result.files += 1
        result.defects += [f"{path}: {defect}" for defect in reading.defects]
        items = [EventItem(event_key(e.uid, e.recurrence_id), e) for e in reading.events]
        if not items and reading.defects:
            result.unreadable.append(Unreadable(path, "no event could be read"))
            continue
        result.report.merge(
            await apply_events(mailbox, FILES, items, max_attendees=rules.max_attendees)
        )
    return result
