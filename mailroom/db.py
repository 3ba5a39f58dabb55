"""Opening the database: Tortoise configuration, connection and migrations, and where the
database is. Only a caller that may `create` one makes a database that is not there yet."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import asyncpg
import tortoise.backends.sqlite.executor  # noqa: F401 - registers its adapters, replaced below
from tortoise import Tortoise, connections
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.exceptions import BaseORMException
from tortoise.migrations.api import migrate

from mailroom.errors import DatabaseError, SettingsError
from mailroom.models import MODEL_MODULES

if TYPE_CHECKING:
    from mailroom.settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS_MODULE = "mailroom.models.migrations"
# Where Tortoise records the migrations applied: a database without it holds no Mailroom data.
MIGRATIONS_TABLE = "tortoise_migrations"
SCHEMES = ("sqlite://", "postgres://", "postgresql://")
# What the drivers raise on their own, untranslated by Tortoise (a refused login, say).
DRIVER_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, sqlite3.Error)


class PooledConnection(asyncpg.Connection):  # type: ignore[misc]
    """A connection of Tortoise's pool. asyncpg resets a pooled connection each time it is
    released (advisory locks, cursors, LISTEN, settings): a round trip after every statement
    Tortoise runs outside a transaction, half of an API page's round trips and of PostgreSQL's
    statements (bench/RESULTS.md, api and scale). Mailroom leaves none of that state on these
    connections: its session advisory lock is taken on a connection of its own
    (`_migrating`), its transactions' locks end with them, LISTEN is procrastinate's on its
    own pool, and it sets no session settings. So nothing is reset; an open transaction is
    still rolled back, which asyncpg does whatever this says."""

    def get_reset_query(self) -> str:
        return ""


def tortoise_config(database_url: str) -> dict[str, Any]:
    """The Tortoise configuration for a database URL (`sqlite://PATH` or `postgres://...`)."""
    if not database_url.startswith(SCHEMES):
        raise SettingsError(
            f"MAILROOM_DATABASE_URL {redacted(database_url)!r} is not a database Mailroom can "
            "use: sqlite://PATH or postgres://USER:PASSWORD@HOST:PORT/DATABASE"
        )
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
    else:
        connection = expand_db_url(database_url)
        connection["credentials"]["connection_class"] = PooledConnection
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


def _utc_text(value: datetime) -> str:
    return (value if value.tzinfo is None else value.astimezone(UTC)).isoformat(" ")


# SQLite keeps a time as the text Python's adapter writes, and compares and sorts it as text.
# Tortoise's adapter writes the offset the value came with, so a reply dated 08:40 -05:00 (13:40
# UTC) sorted before a message of 10:12 +00:00, and a page of "newest first" mail was out of
# order as soon as senders' time zones differed. Every time Mailroom writes or compares is in
# UTC instead (values stored and query parameters alike); migration 0008 rewrote older rows.
# PostgreSQL's timestamptz compares instants and needs none of this.
sqlite3.register_adapter(datetime, _utc_text)


# For `tortoise makemigrations` (see the Makefile); no connection is made from it.
TORTOISE_ORM = tortoise_config("sqlite://:memory:")


async def open_database(settings: Settings, *, create: bool = True) -> bool:
    """Connect and bring the schema up to date; True when the database was made just now.
    Without `create`, a database that is not there (no SQLite file, or no Mailroom tables in
    it) is a `DatabaseError` that says where it was looked for, and nothing is made."""
    config = tortoise_config(settings.database_url)
    if settings.is_sqlite:
        path = sqlite_path(settings)
        if not create and path.name != ":memory:" and not path.exists():
            raise _missing(settings)
        if create:
            _private_files(path, settings.data_dir, where(settings))
    # Tortoise caches insert statements by connection name, not by dialect: a process that
    # opens SQLite and then PostgreSQL under the same name would send SQLite's statements.
    EXECUTOR_CACHE.clear()
    try:
        # Global, not only this task's context: the web server answers requests in tasks that
        # do not descend from the one that opened the database.
        await Tortoise.init(config=config, _enable_global_fallback=True)
        made = not await _holds_mailroom()
        if made and not create:
            await Tortoise.close_connections()
            raise _missing(settings)
        async with _migrating(settings):
            await migrate(config=config)
        await Tortoise.init(config=config, _enable_global_fallback=True)
        await refresh_statistics()
        _snapshot.open(sqlite_path(settings) if settings.is_sqlite else None)
    except (OSError, BaseORMException, *DRIVER_ERRORS) as error:
        # A connection left open keeps aiosqlite's worker thread, and so the process, alive.
        await Tortoise.close_connections()
        raise DatabaseError(f"cannot open database {where(settings)}: {error}") from error
    if made:
        log.info("created the database %s", where(settings))
    return made


# pg_advisory_lock's key for migrations: any number, the same in every Mailroom process.
MIGRATION_LOCK = 0x6D61696C726F6F6D  # "mailroom"


@asynccontextmanager
async def _migrating(settings: Settings) -> AsyncIterator[None]:
    """On PostgreSQL, one process migrates at a time: at scale several start at once (API,
    SMTP and job workers after an upgrade), and two running the same migration would both
    make its tables, the second failing half-way. The others wait, then find nothing to do.
    SQLite's write lock already keeps migrations apart."""
    if settings.is_sqlite:
        yield
        return
    parts = urlsplit(settings.database_url)
    # Tortoise's query parameters (minsize, ...) are not asyncpg.connect's.
    url = urlunsplit(("postgresql", parts.netloc, parts.path, "", ""))
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        yield
    finally:
        await connection.close()  # the lock is the session's: it goes with it


