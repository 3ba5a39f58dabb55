"""How statements reach the database. PostgreSQL's pooled connections are not reset after
every statement (`db.PooledConnection`): a read outside a transaction is one round trip, not
two; a transaction that fails is still rolled back, and the connection it held serves the next
statement. SQLite's reads outside a transaction are made at once (`db.read_now`)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from mailroom.db import PooledConnection, Statement
from mailroom.models import Plan, Workspace
from mailroom.settings import Settings
from mailroom.workspace import create_workspace


@pytest.fixture
def executed(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The simple-protocol statements asyncpg sends (its reset is one of them)."""
    sent: list[str] = []
    execute = asyncpg.connection.Connection.execute

    async def recording(self: Any, query: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(query)
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.connection.Connection, "execute", recording)
    return sent


async def test_reads_are_not_followed_by_a_reset(db: Settings, executed: list[str]) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL's pool")
    workspace = await create_workspace("pool", "Pool", Plan.PRO)
    for _ in range(5):
        statement = Statement()
        rows = await statement.tuples(
            f"SELECT name FROM workspace WHERE id = {statement.mark(workspace.id)}"
        )
        assert [tuple(r) for r in rows] == [("Pool",)]
        assert await Workspace.filter(slug="pool").count() == 1
    assert not [q for q in executed if "RESET ALL" in q or "pg_advisory_unlock_all" in q]
    pool = connections.get("default")._pool
    async with pool.acquire() as connection:
        assert isinstance(connection, PooledConnection)


async def test_a_failed_transaction_is_rolled_back_and_its_connection_serves_on(
    db: Settings,
) -> None:
    if db.is_sqlite:
        pytest.skip("PostgreSQL's pool")
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await create_workspace("lost", "Lost", Plan.PRO)
            raise RuntimeError("half-way")
    assert not await Workspace.filter(slug="lost").exists()
    # Every connection of the pool, taken in turn, is outside the failed transaction (inside
    # it, the write would have given the transaction an id).
    for _ in range(8):
        [(written,)] = await Statement().tuples("SELECT pg_current_xact_id_if_assigned()")
        assert written is None


async def test_a_statement_in_a_transaction_reads_its_writes(db: Settings) -> None:
    """On SQLite a statement outside a transaction reads at once from the last commit
    (`db.read_now`); one inside reads through the transaction, and sees what it wrote."""
    sql = "SELECT name FROM workspace WHERE slug = 'mid'"
    async with in_transaction():
        await create_workspace("mid", "Midway", Plan.PRO)
        assert [tuple(r) for r in await Statement().tuples(sql)] == [("Midway",)]
    assert [tuple(r) for r in await Statement().tuples(sql)] == [("Midway",)]


async def test_a_statement_outside_reads_the_last_commit_while_a_write_is_open(
    db: Settings,
) -> None:
    """A page's reads neither wait for the ingest's open transaction nor see its rows before
    they are committed."""
    sql = "SELECT COUNT(*) FROM workspace WHERE slug = 'open'"
    writing, reading = asyncio.Event(), asyncio.Event()

    async def write() -> None:
        async with in_transaction():
            await create_workspace("open", "Open", Plan.PRO)
            writing.set()
            await reading.wait()

    writer = asyncio.create_task(write())
    await writing.wait()
    try:
        [(count,)] = await asyncio.wait_for(Statement().tuples(sql), timeout=5)
        assert count == 0
    finally:
        reading.set()
        await writer
    [(count,)] = await Statement().tuples(sql)
    assert count == 1
