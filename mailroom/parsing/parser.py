"""Raw bytes to a compat32 message tree, bounded against hostile input and never raising.

compat32 is used because it is several times faster than `policy.default`; headers are decoded
by this package instead. `Part` replaces the one stdlib method the parser calls that is
quadratic on hostile input (`get_boundary`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any

from mailroom.parsing.headertext import unfold
from mailroom.parsing.limits import Limits
from mailroom.parsing.nesting import nesting_cut
from mailroom.parsing.obsolete import close_gaps, reread_parts
from mailroom.parsing.params import parse_params

# The first empty line, with lines ending at CRLF, LF or a lone CR as the feedparser splits them.
_HEADER_END = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")
# Parts with `Subject :` in their headers are read again within this many bytes plus twice the
# message's size: a few levels of embedded messages, each hiding the next, but never once per
# level of a chain made to be read again and again.
REREAD_BYTES = 1024 * 1024


# RFC 2046 allows 70 characters. The stdlib compiles a multipart's boundary into a regular
# expression at about a microsecond per character (a 40 MB one: half a minute); a longer one is
# no boundary, and the stdlib records a NoBoundaryInMultipartDefect.
MAX_BOUNDARY = 1000


class Part(Message):
    """A compat32 message whose boundary lookup is linear in the header length."""

    def get_boundary(self, failobj: Any = None) -> Any:
        value = first_header(self, "content-type")
        if value is None:
            return failobj
        boundary = parse_params(unfold(value), decode_words=False).get("boundary")
        if not boundary or len(boundary) > MAX_BOUNDARY:
            return failobj
        # rstrip as the stdlib does: trailing blanks are dropped from delimiter lines too.
        return boundary.rstrip()


def first_header(part: Message, name: str) -> str | None:
    """The raw value of the first header called `name` (lowercase), without stdlib decoding."""
    for key, value in part.raw_items():
        if key.lower() == name:
            return value if isinstance(value, str) else str(value)
    return None


@dataclass
class Parsed:
    """The message tree, whether only its header block was read, and why."""

    message: Message
    headers_only: bool = False
    defects: list[str] = field(default_factory=list)


def parse_message(raw: bytes, limits: Limits) -> Parsed:
    """Parse `raw`, reading only the header block when it is too big or too deep to parse."""
    if len(raw) > limits.max_bytes:
        defect = f"message is {len(raw)} bytes, over {limits.max_bytes}: only headers were read"
        return Parsed(parse_header_block(raw[: limits.max_bytes]), True, [defect])
    defects: list[str] = []
    raw = _repair_names(raw)
    cut = nesting_cut(raw, limits.max_depth)
    if cut is not None:
        defects.append(f"MIME nesting deeper than {limits.max_depth}: message cut at byte {cut}")
        raw = raw[:cut]
    try:
        message = _parse(raw, False)
    except RecursionError:
        defects.append("MIME structure too deep for the parser: only headers were read")
        return Parsed(parse_header_block(raw), True, defects)
    if b" :" in raw or b"\t:" in raw:  # else no header the parser met can have a gap
        budget = REREAD_BYTES + 2 * len(raw)
        defects.extend(reread_parts(message, _reread, budget, limits.max_parts))
    return Parsed(message, False, defects)


def parse_header_block(raw: bytes) -> Message:
    """Parse only the top-level header block of `raw` (everything up to the first blank line)."""
    raw = _repair_names(raw)
    match = _HEADER_END.search(raw)
    return _parse(raw[: match.end()] if match else raw, True)


def _parse(data: bytes, headers_only: bool) -> Message:
    parser: BytesParser[Part] = BytesParser(Part, policy=policy.compat32)  # type: ignore[arg-type]
    return parser.parsebytes(data, headersonly=headers_only)


def _reread(data: bytes) -> Message:
    return _parse(_repair_names(data), False)


def _repair_names(raw: bytes) -> bytes:
    """Close the gaps in `Subject :` (`parsing.obsolete`) in the top header block."""
    match = _HEADER_END.search(raw)
    end = match.start() if match else len(raw)
    block = raw[:end]
    repaired = close_gaps(block)
    return raw if repaired is block else repaired + raw[end:]
