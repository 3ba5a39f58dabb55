"""What expanding a series would cost, judged before it is expanded, and how to expand it.

dateutil, which `recurring-ical-events` expands rules with, walks a rule period by period from
its DTSTART, checks UNTIL only against occurrences it finds, and lists every occurrence of the
span it is asked for. So a rule repeating every second since years before the window, a rule
whose BY parts never match a day (the 30th of February: dateutil walks on to the year 9999), an
INTERVAL of 0 (the same start for ever), or one span holding millions of occurrences would keep
it busy for minutes or for ever. Such a series is refused: its master is kept as one event with
a defect. An accepted one is asked for spans holding a few hundred occurrences at most.

Costs are counted in dateutil's periods (and spans asked), per rule and for the whole calendar.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from dateutil.rrule import rrulestr
from icalendar import Component, vDDDLists, vRecur

from mailroom.parsing.icalendar.people import values
from mailroom.parsing.icalendar.text import shown
from mailroom.parsing.icalendar.times import date_value, utc

_SECONDS = {
    "SECONDLY": 1,
    "MINUTELY": 60,
    "HOURLY": 3600,
    "DAILY": 86400,
    "WEEKLY": 7 * 86400,
    "MONTHLY": 28 * 86400,  # the shortest month: periods counted from above
    "YEARLY": 365 * 86400,
}
_SUB_DAILY = {"SECONDLY", "MINUTELY", "HOURLY"}
# Days one period may hold when BY parts pick days in it.
_DAYS = {"WEEKLY": 7, "MONTHLY": 31, "YEARLY": 366}
_DAY_PARTS = ("BYDAY", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYMONTH")
# dateutil walks some 200,000 periods of a plain rule a second.
MAX_RULE_PERIODS = 100_000
MAX_CALENDAR_COST = 250_000
# RDATEs and overrides come in whole with the first span asked, and every span asked looks at
# every override.
MAX_RDATES = 1000
MAX_OVERRIDES = 500
MAX_SPANS = 2000
PER_SPAN = 256  # occurrences a span asked of dateutil may hold
_MAX_OVERLAP = 1000  # occurrences running at once: all of them are in every span
# BYSETPOS makes dateutil list a whole period before it picks: a period of more combinations
# than this is refused.
_MAX_SET = 10_000
# BY parts that can exclude every day. A rule with one is first tried from _PROBE_YEAR, 28
# years before datetime's last: a leap year, and 28 years hold every combination of date and
# weekday. That walks 28 years of its periods at most, of days at most (dateutil skips the
# days it filters out whole).
_MAY_NEVER_MATCH = {"BYMONTH", "BYMONTHDAY", "BYYEARDAY", "BYWEEKNO", "BYSETPOS"}
_PROBE_YEAR = 9972
_PROBE_SECONDS = 28 * 366 * 86400
_SPACES = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class Plan:
    """How to expand a series: spans of `span` (holding PER_SPAN occurrences at most) from
    `begins`, where its rules start; in one span when None (RDATEs only)."""

    begins: datetime
    span: timedelta | None


@dataclass(frozen=True, slots=True)
class _Rule:
    periods: int  # dateutil's periods before the window
    gap: float  # seconds between two occurrences, at the least


class Budget:
    """What is left for expanding the series of one calendar."""

    def __init__(
        self, window_start: datetime, window_end: datetime, floating: tzinfo | None
    ) -> None:
        self.window_start = window_start
        self.window_end = window_end
        self.floating = floating  # where recurring-ical-events puts times without a zone
        self.left = MAX_CALENDAR_COST

    def plan(
        self, master: Component, duration: timedelta, overrides: int, defects: list[str]
    ) -> Plan | str:
        """How to expand the series of `master`, or why not. What it costs is taken from the
        budget (probing a rule that may never match is taken even when it is refused)."""
        first = date_value(master, "DTSTART")
        if first is None:
            return "it has no usable DTSTART"
        if overrides > MAX_OVERRIDES:
            return f"it has more than {MAX_OVERRIDES} changed occurrences"
        rdates = values(master, "RDATE")
        if sum(len(value.dts) for value in rdates if isinstance(value, vDDDLists)) > MAX_RDATES:
            return f"it has more than {MAX_RDATES} RDATEs"
        rules = read_rules(master, defects)
        if rules is None:
            return "its RRULE could not be read"
        judged = self._judge(rules, first)
        if isinstance(judged, str):
            return judged
        try:
            begins = utc(first, self.floating)
        except (OverflowError, ValueError):
            return "its dates are out of range"
        if not judged:
            return Plan(begins, None)
        gap = min(rule.gap for rule in judged)
        if duration.total_seconds() / gap > _MAX_OVERLAP:
            return f"more than {_MAX_OVERLAP} of its occurrences run at once"
        span = timedelta(seconds=max(1.0, gap * PER_SPAN))
        walked = self.window_end - max(self.window_start, begins)
        spans = min(MAX_SPANS, max(0, math.ceil(walked / span)))
        refused = self._take(sum(rule.periods for rule in judged) + spans * (1 + overrides))
        return refused if refused is not None else Plan(begins, span)

    def _judge(self, rules: list[vRecur], first: date) -> list[_Rule] | str:
        judged: list[_Rule] = []
        for rule in rules:
            found = _judge(rule, first, self.window_start)
            if isinstance(found, str):
                return found
            if _may_never_match(rule):
                # Taken whatever the probe finds: a calendar of never-matching rules is an attack.
                freq = _first_text(rule, "FREQ")
                refused = self._take(math.ceil(_PROBE_SECONDS / max(86400, _SECONDS[freq])))
                if refused is None:
                    refused = _probe(rule, first)
                if refused is not None:
                    return refused
            judged.append(found)
        return judged

    def _take(self, cost: int) -> str | None:
        if cost > self.left:
            return "the calendar's series cost too much to expand them all"
        self.left -= cost
        return None


def recurs(component: Component) -> bool:
    """Whether a VEVENT repeats: it has an RRULE that is not empty, or an RDATE."""
    rules = [value for value in values(component, "RRULE") if value and str(value).strip()]
    return bool(rules or values(component, "RDATE"))


def read_rules(component: Component, defects: list[str]) -> list[vRecur] | None:
    """The RRULEs of `component`, put back as read. One written with spaces in it (as
    Exchange does: `BYDAY=MO, TU`) is read without them; of COUNT and UNTIL, which RFC 5545
    forbids together (and dateutil warns about), UNTIL is kept; an empty one is dropped. None
    if one cannot be read at all."""
    rules: list[vRecur] = []
    for value in values(component, "RRULE"):
        rule = value
        if not isinstance(rule, vRecur):
            try:
                rule = vRecur.from_ical(_SPACES.sub("", str(value)))
            except (ValueError, TypeError):
                return None
            defects.append("its RRULE has spaces in it: read without them")
        if "COUNT" in rule and "UNTIL" in rule:
            rule = vRecur({key: found for key, found in rule.items() if key != "COUNT"})
            defects.append("its RRULE has both COUNT and UNTIL: COUNT ignored")
        if rule:
            rules.append(rule)
    if "RRULE" in component:
        del component["RRULE"]
    if rules:
        component["RRULE"] = rules[0] if len(rules) == 1 else rules
    return rules


def _judge(rule: vRecur, first: date, window_start: datetime) -> _Rule | str:
    freq = _first_text(rule, "FREQ")
    if freq not in _SECONDS:
        return f"its FREQ {shown(freq)!r} is unknown"
    interval = _interval(rule)
    if interval < 1:
        return "its INTERVAL is below 1"
    per_period = _per_period(rule, freq)
    if "BYSETPOS" in rule and (freq in _SUB_DAILY or per_period > _MAX_SET):
        return f"it sets BYSETPOS on a rule repeating {freq} with {per_period} times a period"
    try:
        horizon = window_start
        until = _first_value(rule, "UNTIL")
        if isinstance(until, date):
            horizon = min(horizon, utc(until, None))
        elapsed = max(0.0, (horizon - utc(first, None)).total_seconds())
    except (OverflowError, ValueError):
        return "its dates are out of range"
    periods = int(elapsed // (_SECONDS[freq] * interval))
    if periods > MAX_RULE_PERIODS:
        return f"it repeats {freq} from {first:%Y-%m-%d}: too often before the window"
    return _Rule(periods, _SECONDS[freq] * interval / per_period)


def _per_period(rule: vRecur, freq: str) -> int:
    """How many occurrences one period may hold, at the most."""
    count = 1
    for part in ("BYSECOND", "BYMINUTE", "BYHOUR"):
        count *= max(1, len(rule.get(part, [])))
    if any(part in rule for part in _DAY_PARTS):
        count *= _DAYS.get(freq, 1)
    return count


def _probe(rule: vRecur, first: date) -> str | None:
    """None when the rule finds an occurrence within 28 years, else why not."""
    probe = vRecur({key: value for key, value in rule.items() if key not in ("COUNT", "UNTIL")})
    wall = first if isinstance(first, datetime) else datetime.combine(first, time())
    try:
        text = probe.to_ical().decode()  # type: ignore[no-untyped-call]  # unannotated there
        rule_set = rrulestr(text, dtstart=wall.replace(tzinfo=None, year=_PROBE_YEAR))
        found = next(iter(rule_set), None)
    except (ValueError, TypeError, OverflowError) as exc:
        return f"its rule cannot be expanded ({shown(str(exc))})"
    return None if found is not None else "its rule never matches a day"


def _may_never_match(rule: vRecur) -> bool:
    if any(part in rule for part in _MAY_NEVER_MATCH):
        return True
    # An ordinal weekday (6MO: a sixth Monday) may exist in no month.
    return any(any(ch.isdigit() for ch in str(day)) for day in rule.get("BYDAY", []))


def _interval(rule: vRecur) -> int:
    value = _first_value(rule, "INTERVAL")
    try:
        return int(value) if value is not None else 1
    except (TypeError, ValueError):
        return 0


def _first_value(rule: vRecur, key: str) -> Any:
    found = rule.get(key)
    if isinstance(found, list):
        return found[0] if found else None
    return found


def _first_text(rule: vRecur, key: str) -> str:
    return str(_first_value(rule, key) or "").strip().upper()
