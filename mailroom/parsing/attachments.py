"""Metadata of attachments, inline parts, embedded messages and calendar parts.

Only metadata is kept (the bytes stay in the raw message): the decoded size and SHA-256, the
decoded filename without any directory part, and whether the part is shown inline.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import quopri
import re
from email.message import Message
from email.policy import Compat32

from mailroom.envelope import Attachment, CalendarPart
from mailroom.parsing.charsets import decode_bytes
from mailroom.parsing.headers import read_headers
from mailroom.parsing.headertext import header_text
from mailroom.parsing.parser import parse_header_block
from mailroom.parsing.parts import PartInfo

_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_METHOD = re.compile(r"^METHOD[ \t]*:[ \t]*([A-Za-z-]+)", re.MULTILINE | re.IGNORECASE)
_BASE64_JUNK = re.compile(rb"[^A-Za-z0-9+/]")
_MAX_FILENAME = 255


class _Verbatim(Compat32):
    """compat32 writing header values back as they were read.

    The stdlib refolds every header it writes, at about a microsecond per byte; the values the
    parser kept still carry their original folding, so writing them as they are is both closer
    to the original bytes and linear.
    """

    def fold_binary(self, name: str, value: str) -> bytes:
        return f"{name}: {value}{self.linesep}".encode("utf-8", "surrogateescape")


_VERBATIM = _Verbatim()


def attachment(
    info: PartInfo, data: bytes, *, related: bool, name: str | None = None
) -> Attachment:
    """An attachment record for a part whose decoded bytes are `data`."""
    content_id = info.content_id
    inline = content_id is not None and (info.disposition == "inline" or related)
    return Attachment(
        filename=clean_filename(info.filename) or name,
        content_type=info.content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        inline=inline,
        content_id=content_id,
    )


def clean_filename(filename: str | None) -> str | None:
    """The decoded filename without directories or control characters (it may be saved)."""
    if not filename:
        return None
    name = _CONTROL.sub("", filename).replace("\\", "/").rpartition("/")[2].strip()
    return name[:_MAX_FILENAME] or None


def calendar_part(info: PartInfo, data: bytes) -> CalendarPart:
    """A text/calendar part with its iTIP method (REQUEST, CANCEL, REPLY...)."""
    text = decode_bytes(data, info.charset or "utf-8").replace("\r\n", "\n")
    method = (info.params.get("method") or "").strip()
    if not method:
        found = _METHOD.search(text)
        method = found.group(1) if found else ""
    return CalendarPart(method=method.upper() or None, text=text, size=len(data))


def embedded_message(part: Message, info: PartInfo) -> tuple[bytes, str]:
    """The bytes of a message/* part's content and a filename made from its subject."""
    chunks = [_as_bytes(sub) for sub in _payload_messages(part)]
    data = b"\n".join(chunks)
    subject: str | None = None
    if info.transfer_encoding in ("base64", "quoted-printable"):
        # The stdlib parses the still-encoded text as a message; undo the encoding here.
        data = decode_transfer(data, info.transfer_encoding)
        subject = _subject(parse_header_block(data))
    elif chunks:
        subject = _subject(_payload_messages(part)[0])
    return data, f"{subject or 'message'}.eml"


def _payload_messages(part: Message) -> list[Message]:
    payload = part.get_payload()
    items = payload if isinstance(payload, list) else []
    return [item for item in items if isinstance(item, Message)]


def _as_bytes(message: Message) -> bytes:
    try:
        return message.as_bytes(policy=_VERBATIM)
    except Exception:  # the generator trips over some broken trees; metadata is best effort
        return b""


def decode_transfer(data: bytes, encoding: str, *, undecodable: bytes | None = None) -> bytes:
    """A part's bytes with its quoted-printable or base64 undone (junk in base64 skipped, the
    padding made up); bytes that are still not base64 give `undecodable`, by default the
    bytes as they were."""
    if encoding == "quoted-printable":
        return quopri.decodestring(data)
    cleaned = _BASE64_JUNK.sub(b"", data)
    try:
        return base64.b64decode(cleaned + b"=" * (-len(cleaned) % 4))
    except (binascii.Error, ValueError):
        return data if undecodable is None else undecodable


def _subject(message: Message) -> str | None:
    headers = read_headers(message, 200, 10_000)
    subject = headers.first("subject")
    if subject is None:
        return None
    # A subject is not a path: its slashes stay in the name instead of cutting it.
    name = _CONTROL.sub("", header_text(subject)).replace("/", "_").replace("\\", "_")
    return name.strip()[:_MAX_FILENAME] or None
