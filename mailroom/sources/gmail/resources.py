"""What the client returns, read from Gmail's JSON (the shapes of Google's discovery document
for gmail v1) into frozen dataclasses. Anything missing or of the wrong type is a
ProtocolError naming the field: the sync never sees half a message.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from mailroom.sources.gmail.errors import ProtocolError
from mailroom.sources.headers import header_block

ChangeKind = Literal["messageAdded", "messageDeleted", "labelAdded", "labelRemoved"]
CHANGE_FIELDS: dict[str, ChangeKind] = {
    "messagesAdded": "messageAdded",
    "messagesDeleted": "messageDeleted",
    "labelsAdded": "labelAdded",
    "labelsRemoved": "labelRemoved",
}


@dataclass(frozen=True, slots=True)
class Profile:
    email_address: str
    messages_total: int
    threads_total: int
    history_id: int  # where increments start after a first sync that began now


@dataclass(frozen=True, slots=True)
class MessageRef:
    id: str
    thread_id: str


@dataclass(frozen=True, slots=True)
class MessagePage:
    """One page of messages.list, newest first; `next_page_token` None on the last page."""

    messages: tuple[MessageRef, ...]
    next_page_token: str | None
    result_size_estimate: int


@dataclass(frozen=True, slots=True)
class RawMessage:
    """A message as messages.get?format=raw returns it, its bytes decoded."""

    id: str
    thread_id: str
    raw: bytes
    label_ids: frozenset[str]
    history_id: int
    internal_date: datetime  # when Google accepted it (UTC); Gmail orders by it


@dataclass(frozen=True, slots=True)
class MessageHead:
    """A message as messages.get?format=metadata returns it: its header fields, not its
    bytes (for a message too large to fetch whole). `header` is those fields as a header
    block, in Gmail's order."""

    id: str
    thread_id: str
    header: bytes
    size: int
    label_ids: frozenset[str]
    internal_date: datetime


@dataclass(frozen=True, slots=True)
class Gone:
    """The message was deleted between being listed and being fetched (404)."""

    id: str


@dataclass(frozen=True, slots=True)
class Oversize:
    """The message's answer would exceed `limit` bytes; it was not read."""

    id: str
    limit: int


Fetched = RawMessage | Gone | Oversize


@dataclass(frozen=True, slots=True)
class Change:
    """One change to one message. `label_ids` are the labels added or removed for label
    changes, the message's labels for an addition, and empty (or as given) for a deletion."""

    kind: ChangeKind
    message_id: str
    thread_id: str
    label_ids: frozenset[str]


