"""UID sets as a server writes them (`41,43:116`), read as ranges and never expanded: the
server chooses them, and `1:4294967295` alone would be four billion UIDs."""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence

from mailroom.sources.imap.errors import ProtocolError

# A VANISHED response's data (RFC 7162): an optional (EARLIER) tag, then a UID set. UIDs are
# 32-bit numbers, hence at most 10 digits.
_UID = rb"\d{1,10}"
_VANISHED = re.compile(rb"(?:\(EARLIER\) )?(%s(?::%s)?(?:,%s(?::%s)?)*)" % ((_UID,) * 4))
_RANGE = re.compile(rb"(\d+)(?::(\d+))?")


def ranges(vanished: bytes) -> Iterator[tuple[int, int]]:
    """The (lowest, highest) ranges of a VANISHED response's data, e.g. b"(EARLIER) 4,7:9"."""
    match = _VANISHED.fullmatch(vanished.strip())
    if match is None:
        raise ProtocolError(f"the server sent an unreadable VANISHED response: {vanished[:80]!r}")
    for found in _RANGE.finditer(match.group(1)):
        first, last = int(found.group(1)), int(found.group(2) or found.group(1))
        yield min(first, last), max(first, last)


def vanished_among(responses: Iterable[object], known: Sequence[int]) -> set[int]:
    """Which of `known` (ascending UIDs) the VANISHED `responses` name. Each range costs two
    binary searches and two marks, however wide it is and however often it overlaps others;
    the marks are summed once at the end."""
    # depth[i] - depth[i - 1]: how many ranges start at known[i], less those ending before it.
    marks = array("q", [0]) * (len(known) + 1)
    for response in responses:
        if not isinstance(response, bytes):
            raise ProtocolError("the server sent a VANISHED response with a literal in it")
        for lowest, highest in ranges(response):
            start, stop = bisect_left(known, lowest), bisect_right(known, highest)
            if start < stop:
                marks[start] += 1
                marks[stop] -= 1
    found: set[int] = set()
    depth = 0
    for index, uid in enumerate(known):
        depth += marks[index]
        if depth:
            found.add(uid)
    return found
