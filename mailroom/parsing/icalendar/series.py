"""The occurrences of recurring events within a window, expanded lazily by
`recurring-ical-events` (RRULE, RDATE, EXDATE, RECURRENCE-ID overrides, time zones, all-day).

A series is asked for one span after another (rules plans them: each holds a few
hundred occurrences at most), first for the part of the window before its rules start (its
RDATEs and moved overrides); the series are merged by start, and the merge stops after the
calendar's limit. So a rule repeating every second costs what the limit allows, not what the
window holds.

An occurrence is its master's (or its override's) event at the occurrence's times, keyed by
its original start in UTC: an override's RECURRENCE-ID, else the start the rule gave it.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta, tzinfo
from itertools import islice
from typing import Any

import recurring_ical_events
from icalendar import Calendar, Component, vDDDLists

from mailroom.envelope import CalendarEvent
from mailroom.parsing.icalendar.events import text
from mailroom.parsing.icalendar.people import values
from mailroom.parsing.icalendar.rules import MAX_SPANS, Plan
from mailroom.parsing.icalendar.text import shown
from mailroom.parsing.icalendar.times import date_value, plain_value, read_span, utc


@dataclass(frozen=True, slots=True)
class Override:
    """A VEVENT with a RECURRENCE-ID: one occurrence changed, or with RANGE=THISANDFUTURE,
    that one and the ones after it moved by `shift`."""

    event: CalendarEvent
    shift: timedelta | None = None


@dataclass(slots=True)
class Series:
    """One recurring event: the VEVENTs sharing its UID, its master read as written."""

    uid: str
    master: CalendarEvent
    components: list[Component]
    plan: Plan
    overrides: dict[datetime, Override] = field(default_factory=dict)


def build_series(
    uid: str,
    master_component: Component,
    master: CalendarEvent,
    members: list[tuple[Component, CalendarEvent]],
    plan: Plan,
) -> Series:
    """The series of the VEVENTs sharing `uid` (each with the event it says), made fit for
    recurring-ical-events."""
    components: list[Component] = []
    overrides: dict[datetime, Override] = {}
    for component, event in members:
        notes = _clean(component, event)
        if text(component, "UID") != uid:  # derived: the library must see the series as one
            component["UID"] = uid
        if component is master_component:
            master = replace(master, defects=(*master.defects, *notes))
        components.append(component)
        if event.recurrence_id is not None:
            overrides[event.recurrence_id] = Override(
                replace(event, defects=(*event.defects, *notes)), _shift(component, event)
            )
    return Series(uid, master, components, plan, overrides)


def _clean(component: Component, event: CalendarEvent) -> list[str]:
    """Take out of a series' VEVENT what recurring-ical-events would trip over, whole series
    lost: broken DTEND, DURATION, EXDATE and RDATE values, a SEQUENCE that is no number.
    (What the event's own times make of DTEND and DURATION is already on it.)"""
    notes: list[str] = []
    end = date_value(component, "DTEND")
    if "DTEND" in component and (end is None or isinstance(end, datetime) == event.all_day):
        del component["DTEND"]
    if "DURATION" in component and not isinstance(plain_value(component, "DURATION"), timedelta):
        del component["DURATION"]
    for name in ("EXDATE", "RDATE"):
        found = values(component, name)
        kept = [value for value in found if isinstance(value, vDDDLists) and _dates(value)]
        if len(kept) < len(found):
            notes.append(f"an {name} could not be read: ignored")
            del component[name]
            if kept:
                component[name] = kept
    if not isinstance(component.get("SEQUENCE", 0), int):
        component["SEQUENCE"] = event.sequence
    return notes


def _dates(value: vDDDLists) -> bool:
    """Whether a list holds dates, times or periods of them (not the times of day some write)."""
    return all(isinstance(getattr(one, "dt", None), date | tuple) for one in value.dts)


def _shift(component: Component, event: CalendarEvent) -> timedelta | None:
    """How far an override with RANGE=THISANDFUTURE moves the occurrences after it."""
    params = getattr(component.get("RECURRENCE-ID"), "params", {})
    if str(params.get("RANGE", "")).upper() != "THISANDFUTURE" or event.recurrence_id is None:
        return None
    return event.start.astimezone(UTC) - event.recurrence_id


def expand(
    series: list[Series],
    *,
    start: datetime,
    end: datetime,
    limit: int,
    floating: tzinfo | None,
    defects: list[str],
) -> list[CalendarEvent]:
    """The occurrences of all `series` within [start, end), the first `limit` of them by start."""
    streams = [_occurrences(one, start, end, floating, defects) for one in series]
    merged = heapq.merge(*streams, key=lambda event: event.start)
    events = list(islice(merged, max(limit, 0)))
    if next(merged, None) is not None:
        defects.append(f"more than {limit} occurrences in the window: read the first {limit}")
    return events


def _occurrences(
    series: Series, start: datetime, end: datetime, floating: tzinfo | None, defects: list[str]
) -> Iterator[CalendarEvent]:
    """The occurrences of one series in order of start, each once."""
    seen: set[datetime] = set()
    try:
        query = recurring_ical_events.of(_calendar(series, floating))
    except Exception as exc:  # the library raises its own errors, ValueError and others
        yield from _failed(series, seen, f"it could not be expanded: {_why(exc)}", defects)
        return
    for number, (low, high) in enumerate(_spans(series.plan, start, end)):
        if number == MAX_SPANS:
            why = f"it repeats too densely to expand after {low:%Y-%m-%d}"
            yield from _failed(series, seen, why, defects)
            return
        try:
            found = [_occurrence(series, one, floating) for one in query.between(low, high)]
        except Exception as exc:  # as above: a rule can fail late, near the end of time
            why = f"it could not be expanded after {low:%Y-%m-%d}: {_why(exc)}"
            yield from _failed(series, seen, why, defects)
            return
        fresh = sorted(
            (pair for pair in found if pair is not None and pair[0] not in seen),
            key=lambda pair: pair[1].start,
        )
        for recurrence_id, event in fresh:
            seen.add(recurrence_id)
            yield event


def _failed(
    series: Series, seen: set[datetime], why: str, defects: list[str]
) -> Iterator[CalendarEvent]:
    """The defect of a series that failed; a series that failed before its first occurrence
    is kept as one event, as a series too costly to expand is."""
    defects.append(f"the series {shown(series.uid)!r}: {why}")
    if not seen:
        yield replace(series.master, defects=(*series.master.defects, f"{why}: kept as one event"))


def _spans(plan: Plan, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The spans to ask for, in order, covering [start, end)."""
    if start >= end:
        return
    low = start
    if plan.span is None or plan.begins > low:
        # Before its rules start a series has only its RDATEs and moved overrides: few.
        high = end if plan.span is None else min(plan.begins, end)
        yield low, high
        low = high
    while plan.span is not None and low < end:
        high = end if plan.span >= end - low else low + plan.span
        yield low, high
        low = high


def _calendar(series: Series, floating: tzinfo | None) -> Calendar:
    calendar = Calendar()
    if floating is not None:
        # recurring-ical-events then expands floating and UTC times in that zone's wall clock.
        calendar.add("X-WR-TIMEZONE", str(floating))
    for component in series.components:
        calendar.add_component(component)
    return calendar


def _occurrence(
    series: Series, component: Any, floating: tzinfo | None
) -> tuple[datetime, CalendarEvent] | None:
    """One occurrence the library gave as a copy of its VEVENT, with DTSTART, DTEND and (the
    original start) RECURRENCE-ID set; with its original start in UTC."""
    span = read_span(component, floating, [])
    original = date_value(component, "RECURRENCE-ID")
    if span is None or original is None:
        return None
    recurrence_id = utc(original, floating)
    template = series.master
    override = series.overrides.get(recurrence_id)
    if override is not None:
        template = override.event
        if override.shift is not None and span.start != override.event.start:
            # After a THISANDFUTURE change the copies keep its RECURRENCE-ID: the original
            # start is where the rule put this one before the change moved it.
            recurrence_id = span.start.astimezone(UTC) - override.shift
    occurrence = replace(
        template,
        recurrence_id=recurrence_id,
        start=span.start,
        end=span.end,
        all_day=span.all_day,
    )
    return recurrence_id, occurrence


def _why(exc: Exception) -> str:
    return shown(f"{type(exc).__name__}: {exc}")
