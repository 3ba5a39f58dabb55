"""Header values as text: unfolding, raw 8-bit bytes and RFC 2047 encoded words.

The compat32 parser hands header values over as written, with folding line breaks kept and
any raw 8-bit byte smuggled in as a lone surrogate (`surrogateescape`). This module turns such a
value into plain text; structured headers (addresses, parameters) decode encoded words only in
the pieces where RFC 2047 allows them, after they have been split.
"""

from __future__ import annotations

import base64
import binascii
import re

from mailroom.parsing.charsets import decode_bytes, decode_utf8

# Lenient on purpose: some clients put spaces inside encoded words or omit the whitespace around
# them, and every mail client decodes those too. `*lang` after the charset is RFC 2231's.
_ENCODED_WORD = re.compile(r"=\?([^?\s*]{1,64})(?:\*[^?\s]*)?\?([bBqQ])\?([^?]*)\?=")
_BASE64_JUNK = re.compile(r"[^A-Za-z0-9+/]")
_LINE_BREAKS = re.compile(r"[\r\n]+")


def unfold(value: str) -> str:
    """Remove the line breaks of folded header lines (RFC 5322 2.2.3), keeping the whitespace."""
    if "\n" in value or "\r" in value:
        return value.replace("\r", "").replace("\n", "")
    return value


def recover_8bit(value: str, fallback_charset: str | None = None) -> str:
    """Decode raw 8-bit header bytes (surrogate escapes) as UTF-8, else the fallback charset."""
    return decode_8bit(value, fallback_charset)[0]


def decode_8bit(value: str, fallback_charset: str | None = None) -> tuple[str, bool]:
    """Like `recover_8bit`, also saying whether the text is known (ASCII or UTF-8), not guessed."""
    if value.isascii():
        return value, True
    try:
        raw = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "replace").decode("utf-8"), False
    text = decode_utf8(raw)
    if text is not None:
        return text, "\ufffd" not in text
    return decode_bytes(raw, fallback_charset), False


def decode_encoded_words(text: str) -> str:
    """Decode RFC 2047 encoded words, joining adjacent ones before decoding their bytes.

    Adjacent words are joined because senders split multibyte characters across them.
    """
    if "=?" not in text:
        return text
    out: list[str] = []
    pending = bytearray()
    pending_charset = ""
    pos = 0
    for match in _ENCODED_WORD.finditer(text):
        between = text[pos : match.start()]
        charset = match.group(1).lower()
        data = _decode_word(match.group(2), match.group(3))
        if data is None:
            continue
        if not (pending and (between.isspace() or not between)):
            out.append(_flush(pending, pending_charset))
            out.append(between)
        elif charset != pending_charset:
            out.append(_flush(pending, pending_charset))
        pending_charset = charset
        pending += data
        pos = match.end()
    out.append(_flush(pending, pending_charset))
    out.append(text[pos:])
    return "".join(out)


def _flush(pending: bytearray, charset: str) -> str:
    if not pending:
        return ""
    text = decode_bytes(bytes(pending), charset)
    pending.clear()
    return text


def _decode_word(encoding: str, payload: str) -> bytes | None:
    if encoding in "qQ":
        return binascii.a2b_qp(payload.encode("utf-8", "replace"), header=True)
    cleaned = _BASE64_JUNK.sub("", payload)
    cleaned += "=" * (-len(cleaned) % 4)
    try:
        return base64.b64decode(cleaned)
    except (binascii.Error, ValueError):
        return None


def header_text(value: str, fallback_charset: str | None = None) -> str:
    """An unstructured header value (Subject, a filename) as readable text."""
    text = decode_encoded_words(recover_8bit(unfold(value), fallback_charset))
    # A header is one line: line breaks can only come from encoded words, and NUL from nowhere.
    return _LINE_BREAKS.sub(" ", text).replace("\x00", "").strip()
