"""Header fields written with blanks before the colon (`Subject : x`, `From\t:a@x.org`), as
RFC 5322's obsolete syntax allows (section 4.5) and real mail still does.

The stdlib's feedparser, under every policy, takes such a line for the first line of a body and
loses every header after it, in a message, a MIME part or an embedded message alike. The top
header block is known before parsing, and its gaps are closed in the bytes (`close_gaps`). The
blocks inside are known only once the feedparser has found the structure, so a part whose
headers it ended at such a line is read again with the gap closed (`reread_parts`). Each part
read again may show another inside it, so the bytes read again are kept within a budget.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from email.errors import MissingHeaderBodySeparatorDefect
from email.message import Message

_LINE_START = rb"(?:\A|(?<=\n)|(?<=\r)(?!\n))"  # lines end at CRLF, LF or a lone CR
_GAP = re.compile(_LINE_START + rb"([\x21-\x39\x3b-\x7e]+)[ \t]+:")
# The line the feedparser stopped at, at the start of a part's body or preamble.
_GAP_FIRST = re.compile(r"[\x21-\x39\x3b-\x7e]+[ \t]+:")

OVER_BUDGET = (
    "header fields with blanks before the colon in more parts than could be read again: "
    "the rest were read as the parser found them"
)
TOO_DEEP = "header fields with blanks before the colon in a part too deep to read again"


def close_gaps(block: bytes) -> bytes:
    """`block`, a header block, with the blanks before each field's colon removed."""
    if b" :" not in block and b"\t:" not in block:
        return block
    return _GAP.sub(rb"\1:", block)


def reread_parts(
    root: Message, reread: Callable[[bytes], Message], budget: int, max_parts: int
) -> list[str]:
    """Read again, through `reread`, each part below `root` whose headers the feedparser ended
    at a field with blanks before its colon, while the bytes read again stay within `budget`
    and the parts within `max_parts`. Parts are replaced in place; the defects say what could
    not be read again."""
    pending = [root]
    while pending:
        payload = pending.pop().get_payload()
        if not isinstance(payload, list):
            continue
        for index, part in enumerate(payload):
            if not isinstance(part, Message):
                continue
            source = _cut_source(part)
            if source is not None:
                if len(source) > budget or max_parts <= 0:
                    return [OVER_BUDGET]
                budget, max_parts = budget - len(source), max_parts - 1
                try:
                    fresh = reread(source)
                except RecursionError:
                    return [TOO_DEEP]
                payload[index] = part = _mended(part, fresh)
            pending.append(part)
    return []


def _cut_source(part: Message) -> bytes | None:
    """What the feedparser left of `part`'s headers, from the line it stopped at: the whole
    part (headers and body) for a single part, the preamble for a multipart."""
    if not any(isinstance(d, MissingHeaderBodySeparatorDefect) for d in part.defects):
        return None
    body = part.preamble if part.is_multipart() else part.get_payload()
    if not isinstance(body, str) or not _GAP_FIRST.match(body):
        return None
    if part.is_multipart():
        return _bytes(body)
    head = "".join(f"{name}: {value}\n" for name, value in part.raw_items())
    return _bytes(head + body)


def _mended(part: Message, fresh: Message) -> Message:
    if not part.is_multipart():
        # The parser gives a part its default type from where it is (a digest's parts are
        # messages); read alone, it would not know.
        fresh.set_default_type(part.get_default_type())
        return fresh
    # The multipart's parts were found; only its preamble held the rest of its headers.
    for name, value in fresh.raw_items():
        part[name] = value
    rest = fresh.get_payload()
    part.preamble = rest if isinstance(rest, str) and rest else None
    part.defects = [d for d in part.defects if not isinstance(d, MissingHeaderBodySeparatorDefect)]
    return part


def _bytes(text: str) -> bytes:
    # compat32 keeps 8-bit bytes as surrogate escapes; they go back to the bytes they were.
    return text.encode("utf-8", "surrogateescape")
