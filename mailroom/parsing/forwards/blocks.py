"""Finding the quoted header block of an inline forward in a body's text.

A block is a separator line (optional for Outlook, whose plain text often has none) followed by
header lines (`From:`, `Sent:`, `To:`, ...) in any order and language; the forwarded text follows
it. The block may be quoted (`> ` prefixes, as Apple Mail's plain text is): the quote depth of its
first header line is removed from the forwarded text.

Only the start of the text is scanned (`MAX_SCAN`), so hostile bodies cost little.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from mailroom.parsing.forwards.markers import (
    ADDRESS_FIELDS,
    Separator,
    field_line,
    is_attribution,
    separator,
)

MAX_SCAN = 64 * 1024
_MAX_FIELDS = 16
_MAX_BLANKS = 3  # blank lines between header lines: HTML turned to text puts them there
_LEADING_BLANKS = re.compile(r"\A(?:[ \t\u00a0]*\n)+")
_QUOTE = re.compile(r"[ \t]*((?:>[ \t]?)+)")
_INVISIBLE = str.maketrans({"\u00a0": " ", "\u200b": None, "\ufeff": None})
# Without a separator only a full Outlook block counts: a lone `From:` line is not a forward.
_BARE_BLOCK_FIELDS = frozenset({"from", "date", "subject"})


@dataclass(frozen=True, slots=True)
class HeaderBlock:
    """A quoted header block: its separator (None when it had none), fields and what follows."""

    separator: Separator | None
    fields: dict[str, str]
    languages: tuple[str, ...]
    body: str


@dataclass
class Scan:
    """What the scan found: a block, the first separator seen, whether a reply quote came first."""

    block: HeaderBlock | None = None
    marker: Separator | None = None
    reply: bool = False


@dataclass(frozen=True, slots=True)
class _Line:
    start: int
    end: int
    depth: int
    text: str
    soft: bool  # ends in a space: a format=flowed soft break, continued on the next line


@dataclass
class _Reader:
    """Header lines read after a separator, up to the first line that is not one."""

    depth: int = -1
    fields: dict[str, str] = field(default_factory=dict)
    languages: list[str] = field(default_factory=list)
    end: int | None = None  # offset of the end of the last header line
    last: str | None = None
    soft: bool = False


def scan_text(text: str) -> Scan:
    """Look for the first forwarded header block in `text`."""
    lines = list(_lines(text))
    scan = Scan()
    for index, line in enumerate(lines):
        previous = lines[index - 1].text if index else ""
        found = separator(line.text)
        if found is not None:
            reader = _read_fields(lines, index + 1)
            scan.block = _block(text, reader, found) if reader is not None else None
            scan.marker = scan.marker or found
            if scan.block is not None or found.strong:
                return scan  # past a forward's separator, later blocks are its quoted text
        elif is_attribution(line.text, previous):
            scan.reply = True
            return scan
        elif (header := field_line(line.text)) is not None and header[0] == "from":
            reader = _read_fields(lines, index)
            if reader is not None and _BARE_BLOCK_FIELDS <= reader.fields.keys():
                scan.block = _block(text, reader, None)
                return scan
    return scan


def _read_fields(lines: list[_Line], start: int) -> _Reader | None:
    """The header lines from `start` on, if they make a block (a From, Subject or Date)."""
    reader = _Reader()
    blanks = 0
    for index in range(start, min(len(lines), start + _MAX_FIELDS + _MAX_BLANKS * 4)):
        line = lines[index]
        if not line.text:
            blanks += 1
            if blanks > _MAX_BLANKS or (reader.fields and line.depth < reader.depth):
                break
            continue
        if reader.depth < 0:
            reader.depth = line.depth  # the separator may sit outside the quote, or inside
        if line.depth != reader.depth or not _take(reader, line.text, blanks):
            break
        blanks = 0
        reader.soft = line.soft
        reader.end = lines[index].end
    if reader.end is None or not ({"from", "subject", "date"} & reader.fields.keys()):
        return None
    return reader


def _block(text: str, reader: _Reader, marker: Separator | None) -> HeaderBlock:
    """The block `reader` read, with the forwarded text after it.

    Only for the block taken: the text runs to the end of the body, and a body of many
    `From:` lines that make no block once cost its whole length for each of them.
    """
    end = reader.end if reader.end is not None else len(text)
    languages = [*(marker.languages if marker is not None else ()), *reader.languages, "en"]
    body = _LEADING_BLANKS.sub("", _unquote(text[end + 1 :], reader.depth)).rstrip()
    return HeaderBlock(marker, reader.fields, tuple(dict.fromkeys(languages)), body)


def _take(reader: _Reader, text: str, blanks: int) -> bool:
    """Add one header line (or the continuation of an address list); False at the block's end."""
    found = field_line(text)
    if found is None:
        last = reader.last
        if last is None or blanks or last not in ADDRESS_FIELDS:
            return False
        if not (reader.soft or reader.fields[last].endswith((",", ";"))):
            return False
        reader.fields[last] = f"{reader.fields[last]} {text}"
        return True
    name, value, languages = found
    if name in reader.fields:
        return False  # a second `Date:` is the forwarded text, not the block
    reader.fields[name] = value
    reader.languages.extend(languages)
    reader.last = name
    return True


def _lines(text: str) -> Iterator[_Line]:
    """The lines of the scanned prefix of `text`, quote markers counted and removed."""
    end = min(len(text), MAX_SCAN)
    pos = 0
    while pos < end:
        stop = text.find("\n", pos, end)
        stop = end if stop < 0 else stop
        raw = text[pos:stop]
        quote = _QUOTE.match(raw)
        depth = quote.group(1).count(">") if quote else 0
        content = raw[quote.end() :] if quote else raw
        content = content.translate(_INVISIBLE)
        yield _Line(pos, stop, depth, content.strip(), content.endswith(" "))
        pos = stop + 1


def _unquote(text: str, depth: int) -> str:
    """Remove `depth` levels of quote markers from every line of `text` that has them."""
    if depth == 0:
        return text
    marker = re.compile(rf"^[ \t]*(?:>[ \t]?){{1,{depth}}}", re.MULTILINE)
    return marker.sub("", text)
