"""Forwards that carry the original as an attached message/rfc822 part, cut out byte for byte.

The stdlib parser keeps no offsets, and writing its tree back changes line endings and folding.
So the parsed tree only says where the part is (its path of part indices); the bytes are then cut
from the raw message by following the same boundaries down that path. When the cut and the
parsed tree disagree (malformed boundaries the parser repaired), the part is written back from
the tree instead, with a defect saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from mailroom.parsing.attachments import decode_transfer, embedded_message
from mailroom.parsing.limits import Limits
from mailroom.parsing.parser import parse_header_block
from mailroom.parsing.parts import part_info

_EMBEDDED = frozenset({"message/rfc822", "message/global"})
# A delivery report quotes the message that bounced; that is no forward.
_NOT_FORWARDS = frozenset({"multipart/report"})
_LINE_END = re.compile(rb"\r\n|\r|\n")
_HEADER_END = re.compile(rb"(?:\r\n|\r(?!\n)|\n)(?:\r\n|\r(?!\n)|\n)")
_COMPARED_HEADERS = 8


@dataclass(frozen=True, slots=True)
class Attached:
    """The first attached message's bytes, and what was noticed on the way."""

    data: bytes
    subject_source: Message  # header block of the attached message, to read its subject
    defects: tuple[str, ...]


def find_attached(raw: bytes, message: Message, limits: Limits) -> Attached | None:
    """The first message/rfc822 part of `message` (parsed from `raw`), or None."""
    paths = _embedded_paths(message, limits.max_parts)
    if not paths:
        return None
    defects: list[str] = []
    if len(paths) > 1:
        defects.append(f"{len(paths)} messages are attached; the first was taken")
    part = _part_at(message, paths[0])
    data = _cut(raw, message, paths[0], part)
    if data is None:
        data = embedded_message(part, part_info(part, limits))[0]
        defects.append("attached message written back from the parsed tree: bytes may differ")
    return Attached(data, parse_header_block(data), tuple(defects))


def _embedded_paths(message: Message, budget: int) -> list[tuple[int, ...]]:
    """Paths to message/* parts in document order, not looking inside them."""
    found: list[tuple[int, ...]] = []
    stack: list[tuple[tuple[int, ...], Message]] = [((), message)]
    while stack and budget > 0:
        budget -= 1
        path, part = stack.pop()
        ctype = part.get_content_type()
        if ctype in _EMBEDDED:
            found.append(path)
        elif ctype.startswith("multipart/") and ctype not in _NOT_FORWARDS:
            children = _children(part)
            stack.extend(((*path, i), children[i]) for i in reversed(range(len(children))))
    return found


def _cut(raw: bytes, message: Message, path: tuple[int, ...], part: Message) -> bytes | None:
    """The content of the part at `path`, cut from `raw` and transfer-decoded, or None."""
    span = _locate(raw, message, path)
    if span is None:
        return None
    start, end = span
    data = raw[_body_start(raw, start, end) : end]
    encoding = str(part.get("content-transfer-encoding", "")).strip().lower()
    if encoding in ("base64", "quoted-printable"):
        # Not allowed for message/rfc822 (RFC 2046 5.2.1), written anyway by some clients.
        return decode_transfer(data, encoding, undecodable=b"") or None
    inner = _children(part)
    return data if inner and _same_headers(data, inner[0]) else None


def _locate(raw: bytes, message: Message, path: tuple[int, ...]) -> tuple[int, int] | None:
    """The byte span of the part at `path`, its MIME headers included."""
    start, end = 0, len(raw)
    node = message
    for index in path:
        boundary = node.get_boundary()
        children = _children(node)
        if not isinstance(boundary, str) or index >= len(children):
            return None
        token = boundary.encode("ascii", "surrogateescape")
        spans = _part_spans(raw, _body_start(raw, start, end), end, token)
        if len(spans) != len(children):
            return None
        start, end = spans[index]
        node = children[index]
    return start, end


def _part_spans(raw: bytes, start: int, end: int, boundary: bytes) -> list[tuple[int, int]]:
    """The parts between `--boundary` lines (RFC 2046 5.1.1), as the stdlib feedparser reads them.

    The line break before a delimiter line belongs to the delimiter, not to the part.
    """
    delimiter = re.compile(
        rb"(?<![^\r\n])--" + re.escape(boundary) + rb"(--)?[ \t]*(?:\r\n|\r|\n|\Z)"
    )
    spans: list[tuple[int, int]] = []
    opened: int | None = None
    for match in delimiter.finditer(raw, start, end):
        if opened is not None:
            spans.append((opened, _before_line_end(raw, match.start())))
        if match.group(1):
            return spans
        opened = match.end()
    if opened is not None:
        spans.append((opened, end))  # no close delimiter: the last part runs to the end
    return spans


def _body_start(raw: bytes, start: int, end: int) -> int:
    """Where the content of the entity at `raw[start:end]` begins, after its header block."""
    lead = _LINE_END.match(raw, start, end)
    if lead is not None:
        return lead.end()  # no headers at all
    found = _HEADER_END.search(raw, start, end)
    return found.end() if found else end


def _before_line_end(raw: bytes, pos: int) -> int:
    if raw[max(pos - 2, 0) : pos] == b"\r\n":
        return pos - 2
    return pos - 1 if pos > 0 and raw[pos - 1 : pos] in (b"\n", b"\r") else pos


def _same_headers(data: bytes, inner: Message) -> bool:
    """Whether the cut bytes start with the header names the parser saw in the attached message."""
    names = [key.lower() for key in inner.keys()[:_COMPARED_HEADERS]]
    cut = [key.lower() for key in parse_header_block(data).keys()[:_COMPARED_HEADERS]]
    return bool(names) and names == cut


def _part_at(message: Message, path: tuple[int, ...]) -> Message:
    node = message
    for index in path:
        node = _children(node)[index]
    return node


def _children(part: Message) -> list[Message]:
    payload = part.get_payload()
    items = payload if isinstance(payload, list) else []
    return [item for item in items if isinstance(item, Message)]
