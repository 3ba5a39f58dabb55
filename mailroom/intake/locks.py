"""One writer per workspace at a time, so that ingest can plan against what it has read.

SQLite has a single writer anyway, but a transaction that reads first and writes later fails
when another process wrote in between; taking the write lock first makes it wait instead
(up to the busy timeout). PostgreSQL gets a transaction-scoped advisory lock on the workspace.
"""

from __future__ import annotations

from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient


async def workspace_write_lock(connection: BaseDBAsyncClient, workspace_id: UUID) -> None:
    """Hold the workspace's write lock until the current transaction ends."""
    if connection.capabilities.dialect == "postgres":
        await connection.execute_query(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", [str(workspace_id)]
        )
    else:
        # Any write takes SQLite's lock; this one changes nothing.
        await connection.execute_query(
            "UPDATE workspace SET slug = slug WHERE id = ?", [str(workspace_id)]
        )
