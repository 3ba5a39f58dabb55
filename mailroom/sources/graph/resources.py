"""Graph's answers as Mailroom reads them: a page of a folder's message delta, a page of a
folder's message ids, the signed-in user. Anything of the wrong shape is a ProtocolError, and
every id is checked before it goes into a request's path or a stored key.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mailroom.sources.graph.errors import ProtocolError
from mailroom.sources.headers import header_block

# Graph's message ids (REST and immutable) are URL-safe base64. Whatever a server sends goes
# into a request's path and into a stored key of at most 600 characters: anything else is
# refused, not fetched and not stored.
_ID = re.compile(r"[0-9A-Za-z_=-]{1,500}")


@dataclass(frozen=True, slots=True)
class DeltaItem:
    """A message of a delta page: there (added, moved in or changed) or `removed` from the
    folder (deleted or moved out). A removed entry carries its id only."""

    id: str
    removed: bool = False
    conversation_id: str | None = None
    internet_message_id: str | None = None
    received_at: datetime | None = None
    draft: bool = False


@dataclass(frozen=True, slots=True)
class DeltaPage:
    """One page: `next_link` to follow, or on the last page `delta_link`, where the next round
    starts. Exactly one of them is set."""

    items: tuple[DeltaItem, ...]
    next_link: str | None
    delta_link: str | None


@dataclass(frozen=True, slots=True)
class Folder:
    id: str
    total: int  # messages in it


@dataclass(frozen=True, slots=True)
class IdPage:
    ids: tuple[str, ...]
    next_link: str | None


@dataclass(frozen=True, slots=True)
class Gone:
    """Deleted between being listed and being fetched (404)."""

    id: str


@dataclass(frozen=True, slots=True)
class Oversize:
    """The message's MIME would exceed `limit` bytes; it was not read."""

    id: str
    limit: int


Fetched = bytes | Gone | Oversize


def parse_json(body: bytes, what: str) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise ProtocolError(f"Graph's answer to {what} is not JSON") from error
    if not isinstance(payload, dict):
        raise ProtocolError(f"Graph's answer to {what} is not a JSON object")
    return payload


def delta_page(payload: dict[str, Any]) -> DeltaPage:
    items = tuple(_delta_item(entry) for entry in _objects(payload, "value"))
    next_link = _link(payload, "@odata.nextLink")
    delta_link = _link(payload, "@odata.deltaLink")
    if (next_link is None) == (delta_link is None):
        raise ProtocolError("a delta page must end in exactly one of a next link or a delta link")
    return DeltaPage(items, next_link, delta_link)


def id_page(payload: dict[str, Any]) -> IdPage:
    ids = tuple(message_id(entry) for entry in _objects(payload, "value"))
    return IdPage(ids, _link(payload, "@odata.nextLink"))


def folder(payload: dict[str, Any]) -> Folder:
    total = payload.get("totalItemCount", 0)
    if not isinstance(total, int) or isinstance(total, bool) or total < 0:
        raise ProtocolError("Graph's totalItemCount is not a count")
    return Folder(message_id(payload), total)


def message_head(payload: dict[str, Any], limit: int) -> bytes:
    """A message's header block from its internetMessageHeaders, at most `limit` bytes."""
    fields = []
    for header in _objects(payload, "internetMessageHeaders"):
        name, value = header.get("name"), header.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            raise ProtocolError("Graph's internetMessageHeaders holds a field that is not one")
        fields.append((name, value))
    return header_block(fields, limit)


def message_id(payload: dict[str, Any]) -> str:
    value = payload.get("id")
    if not isinstance(value, str) or not _ID.fullmatch(value):
        shown = value[:40] if isinstance(value, str) else type(value).__name__
        raise ProtocolError(f"Graph's message id is not an id: {shown!r}")
    return value


def _delta_item(entry: dict[str, Any]) -> DeltaItem:
    ident = message_id(entry)
    if "@removed" in entry:
        return DeltaItem(ident, removed=True)
    return DeltaItem(
        ident,
        conversation_id=_text(entry, "conversationId", 500),
        internet_message_id=_text(entry, "internetMessageId", 2000),
        received_at=_when(entry.get("receivedDateTime")),
        draft=entry.get("isDraft") is True,
    )


def _text(entry: dict[str, Any], name: str, limit: int) -> str | None:
    value = entry.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ProtocolError(f"Graph's {name} is not a string")
    return value[:limit] or None


def _when(value: object) -> datetime | None:
    """An Edm.DateTimeOffset (ISO 8601, Graph writes UTC with a Z)."""
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise ProtocolError("Graph's receivedDateTime is not a time")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as error:
        raise ProtocolError(f"Graph's receivedDateTime is not a time: {value!r}") from error
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _link(payload: dict[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 8192:
        raise ProtocolError(f"Graph's {name} is not a link")
    return value


def _objects(payload: dict[str, Any], name: str) -> list[dict[str, Any]]:
    items = payload.get(name, [])
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ProtocolError(f"Graph's {name} is not a list of objects")
    return items