@dataclass(frozen=True, slots=True)
class HistoryRecord:
    id: int
    changes: tuple[Change, ...]


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of history.list. `history_id` is the mailbox's current history id: store it
    once the last page (no `next_page_token`) has been applied."""

    records: tuple[HistoryRecord, ...]
    next_page_token: str | None
    history_id: int

    @property
    def changes(self) -> Iterator[Change]:
        for record in self.records:
            yield from record.changes


def parse_json(body: bytes, what: str) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise ProtocolError(f"Gmail's answer to {what} is not JSON") from error
    if not isinstance(payload, dict):
        raise ProtocolError(f"Gmail's answer to {what} is not a JSON object")
    return payload


def profile(payload: dict[str, Any]) -> Profile:
    return Profile(
        email_address=_field(payload, "emailAddress", str),
        messages_total=_field(payload, "messagesTotal", int, 0),
        threads_total=_field(payload, "threadsTotal", int, 0),
        history_id=_id(payload, "historyId"),
    )


def message_page(payload: dict[str, Any]) -> MessagePage:
    refs = tuple(
        MessageRef(_key(item, "id"), _key(item, "threadId"))
        for item in _objects(payload, "messages")
    )
    return MessagePage(
        messages=refs,
        next_page_token=_field(payload, "nextPageToken", str, None) or None,
        result_size_estimate=_field(payload, "resultSizeEstimate", int, len(refs)),
    )


def raw_message(payload: dict[str, Any]) -> RawMessage:
    encoded = _field(payload, "raw", str)
    try:
        # Gmail writes base64url, with or without padding; validate=True refuses stray bytes.
        raw = base64.b64decode(
            encoded.translate(_URLSAFE) + "=" * (-len(encoded) % 4), validate=True
        )
    except (binascii.Error, ValueError) as error:
        raise ProtocolError("a message's raw field is not base64url") from error
    internal_date = _date(payload)
    return RawMessage(
        id=_key(payload, "id"),
        thread_id=_key(payload, "threadId"),
        raw=raw,
        label_ids=frozenset(_strings(payload, "labelIds")),
        history_id=_id(payload, "historyId"),
        internal_date=internal_date,
    )


def message_head(payload: dict[str, Any], limit: int) -> MessageHead:
    """`limit` bounds the header block rebuilt from the fields (a hostile server's header is
    cut there, at a field's end)."""
    payload_part = _field(payload, "payload", dict)
    fields = (
        (_field(header, "name", str), _field(header, "value", str))
        for header in _objects(payload_part, "headers")
    )
    header = header_block(fields, limit)
    return MessageHead(
        id=_key(payload, "id"),
        thread_id=_key(payload, "threadId"),
        header=header,
        size=_field(payload, "sizeEstimate", int, 0),
        label_ids=frozenset(_strings(payload, "labelIds")),
        internal_date=_date(payload),
    )


def history_page(payload: dict[str, Any]) -> HistoryPage:
    records = []
    for record in _objects(payload, "history"):
        changes = []
        for field, kind in CHANGE_FIELDS.items():
            for item in _objects(record, field):
                message = item.get("message")
                if not isinstance(message, dict):
                    raise ProtocolError(f"a history record's {field} entry has no message")
                labels = item if kind in ("labelAdded", "labelRemoved") else message
                changes.append(
                    Change(
                        kind,
                        _key(message, "id"),
                        _key(message, "threadId"),
                        frozenset(_strings(labels, "labelIds")),
                    )
                )
        records.append(HistoryRecord(_id(record, "id"), tuple(changes)))
    return HistoryPage(
        records=tuple(records),
        next_page_token=_field(payload, "nextPageToken", str, None) or None,
        history_id=_id(payload, "historyId"),
    )


def _date(payload: dict[str, Any]) -> datetime:
    millis = _id(payload, "internalDate")
    try:
        return datetime.fromtimestamp(millis / 1000, UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise ProtocolError(f"a message's internalDate is out of range: {millis}") from error


_URLSAFE = str.maketrans("-_", "+/")
_MISSING: Any = object()


def _field(payload: dict[str, Any], name: str, kind: type, default: Any = _MISSING) -> Any:
    value = payload.get(name, _MISSING)
    if value is _MISSING:
        if default is _MISSING:
            raise ProtocolError(f"Gmail's answer lacks {name}")
        return default
    # bool is an int in Python; no Gmail integer field is ever a boolean.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ProtocolError(f"Gmail's {name} is not a {kind.__name__}")
    return value


# Gmail's message and thread ids are hex digits. Whatever a server sends goes into a request's
# path (where `.` and `..` would name another resource) and into a stored key of at most 600
# characters: anything else is refused, not fetched and not stored.
_KEY = re.compile(r"[0-9A-Za-z_-]{1,128}")


def _key(payload: dict[str, Any], name: str) -> str:
    text: str = _field(payload, name, str)
    if not _KEY.fullmatch(text):
        raise ProtocolError(f"Gmail's {name} is not an id: {text[:40]!r}")
    return text


def _id(payload: dict[str, Any], name: str) -> int:
    """uint64 and int64 fields come as decimal strings."""
    text = _field(payload, name, str)
    if not text.isascii() or not text.isdigit() or len(text) > 20:
        raise ProtocolError(f"Gmail's {name} is not a number: {text[:40]!r}")
    return int(text)


def _objects(payload: dict[str, Any], name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = _field(payload, name, list, [])
    if not all(isinstance(item, dict) for item in items):
        raise ProtocolError(f"Gmail's {name} holds something other than objects")
    return items


def _strings(payload: dict[str, Any], name: str) -> list[str]:
    items: list[str] = _field(payload, name, list, [])
    if not all(isinstance(item, str) for item in items):
        raise ProtocolError(f"Gmail's {name} holds something other than strings")
    return items
