"""The text of an iCalendar file made fit for `icalendar` to parse: its size capped, components
left open closed, its nesting bounded. Text that cannot be parsed at all becomes a defect."""

from __future__ import annotations

import re
import warnings

from icalendar import Calendar, Component
from icalendar.error import GloballyUniqueTZIDGuessed

from mailroom.parsing.addresses.grammar import short

# VCALENDAR > VEVENT > VALARM is as deep as calendars go; icalendar walks components
# recursively, so a file nesting thousands deep would exhaust the stack.
MAX_DEPTH = 8
_CONTROLS = re.compile(r"[\x00-\x1f\x7f]")


def parse_calendar(data: bytes | str, max_bytes: int, defects: list[str]) -> list[Component]:
    """The top-level components of `data` (usually one VCALENDAR), or none with a defect."""
    raw = _bounded_bytes(data, max_bytes, defects)
    if raw is None:
        return []
    raw = _close_components(raw, defects)
    if raw is None:
        return []
    try:
        with warnings.catch_warnings():
            # Its guess for a TZID like /mozilla.org/20070129_1/America/New_York (the Olson
            # name after the vendor's prefix) is what such TZIDs mean. Not recorded: a record
            # would be shared by parses in other threads.
            warnings.simplefilter("ignore", GloballyUniqueTZIDGuessed)
            parsed = Calendar.from_ical(raw, multiple=True)
    except Exception as exc:  # icalendar raises ValueError, and text provokes others
        defects.append(f"not an iCalendar file: {shown(str(exc))}")
        return []
    return list(parsed) if isinstance(parsed, list) else [parsed]


def _bounded_bytes(data: bytes | str, max_bytes: int, defects: list[str]) -> bytes | None:
    if isinstance(data, str):
        if len(data) > max_bytes:  # a character is at least a byte: refuse before encoding
            defects.append(f"over {max_bytes} bytes: not read")
            return None
        # A lone surrogate cannot be encoded; it becomes "?" rather than an exception.
        data = data.encode("utf-8", "replace")
    raw = bytes(data)
    if len(raw) > max_bytes:
        defects.append(f"{len(raw)} bytes, over the {max_bytes}-byte limit: not read")
        return None
    return raw


def _close_components(raw: bytes, defects: list[str]) -> bytes | None:
    """`raw` with the components it leaves open closed at its end (icalendar would silently drop
    them), or None when it nests deeper than MAX_DEPTH."""
    stack: list[bytes] = []
    for line in raw.splitlines():
        # Folded continuation lines start with a space, so they never match.
        head = line[:6].upper()
        if head == b"BEGIN:":
            stack.append(line[6:].strip().upper())
            if len(stack) > MAX_DEPTH:
                defects.append(f"components nested more than {MAX_DEPTH} deep: not read")
                return None
        elif head[:4] == b"END:" and stack:
            stack.pop()
    if not stack:
        return raw
    names = " > ".join(name.decode("ascii", "replace") for name in stack)
    defects.append(f"the calendar ends inside {shown(names)}: closed it there")
    closing = b"".join(b"END:" + name + b"\r\n" for name in reversed(stack))
    return raw.rstrip(b"\r\n") + b"\r\n" + closing


def shown(text: str) -> str:
    """`text` fit for a defect: control characters as "?" (PostgreSQL's JSON takes no NUL),
    cut short."""
    return short(_CONTROLS.sub("?", text))
