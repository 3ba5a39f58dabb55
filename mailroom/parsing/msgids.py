"""Message-ID, In-Reply-To and References: the ids threading relies on, read from garbage too.

Ids are stored without angle brackets. Bracketed ids are taken wherever they appear (In-Reply-To
often carries prose around them); a value with no brackets at all yields the words that look
like ids (`local@domain`). Counts and lengths are capped so that a hostile References header
cannot grow every thread row.
"""

from __future__ import annotations

import hashlib
import re

_BRACKETED = re.compile(r"<([^<>]*)>")
_BARE_ID = re.compile(r"[^\s<>,;()\"']+@[^\s<>,;()\"']+")
_WHITESPACE = re.compile(r"\s+")
MAX_ID_LENGTH = 500
# jwz threading needs the root (first) and the parent (last) most; the middle is a hint.
KEEP_REFERENCES = 50


def extract_ids(value: str) -> list[str]:
    """Every message id in a header value, in order, without brackets, duplicates removed."""
    found = [_WHITESPACE.sub("", m.group(1)) for m in _BRACKETED.finditer(value)]
    if not found and "<" not in value:
        found = [m.group() for m in _BARE_ID.finditer(value)]
    seen: set[str] = set()
    ids: list[str] = []
    for ident in found:
        if ident and len(ident) <= MAX_ID_LENGTH and ident not in seen:
            seen.add(ident)
            ids.append(ident)
    return ids


def first_id(value: str | None) -> str | None:
    """The message id of a Message-ID header, or None when it holds none."""
    if value is None:
        return None
    ids = extract_ids(value)
    return ids[0] if ids else None


def capped(ids: list[str]) -> tuple[str, ...]:
    """Keep the first and the last `KEEP_REFERENCES` ids of a long chain."""
    if len(ids) <= 2 * KEEP_REFERENCES:
        return tuple(ids)
    return tuple(ids[:KEEP_REFERENCES] + ids[-KEEP_REFERENCES:])


def id_key(message_id: str) -> str:
    """A narrow digest of a message id, for indexes: whatever length a sender wrote, 32
    characters (threads and reply pairs are found by it)."""
    return hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:32]
