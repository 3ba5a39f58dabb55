"""The date line of a quoted header block, written in the forwarding client's locale.

Clients write `Tue, Mar 3, 2026 at 10:15 AM`, `Di., 3. März 2026 um 10:15 Uhr`, `3 March 2026
at 10:15:00 CET` or an RFC 5322 date; `dateparser` reads all of them given the languages the
block's labels are in. It is imported on first use: it loads in about 50 ms and each language's
data on first use (10-90 ms), which only forwards should pay. Afterwards a call takes about 1 ms.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

_COMMENT = re.compile(r"\([^()]{0,60}\)")
# No-break and narrow no-break spaces: macOS writes `10:15\u202fAM`.
_SPACES = re.compile(r"[\s\u00a0\u2007\u202f]+")
_MAX_VALUE = 120
# The languages whose forward formats `forward_markers` knows.
_FALLBACK = ("en", "de", "fr", "es", "nl", "it", "pt", "sv", "da", "nb", "pl", "fi")
_SETTINGS: dict[str, Any] = {
    "REQUIRE_PARTS": ["day", "month", "year"],
    # Only absolute dates: a header line never says `yesterday`, and a bare number is no date.
    "PARSERS": ["absolute-time"],
    "TIMEZONE": "UTC",  # what a date without a zone is read in; it is returned naive
}


def forwarded_date(
    value: str, languages: tuple[str, ...], zone: tzinfo | None
) -> tuple[datetime | None, str | None]:
    """The aware date `value` shows and a defect saying what was guessed, or why it is absent.

    A date without a time zone is taken to be in `zone`, the forwarder's (Gmail and Outlook show
    dates in the reader's time zone); without one either, in UTC.
    """
    text = _SPACES.sub(" ", _COMMENT.sub(" ", value[:_MAX_VALUE])).strip()
    shown = value.strip()[:80]
    parsed = _parse(text, languages) if text else None
    if parsed is None:
        return None, f"forwarded date unreadable: {shown!r}; Date left out"
    offset = parsed.utcoffset()
    if offset is not None:
        return parsed.replace(tzinfo=timezone(offset)), None
    if zone is None:
        return parsed.replace(tzinfo=UTC), "forwarded date has no time zone; assumed UTC"
    moment = parsed.replace(tzinfo=zone)
    assumed = _offset(moment)
    return moment, f"forwarded date has no time zone; assumed the forwarder's ({assumed})"


def _parse(text: str, languages: tuple[str, ...]) -> datetime | None:
    parsed = _parse_in(text, languages)
    if parsed is None:
        # Labels and date may disagree (an English `Date:` label over a German date).
        others = tuple(language for language in _FALLBACK if language not in languages)
        parsed = _parse_in(text, others)
    return parsed


def _parse_in(text: str, languages: tuple[str, ...]) -> datetime | None:
    if not languages:
        return None
    import dateparser  # type: ignore[import-untyped]  # lazily: see the module docstring
    from dateparser.timezone_parser import (  # type: ignore[import-untyped]
        pop_tz_offset_from_string,
    )

    settings = dict(_SETTINGS)
    if languages[0] != "en":
        # Numeric dates (`03/04/2026`) are day first everywhere but in US English.
        settings["DATE_ORDER"] = "DMY"
    try:
        # The zone is read apart so that dateparser keeps its offset and never asks for the
        # machine's own zone (a file read, and a warning where none is set).
        rest, zone = pop_tz_offset_from_string(text)
        parsed = dateparser.parse(rest, languages=list(languages), settings=settings)
        if isinstance(parsed, datetime) and zone is not None:
            return parsed.replace(tzinfo=timezone(zone.utcoffset(parsed)))
    except Exception:  # a third-party parser on hostile text: unreadable is the answer
        return None
    return parsed if isinstance(parsed, datetime) else None


def _offset(moment: datetime) -> str:
    offset = moment.utcoffset() or timedelta()
    sign = "-" if offset < timedelta() else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}{minutes % 60:02d}"
