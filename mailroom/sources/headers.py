"""A header block rebuilt from the header fields an API lists (Gmail's format=metadata,
Graph's internetMessageHeaders), for a message too large to fetch whole: it is kept with its
header, as the IMAP sync keeps one. Written here by hand because no library takes fields from
an untrusted server: a name must be a field name and a value cannot carry line breaks, or the
server could write fields of its choosing.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from mailroom.errors import ProtocolError

# Printable ASCII without a colon (RFC 5322 2.2).
_FIELD_NAME = re.compile(r"[\x21-\x39\x3b-\x7e]{1,200}")
_BREAKS = re.compile(r"[\r\n]+")


def header_block(fields: Iterable[tuple[str, str]], limit: int) -> bytes:
    """The fields as a header block ending in its empty line, cut at a field's end before
    `limit` bytes."""
    lines: list[bytes] = []
    size = 0
    for name, value in fields:
        if not _FIELD_NAME.fullmatch(name):
            raise ProtocolError(f"a header field name is not one: {name[:40]!r}")
        line = f"{name}: {_BREAKS.sub(' ', value)}\r\n".encode()
        size += len(line)
        if size > limit:
            break
        lines.append(line)
    return b"".join(lines) + b"\r\n"
