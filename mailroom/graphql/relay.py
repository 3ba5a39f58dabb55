"""Relay-style connections: `first` (at most 100) and `after`, `pageInfo`, in a stable order.

Pages are cut by keyset, not offset: the cursor holds the last row's sort value and id, and the
next page starts strictly after them, so rows added meanwhile neither shift nor repeat a page.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import strawberry
from tortoise.expressions import Q
from tortoise.fields import FloatField
from tortoise.queryset import QuerySet

from mailroom.errors import InvalidInputError

T = TypeVar("T")
MAX_PAGE = 100
DEFAULT_PAGE = 20


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type
class Connection(Generic[T]):
    # Each node's sort value and id, from which its cursor is made when `edges` are asked for:
    # most pages are read by their nodes.
    keys: strawberry.Private[Sequence[tuple[Any, UUID]]]

    @strawberry.field
    def edges(self) -> list[Edge[T]]:
        return [
            Edge(cursor=encode(value, row_id), node=node)
            for (value, row_id), node in zip(self.keys, self.nodes, strict=True)
        ]

    nodes: list[T]
    page_info: PageInfo


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if not 0 <= first <= MAX_PAGE:
        raise InvalidInputError(f"first must be between 0 and {MAX_PAGE}")
    return first


def encode(value: Any, row_id: UUID) -> str:
    plain = value.isoformat() if isinstance(value, datetime) else value
    return base64.urlsafe_b64encode(json.dumps([plain, str(row_id)]).encode()).decode()


def decode(cursor: str) -> tuple[datetime | float, UUID]:
    """The time (or score) and id a cursor holds. A cursor is the client's to send: anything
    but what `encode` wrote is `invalid cursor`, never a query."""
    try:
        value, row_id = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        if isinstance(value, float | int) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ValueError("a cursor's score is a finite number")
            return float(value), UUID(row_id)
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:
            raise ValueError("a cursor's time has its zone")
        return moment, UUID(row_id)
    except (ValueError, TypeError, AttributeError, RecursionError) as error:
        raise InvalidInputError("invalid cursor") from error


def decode_time(cursor: str) -> tuple[datetime, UUID]:
    """The time and id of a cursor of a page ordered by time: a score's cursor (`decode`) is
    not one, and is `invalid cursor` too."""
    value, row_id = decode(cursor)
    if not isinstance(value, datetime):
        raise InvalidInputError("invalid cursor")
    return value, row_id


async def paginate(
    query: QuerySet[Any],
    *,
    first: int | None,
    after: str | None,
    key: str,
    descending: bool,
    convert: Callable[[Any], T],
) -> Connection[T]:
    """One page of `query` ordered by `key` then id (both descending or both ascending)."""
    size = page_size(first)
    if after is not None:
        value, row_id = decode(after)
        numeric = isinstance(query.model._meta.fields_map[key], FloatField)
        if isinstance(value, float) is not numeric:
            raise InvalidInputError("invalid cursor")
        later = "lt" if descending else "gt"
        past: dict[str, Any] = {f"{key}__{later}": value}
        tied: dict[str, Any] = {key: value, f"id__{later}": row_id}
        query = query.filter(Q(**past) | Q(**tied))
    order = (f"-{key}", "-id") if descending else (key, "id")
    rows = await query.order_by(*order).limit(size + 1)
    page = rows[:size]
    return connection_of(
        [convert(r) for r in page], len(rows) > size, [(getattr(r, key), r.id) for r in page]
    )


async def in_creation_order(
    query: QuerySet[Any], *, first: int | None, after: str | None, convert: Callable[[Any], T]
) -> Connection[T]:
    """A page of records (people, companies) in the order they were made."""
    return await paginate(
        query, first=first, after=after, key="created_at", descending=False, convert=convert
    )


def connection_of(
    nodes: Sequence[T], has_next: bool, keys: Sequence[tuple[Any, UUID]]
) -> Connection[T]:
    """A page of `nodes`, each with its sort value and id (`keys`)."""
    return Connection(
        keys=keys,
        nodes=list(nodes),
        page_info=PageInfo(has_next_page=has_next, end_cursor=encode(*keys[-1]) if keys else None),
    )
