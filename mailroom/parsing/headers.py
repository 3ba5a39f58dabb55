"""The header block of one message or part, read once, within limits, as raw values."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message


@dataclass
class HeaderTable:
    """Raw header values by lowercase name, in the order they appear."""

    values: dict[str, list[str]] = field(default_factory=dict)
    defects: list[str] = field(default_factory=list)

    def first(self, name: str) -> str | None:
        found = self.values.get(name)
        return found[0] if found else None

    def all(self, name: str) -> list[str]:
        return self.values.get(name, [])


def read_headers(part: Message, max_headers: int, max_length: int) -> HeaderTable:
    """Collect `part`'s headers; past `max_headers` or `max_length` they are cut with a defect."""
    table = HeaderTable()
    for count, (name, value) in enumerate(part.raw_items()):
        if count >= max_headers:
            table.defects.append(f"more than {max_headers} headers: the rest were ignored")
            break
        text = value if isinstance(value, str) else str(value)
        if len(text) > max_length:
            table.defects.append(f"{name} header longer than {max_length} characters: truncated")
            text = text[:max_length]
        table.values.setdefault(name.lower(), []).append(text)
    return table


_BLOCK_END = re.compile(rb"\r?\n\r?\n")
# What the gateway reads of one header before it answers. Real From, Message-ID and Received
# values are far shorter; reading is done on the event loop, where parsing a 25 MB From as an
# address list took seconds, so a longer value is cut there (ingest reads it whole later).
MAX_SCANNED_VALUE = 64 * 1024


def scan_header_block(raw: bytes, names: frozenset[str]) -> HeaderTable:
    """The top header block's values of the headers `names` (lowercase), unfolded, without
    parsing the message: the gateway reads a few headers of every message before it answers,
    and the stdlib parser spent longer on that than everything else it did (bench/smtp.py).
    Bytes are decoded as the stdlib's compat32 parser decodes them (ASCII, 8-bit bytes kept as
    surrogate escapes), so the address parser sees the same text either way. Values are cut at
    `MAX_SCANNED_VALUE` characters, with a defect."""
    end = _BLOCK_END.search(raw)
    block = raw[: end.start()] if end else raw
    table = HeaderTable()
    name: str | None = None
    # A value's folded lines are joined once it ends: adding each to the value so far copied
    # the value for every line (a From folded over a million lines: minutes, before the 250).
    pieces: list[str] = []
    size = 0
    for line in block.split(b"\n"):
        line = line.rstrip(b"\r")
        if line[:1] in (b" ", b"\t"):
            if name is not None and size <= MAX_SCANNED_VALUE:
                pieces.append(line.strip().decode("ascii", "surrogateescape"))
                size += len(pieces[-1]) + 1
            continue
        if name is not None:
            _add_scanned(table, name, pieces)
        key, colon, value = line.partition(b":")
        lowered = key.strip().decode("ascii", "replace").lower()
        name = lowered if colon and lowered in names else None
        pieces = [value.strip().decode("ascii", "surrogateescape")] if name is not None else []
        size = len(pieces[0]) if pieces else 0
    if name is not None:
        _add_scanned(table, name, pieces)
    return table


def _add_scanned(table: HeaderTable, name: str, pieces: list[str]) -> None:
    value = " ".join(pieces)
    if len(value) > MAX_SCANNED_VALUE:
        table.defects.append(f"{name} header longer than {MAX_SCANNED_VALUE} characters: cut")
        value = value[:MAX_SCANNED_VALUE]
    table.values.setdefault(name, []).append(value)
