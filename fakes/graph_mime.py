"""How Exchange reads a message's MIME for Graph's message resource, in the local Graph
(fakes/graph.py): the header fields it lifts into properties (subject, from, recipients, the
thread's root, internetMessageHeaders) and the body with its preview."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.header import decode_header, make_header
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any


def _decoded(value: Any) -> str:
    """A header field's text, encoded words decoded, unfolded."""
    text = str(value)
    try:
        text = str(make_header(decode_header(text)))
    except (ValueError, LookupError, UnicodeError):
        pass
    return re.sub(r"\r?\n[ \t]*", " ", text).strip()


def _recipients(values: list[Any]) -> list[dict[str, Any]]:
    found = []
    for name, address in getaddresses([_decoded(v) for v in values]):
        if address:
            found.append({"emailAddress": {"name": name or address, "address": address}})
    return found


def read_headers(raw: bytes) -> dict[str, Any]:
    """What Exchange reads of a message's header for the message resource."""
    header = BytesHeaderParser(policy=compat32).parsebytes(raw)
    references = (header.get("references") or "").split()
    in_reply_to = (header.get("in-reply-to") or "").split()
    try:
        date: datetime | None = parsedate_to_datetime(str(header.get("date", "")))
        if date is not None and date.tzinfo is None:
            date = date.replace(tzinfo=UTC)
    except (TypeError, ValueError, IndexError):
        date = None
    priority = (header.get("importance") or header.get("x-priority") or "").strip().lower()
    importance = "high" if priority[:1] in ("h", "1", "2") else "normal"
    if priority[:1] in ("l", "4", "5"):
        importance = "low"
    return {
        "subject": _decoded(header.get("subject", "")),
        "message_id": (header.get("message-id") or "").strip(),
        "thread_root": (references or in_reply_to or [""])[0],
        "thread_index": (header.get("thread-index") or "").strip() or None,
        "date": date,
        "importance": importance,
        "read_receipt": "disposition-notification-to" in header,
        "content_type": header.get_content_type(),
        "from": _recipients(header.get_all("from", [])),
        "sender": _recipients(header.get_all("sender", [])),
        "to": _recipients(header.get_all("to", [])),
        "cc": _recipients(header.get_all("cc", [])),
        "bcc": _recipients(header.get_all("bcc", [])),
        "reply_to": _recipients(header.get_all("reply-to", [])),
        "all": [{"name": name, "value": _decoded(value)} for name, value in header.items()],
    }


def read_body(raw: bytes) -> tuple[dict[str, str], str]:
    """The body resource (HTML preferred, as Graph answers by default) and the preview (its
    first 255 characters of text)."""
    try:
        message = message_from_bytes(raw, policy=policy.default)
        part = message.get_body(preferencelist=("html", "plain"))
        content = part.get_content() if part is not None else ""
        kind = "html" if part is not None and part.get_content_subtype() == "html" else "text"
    except (LookupError, ValueError, AttributeError, UnicodeError):
        content, kind = "", "text"
    text = re.sub(r"<[^>]*>", " ", content) if kind == "html" else content
    preview = re.sub(r"\s+", " ", text).strip()[:255]
    return {"contentType": kind, "content": content}, preview
