"""Opening the database: Tortoise configuration, connection and migrations."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tortoise import Tortoise, connections
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.exceptions import BaseORMException
from tortoise.migrations.api import migrate

from mailroom.errors import DatabaseError
from mailroom.models import MODEL_MODULES

if TYPE_CHECKING:
    from mailroom.settings import Settings

MIGRATIONS_MODULE = "mailroom.models.migrations"


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The Tortoise configuration for a database URL (`sqlite://PATH` or `postgres://...`)."""
    connection: str | dict[str, Any] = database_url
    if database_url.startswith("sqlite://"):
        connection = {
            "engine": "tortoise.backends.sqlite",
            "credentials": {
                "file_path": database_url.removeprefix("sqlite://"),
                "journal_mode": "WAL",
                # FULL: a commit is on disk when it returns, which is what lets the gateway
                # acknowledge a message once its bytes are committed.
                "synchronous": "FULL",
                # Another process (an import beside `serve`) may hold the write lock briefly.
                "busy_timeout": 30000,
                "foreign_keys": "ON",
                # The default 2 MB page cache thrashes on the random-keyed indexes (digests of
                # Message-IDs and bytes) once a mailbox passes ~10,000 messages.
                "cache_size": -65536,
                "temp_store": "MEMORY",
            },
        }
    return {
        "connections": {"default": connection},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "migrations": MIGRATIONS_MODULE,
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# For `tortoise makemigrations` (see the Makefile); no connection is made from it.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")


async def open_database(settings: Settings) -> None:
    """Connect and bring the schema up to date."""
    if settings.is_sqlite:
        _private_files(Path(settings.database_url.removeprefix("sqlite://")), settings.data_dir)
    config = tortoise_config(settings.database_url)
    # Tortoise caches insert statements by connection name, not by dialect: a process that
    # opens SQLite and then PostgreSQL under the same name would send SQLite's statements.
    EXECUTOR_CACHE.clear()
    try:
        await migrate(config=config)
        # Global, not only this task's context: the web server answers requests in tasks that
        # do not descend from the one that opened the database.
        await Tortoise.init(config=config, _enable_global_fallback=True)
        await refresh_statistics()
    except (OSError, BaseORMException) as error:
        # A connection left open keeps aiosqlite's worker thread, and so the process, alive.
        await Tortoise.close_connections()
        raise DatabaseError(
            f"cannot open database {_redacted(settings.database_url)}: {error}"
        ) from error


def _private_files(path: Path, data_dir: Path) -> None:
    """The database holds everyone's mail: the data folder only its owner may enter, the
    database and its journal files only its owner may read (SQLite gives the journals the
    database's mode). What an older version made with looser modes is tightened too; a folder
    other than the data folder (the database may live anywhere) is left as it is."""
    if path.name == ":memory:":
        return
    for folder in {data_dir, path.parent}:
        created = not folder.exists()
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        if (created or folder == data_dir) and folder.stat().st_uid == os.getuid():
            folder.chmod(0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for file in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        if file.exists() and file.stat().st_uid == os.getuid():
            file.chmod(0o600)


async def refresh_statistics() -> None:
    """Let SQLite's planner know how selective each index is. Without statistics (only ANALYZE
    gathers them) it guesses that `workspace_id = ?`, the same on every row, picks out a few,
    and walks a whole table instead of looking 50 ids up. `analysis_limit` samples each index,
    so this takes milliseconds even on gigabytes. PostgreSQL's autovacuum does its own."""
    connection = connections.get("default")
    if connection.capabilities.dialect == "sqlite":
        await connection.execute_script("PRAGMA analysis_limit = 1000; ANALYZE;")


async def close_database() -> None:
    await Tortoise.close_connections()


@asynccontextmanager
async def database(settings: Settings) -> AsyncIterator[None]:
    await open_database(settings)
    try:
        yield
    finally:
        await close_database()


def _redacted(url: str) -> str:
    """The URL without its password, for error messages."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user = credentials.partition(":")[0]
    return f"{scheme}{sep}{user}@{host}"
