"""Shared fixtures: a migrated database on each backend (SQLite and PostgreSQL) per test.

Every test that uses `db` runs once on SQLite and once on the PostgreSQL server named by
`MAILROOM_TEST_POSTGRES_URL` (default: the local server's `test` database). A PostgreSQL that
cannot be reached fails those tests; it never skips them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest
from tortoise import Tortoise
from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate

from mailroom.db import TORTOISE_ORM, close_database, open_database, tortoise_config
from mailroom.jobs.engine import JOB_TABLES
from mailroom.settings import Settings

POSTGRES_URL = os.environ.get(
    "MAILROOM_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)
# Other parsers' test messages, kept in the repository (tests/corpora/README.md says whose).
CORPORA = Path(os.environ.get("MAILROOM_CORPORA") or Path(__file__).parent / "corpora").resolve()


def _postgres_server_url(database: str) -> str:
    base, _, _ = POSTGRES_URL.rpartition("/")
    return f"{base}/{database}"


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://"))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def new_postgres_database(prefix: str = "mailroom_new") -> Iterator[str]:
    """A database of its own on the PostgreSQL server, with no table in it, dropped at the end
    (connections still open to it closed)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    try:
        yield _postgres_server_url(name)
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def new_database() -> Iterator[str]:
    """An empty PostgreSQL database of the test's own: what a first start or a migration of
    a new installation finds."""
    with new_postgres_database() as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database of its own on the PostgreSQL server, migrated, dropped at the end."""
    with new_postgres_database("mailroom_test") as url:

        async def prepare() -> None:
            await migrate(config=tortoise_config(url))
            await Tortoise.close_connections()

        asyncio.run(prepare())
        yield url


@pytest.fixture(scope="session")
def model_tables() -> list[str]:
    """The table of every model the app registers, and the job engine's: what emptying
    PostgreSQL truncates."""

    async def read() -> list[str]:
        async with TortoiseContext() as context:
            await context.init(config=TORTOISE_ORM)
            assert context.apps is not None
            models = [model._meta.db_table for model in context.apps.get_models_iterable()]
            return sorted([*models, *JOB_TABLES])

    return asyncio.run(read())


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies, rather than migrating each time."""
    path = tmp_path_factory.mktemp("template") / "mailroom.sqlite3"

    async def prepare() -> None:
        await migrate(config=tortoise_config(f"sqlite://{path}"))
        await Tortoise.close_connections()

    asyncio.run(prepare())
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for a fresh, empty database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "mailroom.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite://{path}"
    else:
        url = request.getfixturevalue("postgres_url")
        asyncio.run(empty_postgres(url, request.getfixturevalue("model_tables")))
    return Settings(data_dir=tmp_path / "data", database_url=url)


async def empty_postgres(url: str, tables: list[str]) -> None:
    """Delete every row of `tables`, in one statement so that their order does not matter."""
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://"))
    try:
        quoted = ", ".join(f'"{table}"' for table in tables)
        await connection.execute(f"TRUNCATE {quoted} CASCADE")
    finally:
        await connection.close()


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Settings]:
    """An open database for the test's event loop."""
    await open_database(settings)
    try:
        yield settings
    finally:
        await close_database()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `embedded` run the command line as a person does, a process per command
    (each one's start costs a second): on the embedded default alone. What those commands do
    is tested on both backends through the same service functions, and the command line's
    own use of a PostgreSQL URL in tests/cli/test_database.py."""
    kept, dropped = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("settings") == "postgres"
        (dropped if on_postgres and item.get_closest_marker("embedded") else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
