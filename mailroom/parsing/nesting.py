"""A cheap look at how deeply a raw message nests multiparts, before the stdlib parser sees it.

The stdlib feedparser checks every line against every open boundary, so parsing costs
depth x lines, and past a few hundred levels it raises RecursionError. Messages are cut where
their nesting first exceeds the limit. The estimate may err on the deep side only, never on the
shallow one, so it follows the feedparser closely and, where unsure, keeps a multipart open:

- lines end at CR, LF or CRLF, as the feedparser splits them;
- any line starting with `--` may start a part's headers, and after the headers of a message/*
  part (or of any part of a digest) come the headers of the embedded message;
- every Content-Type header in such a block counts, its boundary read with the same parameter
  parser the feedparser is given (`Part.get_boundary`);
- a multipart is closed only by its own close delimiter while it is the innermost one, and not
  when that delimiter directly follows one of its part delimiters (the feedparser skips those).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailroom.parsing.params import parse_params

_LINE_START = rb"(?:\A|(?<=\n)|(?<=\r)(?!\n))"
_STRUCTURE = re.compile(
    _LINE_START + rb"(?:(?P<blank>\r\n|\r|\n)"
    rb"|--(?P<delimiter>[^\r\n]*)(?:\r\n|\r|\n)?"
    rb"|(?P<content_type>content-type[ \t]*:))",  # blanks before the colon: `parsing.obsolete`
    re.IGNORECASE,
)
_FOLDED_VALUE = re.compile(rb"[^\r\n]*(?:(?:\r\n|\r|\n)[ \t][^\r\n]*)*")
_LINE_BREAKS = re.compile(rb"[\r\n]")


def nesting_cut(raw: bytes, max_depth: int) -> int | None:
    """Offset of the line where multipart nesting first exceeds `max_depth`, or None."""
    # Every multipart level needs a boundary parameter, so a message with no more of them than
    # the limit cannot nest deeper; this keeps the scan below off the path of ordinary mail.
    if raw.lower().count(b"boundary") <= max_depth:
        return None
    scan = _Scan()
    for match in _STRUCTURE.finditer(raw):
        kind = match.lastgroup
        if kind == "blank":
            scan.end_of_block()
        elif kind == "delimiter":
            scan.delimiter(match.group("delimiter").rstrip(b" \t\r"), match.start(), match.end())
        elif scan.in_headers:
            scan.content_type(_FOLDED_VALUE.match(raw, match.end()))
            if len(scan.open) > max_depth:
                return match.start()
    return None


@dataclass
class _Scan:
    """The multiparts that may be open at the current line, innermost last."""

    open: list[tuple[bytes, bool]] = field(default_factory=list)  # boundary, is a digest
    in_headers: bool = True
    message_follows: bool = False
    skipping_at: int = -1  # where a line repeating the last part delimiter would be skipped

    def end_of_block(self) -> None:
        digest = bool(self.open) and self.open[-1][1]
        self.in_headers = self.in_headers and (self.message_follows or digest)
        self.message_follows = False

    def delimiter(self, token: bytes, start: int, next_line: int) -> None:
        self.in_headers, self.message_follows = True, False
        if not self.open:
            return
        innermost = self.open[-1][0]
        # Compared in place: building `innermost + b"--"` for every `--` line cost the
        # boundary's length per line (a 1 MB boundary and 10 million short lines: minutes).
        closing = token[-2:] == b"--" and token[:-2] == innermost
        if not closing and token != innermost:
            return
        if start == self.skipping_at or not closing:
            self.skipping_at = next_line  # a part starts after this and any repeated delimiter
        else:
            self.open.pop()

    def content_type(self, value: re.Match[bytes] | None) -> None:
        text = _LINE_BREAKS.sub(b"", value.group() if value else b"")
        header = parse_params(text.decode("ascii", "surrogateescape"), decode_words=False)
        if header.value.startswith("message/"):
            self.message_follows = True
        boundary = (header.get("boundary") or "").rstrip()
        if boundary and header.value.startswith("multipart/"):
            token = boundary.encode("utf-8", "surrogateescape")
            self.open.append((token, header.value == "multipart/digest"))
