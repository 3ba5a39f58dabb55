"""How much of one message normalize is willing to read; the rest is cut off with a defect."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Bounds on hostile input. Real mail stays far below every one of them.

    `max_bytes` matches the largest message common providers accept (Gmail 50 MB with encoding
    overhead). `max_header_length` leaves room for long References and DKIM chains yet bounds
    what one header can cost. `max_parts` and `max_depth` are well above what clients produce
    (a forwarded thread with attachments rarely exceeds 50 parts or 6 levels); past `max_depth`
    the stdlib parser slows down quadratically (every line is checked against every open
    boundary) and eventually hits Python's recursion limit.
    """

    max_bytes: int = 50 * 1024 * 1024
    max_headers: int = 2000
    max_header_length: int = 1024 * 1024
    max_parts: int = 500
    max_depth: int = 32


DEFAULT_LIMITS = Limits()  # frozen, so one shared default is safe
