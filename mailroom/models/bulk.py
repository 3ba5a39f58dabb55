"""Bulk inserts of plain rows, with Tortoise's own SQL and value conversions.

Ingest writes a dozen rows per message. Building a Tortoise model instance for each costs more
than the insert itself (measured by bench/ingest.py), so the hot tables are written from dicts:
the statement comes from Tortoise's executor and values are converted as its fields convert
them. The common field types get a direct conversion (what `to_db_value` does, without its
per-value validation: these rows are built by Mailroom, which bounds lengths itself); any other
field goes through its own `to_db_value`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar
from uuid import UUID

import asyncpg
from tortoise import connections, timezone
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.fields import BooleanField, CharField, IntField, TextField, UUIDField
from tortoise.fields.base import Field
from tortoise.fields.data import CharEnumFieldInstance as CharEnumField
from tortoise.models import Model

CHUNK = 1000
# Rows from which PostgreSQL is sent a COPY rather than INSERTs: below it the COPY's own round
# trip (asyncpg reads the columns' types first) costs more than it saves.
COPY_FROM = 50
# Values per `IN (...)` list: under SQLite's and asyncpg's parameter limits with room to spare.
IN_CHUNK = 500
T = TypeVar("T")


def chunked(values: Sequence[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    """`values` in lists of at most `size`, for `IN (...)` lookups and updates."""
    for start in range(0, len(values), size):
        yield list(values[start : start + size])


Convert = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Insert:
    sql: str
    table: str
    columns: tuple[str, ...]
    fields: tuple[tuple[str, Field[Any]], ...]
    converters: tuple[Convert, ...]


_PLANS: dict[tuple[type[Model], str, bool], _Insert] = {}


def _plan(model: type[Model], db: BaseDBAsyncClient, ignore_conflicts: bool) -> _Insert:
    key = (model, db.capabilities.dialect, ignore_conflicts)
    if key not in _PLANS:
        executor = db.executor_class(model, db)
        names, columns = executor._prepare_insert_columns()
        query = executor._prepare_insert_statement(columns, ignore_conflicts=ignore_conflicts)
        fields = tuple((n, model._meta.fields_map[n]) for n in names)
        converters = tuple(_converter(f, model, db.capabilities.dialect) for _, f in fields)
        _PLANS[key] = _Insert(str(query), model._meta.db_table, tuple(columns), fields, converters)
    return _PLANS[key]


def _converter(field: Field[Any], model: type[Model], dialect: str) -> Convert:
    if isinstance(field, UUIDField) and dialect != "postgres":
        return _uuid_text
    if isinstance(field, CharEnumField):  # a CharField too: test it first
        return _enum_value
    if isinstance(field, UUIDField | CharField | TextField | IntField | BooleanField):
        return _same
    return lambda value: field.to_db_value(value, model)


def _same(value: Any) -> Any:
    return value


def _uuid_text(value: Any) -> Any:
    return None if value is None else str(value)


def _enum_value(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _default(field: Field[Any], now: Any) -> Any:
    default: Any = field.default
    if callable(default):
        return default()
    if default is not None:
        return default
    if getattr(field, "auto_now_add", False) or getattr(field, "auto_now", False):
        return now
    return None


async def insert_rows(
    model: type[Model], rows: Sequence[Mapping[str, Any]], *, ignore_conflicts: bool = False
) -> None:
    """Insert `rows` (field name -> value; foreign keys by their `_id` name) into `model`'s
    table. Missing fields take their defaults; unknown names are an error."""
    if not rows:
        return
    db = connections.get("default")
    plan = _plan(model, db, ignore_conflicts)
    known = {name for name, _ in plan.fields}
    now = timezone.now()
    values: list[list[Any]] = []
    for row in rows:
        unknown = row.keys() - known
        if unknown:
            raise KeyError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
        values.append(
            [
                convert(row[name] if name in row else _default(field, now))
                for (name, field), convert in zip(plan.fields, plan.converters, strict=True)
            ]
        )
    if db.capabilities.dialect == "postgres" and not ignore_conflicts and len(values) >= COPY_FROM:
        await _copy(db, plan, values)
        return
    for start in range(0, len(values), CHUNK):
        await db.execute_many(plan.sql, values[start : start + CHUNK])


async def _copy(db: BaseDBAsyncClient, plan: _Insert, values: list[list[Any]]) -> None:
    """PostgreSQL's COPY of the rows: one statement and binary values, where an INSERT runs
    once per row (asyncpg's executemany); about half the time for a batch's participants."""
    async with db.acquire_connection() as connection:
        try:
            await connection.copy_records_to_table(
                plan.table, records=values, columns=list(plan.columns)
            )
        except asyncpg.IntegrityConstraintViolationError as error:
            raise IntegrityError(error) from error
        except (asyncpg.SyntaxOrAccessError, asyncpg.DataError) as error:
            raise OperationalError(error) from error


async def uuids(query: Awaitable[Any]) -> set[UUID]:
    """The ids a `values_list(..., flat=True)` query returns, as a set (Tortoise types flat
    lists as lists of tuples)."""
    return {value for value in await query if value is not None}


async def add_rows(
    model: type[Model], rows: Sequence[Mapping[str, Any]], key: Sequence[str], sums: Sequence[str]
) -> None:
    """Insert `rows`, or where a row with the same `key` columns exists (a unique constraint
    of the table's), add the rows' `sums` columns to its own: one statement per chunk."""
    if not rows:
        return
    db = connections.get("default")
    plan = _plan(model, db, False)
    table = model._meta.db_table
    additions = ", ".join(f'"{c}" = "{table}"."{c}" + excluded."{c}"' for c in sums)
    columns = ", ".join(f'"{c}"' for c in key)
    sql = f"{plan.sql} ON CONFLICT ({columns}) DO UPDATE SET {additions}"
    now = timezone.now()
    values = [
        [
            convert(row[name] if name in row else _default(field, now))
            for (name, field), convert in zip(plan.fields, plan.converters, strict=True)
        ]
        for row in rows
    ]
    for start in range(0, len(values), CHUNK):
        await db.execute_many(sql, values[start : start + CHUNK])
