"""Rows (plain dicts, see `models.bulk`) for an envelope: the message, its participants and its
attachments.

Text from mail goes into databases that refuse some of it: PostgreSQL rejects NUL characters
in text and JSON, and neither database takes unpaired surrogates. Such characters are replaced
here, where the envelope meets storage; the raw bytes keep the original.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from uuid_utils.compat import uuid7

from mailroom.envelope import Envelope
from mailroom.parsing.addresses.owners import registrable_domain

# Bodies beyond this are cut in the message row (the raw bytes keep them whole): they would
# only slow every page that lists messages.
MAX_STORED_BODY = 2 * 1024 * 1024


def clean(value: str | None, limit: int | None = None) -> str | None:
    if value is None:
        return None
    if "\x00" in value:
        value = value.replace("\x00", "\ufffd")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value[:limit] if limit is not None else value


def stored_body(value: str | None) -> str | None:
    """A body as the message row holds it."""
    value = clean(value)
    return value[:MAX_STORED_BODY] if value is not None else None


def _body(value: str | None, defects: list[str], what: str) -> str | None:
    stored = stored_body(value)
    if stored is not None and len(stored) < len(value or ""):
        defects.append(f"{what} body longer than {MAX_STORED_BODY} characters, stored cut")
    return stored


def content_digest(
    subject: str | None, text: str | None, html: str | None, attachments: Sequence[str]
) -> str:
    """A digest of what a member sees of a message beyond its metadata: the subject, the
    bodies and the attachments (by their digests), as stored. Two sightings of a Message-ID
    are one message only when this is the same for both: whoever writes a mail chooses its
    Message-ID, so an id alone must never make someone the owner of another's content."""
    parts = json.dumps([subject, text, html, list(attachments)], ensure_ascii=False)
    return hashlib.sha256(parts.encode("utf-8", "surrogatepass")).hexdigest()


def envelope_content_digest(envelope: Envelope) -> str:
    """`content_digest` of the message row and attachment rows `envelope` will be stored as."""
    return content_digest(
        clean(envelope.subject),
        stored_body(envelope.text),
        stored_body(envelope.html),
        [a.sha256 for a in envelope.attachments],
    )


def message_row(
    workspace_id: UUID, raw_message_id: UUID, dedupe_key: str, envelope: Envelope
) -> dict[str, Any]:
    defects = [clean(d) or "" for d in envelope.defects]
    offset = envelope.date.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    return dict(
        id=uuid7(),
        workspace_id=workspace_id,
        dedupe_key=dedupe_key,
        internet_message_id=clean(envelope.message_id),
        raw_message_id=raw_message_id,
        subject=clean(envelope.subject),
        normalized_subject=clean(envelope.normalized_subject, 255) or "",
        sent_at=envelope.date,
        utc_offset=max(-32768, min(32767, minutes)),
        date_source=envelope.date_source.value,
        in_reply_to=clean(envelope.in_reply_to[0]) if envelope.in_reply_to else None,
        references=[clean(r) or "" for r in envelope.references],
        text=_body(envelope.text, defects, "text"),
        html=_body(envelope.html, defects, "HTML"),
        snippet=clean(envelope.snippet, 200) or "",
        has_attachments=any(not a.inline for a in envelope.attachments),
        list_id=clean(envelope.list_id, 255),
        bulk=envelope.bulk,
        bulk_signals=list(envelope.bulk_signals),
        calendar=[_calendar(c.method, c.text, c.size) for c in envelope.calendar],
        defects=defects,
        size=envelope.size,
    )


def _calendar(method: str | None, text: str, size: int) -> dict[str, Any]:
    return {"method": clean(method), "text": clean(text), "size": size}


def participant_rows(
    workspace_id: UUID, message_id: UUID, envelope: Envelope
) -> list[dict[str, Any]]:
    rows = []
    position: dict[str, int] = {}
    for role, address in envelope.participants():
        index = position.get(role, 0)
        position[role] = index + 1
        rows.append(
            dict(
                id=uuid7(),
                workspace_id=workspace_id,
                message_id=message_id,
                role=role,
                position=min(index, 32767),
                address=clean(address.address, 320) or "",
                domain=clean(registrable_domain(address.domain) or address.domain, 255) or "",
                name=clean(address.name),
                sent_at=envelope.date,
            )
        )
    return rows


def attachment_rows(message_id: UUID, envelope: Envelope) -> list[dict[str, Any]]:
    return [
        dict(
            id=uuid7(),
            message_id=message_id,
            position=min(index, 32767),
            filename=clean(a.filename),
            content_type=clean(a.content_type, 255) or "application/octet-stream",
            size=a.size,
            sha256=a.sha256,
            inline=a.inline,
            content_id=clean(a.content_id, 255),
        )
        for index, a in enumerate(envelope.attachments)
    ]