def sqlite_path(settings: Settings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite://"))


def where(settings: Settings) -> str:
    """The database as a person finds it: `sqlite://` and the file's absolute path (a relative
    MAILROOM_DATA_DIR is the folder the command was started from), or the URL without its
    password."""
    if not settings.is_sqlite:
        return redacted(settings.database_url)
    path = sqlite_path(settings)
    return f"sqlite://{path if path.name == ':memory:' else path.absolute()}"


def _missing(settings: Settings) -> DatabaseError:
    if settings.is_sqlite:
        place = f"at {where(settings)}"
        elsewhere = "or set MAILROOM_DATA_DIR or MAILROOM_DATABASE_URL to where yours is"
    else:
        place = f"in {where(settings)} (it has no Mailroom tables)"
        elsewhere = "or set MAILROOM_DATABASE_URL to where yours is"
    return DatabaseError(
        f"no Mailroom database {place}: `mailroom workspace create SLUG` makes one, {elsewhere}"
    )


async def _holds_mailroom() -> bool:
    """Whether Mailroom's migrations ever ran in the open database."""
    connection = connections.get("default")
    if connection.capabilities.dialect == "sqlite":
        query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?"
    else:
        query = (
            "SELECT 1 FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name = $1"
        )
    _, rows = await connection.execute_query(query, [MIGRATIONS_TABLE])
    return bool(rows)


def _private_files(path: Path, data_dir: Path, shown: str) -> None:
    """The database holds everyone's mail: the data folder only its owner may enter, the
    database and its journal files only its owner may read (SQLite gives the journals the
    database's mode). What an older version made with looser modes is tightened too. The data
    folder is made if the database goes in it; another folder (the database may live anywhere)
    must exist, and is left as it is: a mistyped MAILROOM_DATABASE_URL makes no folders."""
    if path.name == ":memory:":
        return
    folder = path.parent
    if not folder.exists():
        if folder.absolute() != data_dir.absolute():
            raise DatabaseError(
                f"cannot make the database {shown}: the folder {folder.absolute()} does not exist"
            )
        folder.mkdir(mode=0o700, parents=True)
        folder.chmod(0o700)
    if data_dir.exists() and data_dir.stat().st_uid == os.getuid():
        data_dir.chmod(0o700)
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    for file in (path, *(path.with_name(path.name + s) for s in ("-wal", "-shm", "-journal"))):
        if file.exists() and file.stat().st_uid == os.getuid():
            file.chmod(0o600)


class _Snapshot:
    """A read-only SQLite connection of its own, queried on the caller's thread.

    SQLite writes on one connection, and Tortoise holds it for a whole transaction: a read on
    it waits for the ingest pipeline's commit, and any read through aiosqlite waits for a turn
    of its thread. For the small indexed reads that sit in front of a reply to a client (the
    gateway's, before each `250`; an API page's statements, `Statement.tuples`), a plain
    `sqlite3` connection answers in microseconds: in WAL mode a reader reads the last commit
    and never waits for the writer. Its short timeout bounds the rare wait (a WAL being reset)
    that would otherwise hold the event loop."""

    def __init__(self) -> None:
        self._path: Path | None = None
        self._connection: sqlite3.Connection | None = None

    def open(self, path: Path | None) -> None:
        self.close()
        self._path = None if path is None or path.name == ":memory:" else path

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
        self._connection, self._path = None, None

    def read(self, sql: str, params: Sequence[object]) -> list[tuple[Any, ...]] | None:
        if self._path is None:
            return None
        if self._connection is None:
            uri = f"{self._path.absolute().as_uri()}?mode=ro"
            self._connection = sqlite3.connect(
                uri, uri=True, timeout=0.05, isolation_level=None, check_same_thread=False
            )
        return self._connection.execute(sql, params).fetchall()


_snapshot = _Snapshot()


def read_now(sql: str, params: Sequence[object]) -> list[tuple[Any, ...]] | None:
    """The rows of a small read, answered at once from the last commit without waiting for a
    write (SQLite, see `_Snapshot`); None on PostgreSQL, whose pool never makes a read wait
    for a write: read through Tortoise there. Raises sqlite3.Error as the driver does."""
    return _snapshot.read(sql, params)


async def refresh_statistics() -> None:
    """Let SQLite's planner know how selective each index is. Without statistics (only ANALYZE
    gathers them) it guesses that `workspace_id = ?`, the same on every row, picks out a few,
    and walks a whole table instead of looking 50 ids up. `analysis_limit` samples each index,
    so this takes milliseconds even on gigabytes. PostgreSQL's autovacuum does its own."""
    connection = connections.get("default")
    if connection.capabilities.dialect == "sqlite":
        await connection.execute_script("PRAGMA analysis_limit = 1000; ANALYZE;")


async def analyze(tables: Sequence[str]) -> None:
    """Gather the planner's statistics of these tables now: what an import that grows them
    needs (see `intake.statistics`). SQLite samples each index as `refresh_statistics` does;
    PostgreSQL samples each table (`default_statistics_target`)."""
    connection = connections.get("default")
    quoted = [f'"{table}"' for table in tables]
    if connection.capabilities.dialect == "sqlite":
        script = "".join(f"ANALYZE {table}; " for table in quoted)
        await connection.execute_script(f"PRAGMA analysis_limit = 1000; {script}")
    else:
        await connection.execute_script(f"ANALYZE {', '.join(quoted)}")


async def analyzed_rows(table: str) -> int:
    """How many rows of `table` the planner's statistics were gathered from: 0 when they
    never were."""
    connection = connections.get("default")
    if connection.capabilities.dialect == "sqlite":
        # sqlite_stat1 is made by the first ANALYZE, which `open_database` runs.
        query = "SELECT stat FROM sqlite_stat1 WHERE tbl = ? LIMIT 1"
        _, rows = await connection.execute_query(query, [table])
        return int(str(rows[0]["stat"]).split()[0]) if rows else 0
    # reltuples is -1 for a table never analyzed (nor vacuumed).
    query = "SELECT reltuples FROM pg_class WHERE oid = to_regclass($1)"
    _, rows = await connection.execute_query(query, [table])
    return max(0, int(rows[0]["reltuples"])) if rows else 0


async def close_database() -> None:
    _snapshot.close()
    await Tortoise.close_connections()


@asynccontextmanager
async def database(settings: Settings, *, create: bool = True) -> AsyncIterator[bool]:
    """The open database (see `open_database`); yields whether it was made just now."""
    made = await open_database(settings, create=create)
    try:
        yield made
    finally:
        await close_database()


def redacted(url: str) -> str:
    """The URL without its password, for error messages and logs."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not at:
        return url
    user = credentials.partition(":")[0]
    return f"{scheme}{sep}{user}@{host}"


class Statement:
    """A statement written by hand, with placeholders for either database: `?` (SQLite) or `$n`
    (PostgreSQL). For the reads Tortoise cannot express (window functions) and for the hot
    reads of the API's pages, where building the query and converting every value of every
    row cost several times the database's own work (bench/RESULTS.md, api)."""

    def __init__(self) -> None:
        connection = connections.get("default")
        self.connection = connection
        self.postgres = connection.capabilities.dialect == "postgres"
        self.values: list[Any] = []

    def mark(self, value: Any) -> str:
        if isinstance(value, UUID) and not self.postgres:
            value = str(value)  # SQLite holds UUIDs as text
        self.values.append(value)
        return f"${len(self.values)}" if self.postgres else "?"

    def marks(self, values: Sequence[Any]) -> str:
        return ", ".join(self.mark(v) for v in values)

    async def rows(self, sql: str) -> list[dict[str, Any]]:
        """The rows by column name, always through Tortoise's connection: its one caller sums
        whole threads (`workspace.threads`), which may take long enough that the event loop
        should not wait on it as it does on `tuples`' indexed reads."""
        return list(await self.connection.execute_query_dict(sql, self.values))

    async def tuples(self, sql: str) -> Sequence[Sequence[Any]]:
        """The rows as the driver gives them, by position: no conversion at all (SQLite gives
        UUIDs and times as text, PostgreSQL as values: see `uuid_of` and `time_of`).

        On SQLite, outside a transaction, they are read at once on the event loop's thread
        (`read_now`): a turn of aiosqlite's thread costs 60 us of waiting, more than a page's
        indexed reads themselves, and a page makes a dozen (bench/RESULTS.md, api). Inside a
        transaction, or when that read fails (a WAL being reset), Tortoise's connection reads."""
        if not self.postgres and not isinstance(self.connection, TransactionalDBClient):
            try:
                found = read_now(sql, self.values)
            except sqlite3.Error:
                found = None
            if found is not None:
                return found
        _, rows = await self.connection.execute_query(sql, self.values)
        return rows  # type: ignore[no-any-return]


class UUIDs:
    """UUID column values as either driver gives them (`uuid_of`), each made once: a page's
    rows name the same few ids again and again, and those a statement asked about are known
    already. Making a UUID from text is a microsecond, a thousand times a page."""

    def __init__(self, known: Iterable[UUID] = ()) -> None:
        self.made: dict[Any, UUID] = {str(i): i for i in known}

    def __call__(self, value: Any) -> UUID:
        found = self.made.get(value)
        if found is None:
            found = self.made[value] = uuid_of(value)
        return found


def uuid_of(value: Any) -> UUID:
    """A UUID column's value as either driver gives it."""
    return value if isinstance(value, UUID) else UUID(value)


def time_of(value: Any) -> datetime:
    """A time column's value as either driver gives it: SQLite holds the UTC text `_utc_text`
    wrote (from Python's own isoformat, which fromisoformat reads back)."""
    if isinstance(value, datetime):
        return value
    found = datetime.fromisoformat(value)
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)
