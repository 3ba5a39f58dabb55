"""Calendars in iCalendar (RFC 5545): a `.ics` file, an invitation's `text/calendar` part or a
CalDAV resource, read into the occurrences Mailroom stores.

`read_calendar` gives the iTIP METHOD and the events: a single event once, whatever the window
(an invitation is that meeting whenever it is); a recurring event once per occurrence in the
window; an override whose series is not in the file (a REQUEST or CANCEL for one occurrence)
once, keyed by its RECURRENCE-ID. It never raises on what it reads: what it cannot read is a
defect, on the calendar or on the event it concerns. All of it is bounded: the input's size
and nesting (text), the work of expanding each rule and all of them (rules),
the occurrences expanded for the whole calendar (series).

    text     bytes to icalendar's components: size, components left open, parse
    events   one VEVENT as a CalendarEvent (times, people)
    rules    what expanding a rule would cost; the costly ones refused
    series   the occurrences of series in a window, lazily, merged by start
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from icalendar import Component

from mailroom.envelope import CalendarEvent
from mailroom.parsing.icalendar.events import Context, read_event, text
from mailroom.parsing.icalendar.rules import Budget, recurs
from mailroom.parsing.icalendar.series import Series, build_series, expand
from mailroom.parsing.icalendar.text import parse_calendar, shown

__all__ = ["CalendarReading", "read_calendar"]

_Read = tuple[Component, CalendarEvent]  # a VEVENT and the event it says


@dataclass(frozen=True, slots=True)
class CalendarReading:
    """What one calendar says.

    `method` is the iTIP METHOD upper-cased (REQUEST, CANCEL, REPLY, PUBLISH), None without one.
    `events` holds the single events and lone overrides in the file's order, then the
    occurrences of recurring events by start. `defects` are the calendar's, one short sentence
    each; an event's own defects are on the event.
    """

    method: str | None
    events: tuple[CalendarEvent, ...]
    defects: tuple[str, ...]


def read_calendar(
    data: bytes | str,
    *,
    start: datetime,
    end: datetime,
    max_occurrences: int = 1000,
    max_bytes: int = 4 * 1024 * 1024,
) -> CalendarReading:
    """Read `data`, expanding recurring events over [start, end) (naive times are UTC) up to
    `max_occurrences` occurrences in all; more than `max_bytes` is refused with a defect."""
    defects: list[str] = []
    roots = parse_calendar(data, max_bytes, defects)
    method = next((found for root in roots if (found := text(root, "METHOD", upper=True))), None)
    context = Context(cancelled=method == "CANCEL", floating=_floating_zone(roots, defects))
    read: list[_Read] = []
    for root in roots:
        defects.extend(
            f"a line could not be read: {shown(why)}" for name, why in root.errors if name is None
        )
        for component in root.walk("VEVENT"):
            event = read_event(component, context, defects)
            if event is not None:
                read.append((component, event))
    budget = Budget(_utc(start), _utc(end), context.floating)
    singles, series = _arrange(read, budget)
    occurrences = expand(
        series,
        start=budget.window_start,
        end=budget.window_end,
        limit=max_occurrences,
        floating=context.floating,
        defects=defects,
    )
    return CalendarReading(method, (*_latest(singles), *occurrences), tuple(defects))


def _arrange(read: list[_Read], budget: Budget) -> tuple[list[CalendarEvent], list[Series]]:
    """The events read apart: those kept as they are, and the series to expand."""
    groups: dict[str, list[_Read]] = {}
    for component, event in read:
        groups.setdefault(event.uid, []).append((component, event))
    singles: list[CalendarEvent] = []
    series: list[Series] = []
    for uid, members in groups.items():
        masters = [
            (component, event)
            for component, event in members
            if event.recurrence_id is None and recurs(component)
        ]
        if not masters:
            singles.extend(event for _, event in members)
            continue
        # recurring-ical-events expands the master with the highest SEQUENCE, the first on a tie.
        master_component, master = max(masters, key=lambda found: found[1].sequence)
        notes: list[str] = []
        overrides = sum(1 for _, event in members if event.recurrence_id is not None)
        plan = budget.plan(master_component, master.end - master.start, overrides, notes)
        if isinstance(plan, str):
            # Its overrides stand alone then, like those of a series not in the file.
            notes.append(f"{plan}: kept as one event, not expanded")
            master = replace(master, defects=(*master.defects, *notes))
            singles.extend(
                master if found is master_component else event for found, event in members
            )
            continue
        master = replace(master, defects=(*master.defects, *notes))
        series.append(build_series(uid, master_component, master, members, plan))
    return singles, series


def _latest(events: list[CalendarEvent]) -> list[CalendarEvent]:
    """Each (UID, RECURRENCE-ID) once: the highest SEQUENCE, the later on a tie, in the place
    of the first."""
    kept: dict[tuple[str, datetime | None], CalendarEvent] = {}
    for event in events:
        key = (event.uid, event.recurrence_id)
        if key not in kept or event.sequence >= kept[key].sequence:
            kept[key] = event
    return list(kept.values())


def _floating_zone(roots: list[Component], defects: list[str]) -> tzinfo | None:
    """The zone X-WR-TIMEZONE names (Google's and Apple's exports): where times written without
    one are."""
    for root in roots:
        name = text(root, "X-WR-TIMEZONE")
        if name is None:
            continue
        try:
            return ZoneInfo(name)
        except Exception:  # ZoneInfoNotFoundError, ValueError for a malformed key, OSError
            defects.append(f"unknown X-WR-TIMEZONE {shown(name)!r}: ignored")
            return None
    return None


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
