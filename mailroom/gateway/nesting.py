"""A cheap look at how deeply a raw message nests multiparts, before the stdlib parser sees it.

The stdlib feedparser checks every line against every open boundary, so parsing costs
depth x lines, and past a few hundred levels it raises RecursionError. Messages are cut where
their nesting first exceeds the limit. The estimate errs on the deep side (a boundary whose
close delimiter is missing stays open until an outer delimiter closes it), so the bound holds.
"""

from __future__ import annotations

import re

_STRUCTURE = re.compile(
    rb"^(?P<blank>\r?)$"
    rb"|^--(?P<delimiter>[^\r\n]*)"
    rb"|content-type:[ \t]*message/(?P<message>)"
    rb"|boundary\*?0?\*?[ \t]*=[ \t]*\"?(?P<boundary>[^\"\r\n;]*)",
    re.MULTILINE | re.IGNORECASE,
)


def nesting_cut(raw: bytes, max_depth: int) -> int | None:
    """Offset of the line where multipart nesting first exceeds `max_depth`, or None."""
    # A message with fewer boundary declarations than the limit cannot nest deeper than it;
    # this keeps the scan below off the path of ordinary mail.
    if raw.lower().count(b"boundary") <= max_depth:
        return None
    open_boundaries: list[bytes] = []
    in_headers, message_follows = True, False
    for match in _STRUCTURE.finditer(raw):
        kind = match.lastgroup
        if kind == "blank":
            in_headers, message_follows = in_headers and message_follows, False
        elif kind == "delimiter":
            if _close(open_boundaries, match.group("delimiter").rstrip(b" \t\r")):
                in_headers, message_follows = True, False
        elif not in_headers:
            continue
        elif kind == "message":
            message_follows = True
        else:
            open_boundaries.append(match.group("boundary").rstrip())
            if len(open_boundaries) > max_depth:
                return raw.rfind(b"\n", 0, match.start()) + 1
    return None


def _close(open_boundaries: list[bytes], token: bytes) -> bool:
    """Apply a delimiter line: close the parts nested inside its multipart (or itself)."""
    for keep, candidate in ((1, token), (0, token[:-2] if token.endswith(b"--") else None)):
        if candidate is not None and candidate in open_boundaries:
            index = len(open_boundaries) - 1 - open_boundaries[::-1].index(candidate)
            del open_boundaries[index + keep :]
            return True
    return False
