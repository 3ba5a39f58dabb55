"""The migrations describe the models, and the test suite empties every table they make."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext
from tortoise.migrations.api import migrate
from tortoise.migrations.autodetector import MigrationAutodetector

from mailroom.db import TORTOISE_ORM, database, tortoise_config
from mailroom.intake import Intake
from mailroom.intake.port import Incoming, Outcome
from mailroom.intake.process import dedupe_key
from mailroom.models import Message
from mailroom.parsing.normalize import normalize
from mailroom.settings import Settings
from tests.conftest import POSTGRES_URL, empty_postgres
from tests.graphql.conftest import make_team
from tests.graphql.test_visibility import quarterly_numbers
from tests.helpers import message


@asynccontextmanager
async def database_at(config: dict[str, Any]) -> AsyncIterator[None]:
    """The database as it is, without migrating it (to write rows of an older version)."""
    EXECUTOR_CACHE.clear()  # statements cached for the other backend's dialect (see db.py)
    await Tortoise.init(config=config, _enable_global_fallback=True)
    try:
        yield
    finally:
        await Tortoise.close_connections()


async def test_migrations_match_models() -> None:
    apps = TORTOISE_ORM["apps"]
    async with TortoiseContext() as context:
        await context.init(config=TORTOISE_ORM)
        assert context.apps is not None
        writers = await MigrationAutodetector(context.apps, apps).changes()
    changed = [operation for w in writers for operation in w.operations]
    assert changed == [], "models changed without a migration: run `make migrations`"


async def test_emptying_postgres_leaves_no_row_in_any_table(
    postgres_url: str, model_tables: list[str], tmp_path: Path
) -> None:
    """Each PostgreSQL test gets the session's database emptied of the models' tables: they
    must be every table the migrations made, and none may keep a row of the test before."""
    await empty_postgres(postgres_url, model_tables)  # whatever the test before left
    async with database(Settings(database_url=postgres_url, data_dir=tmp_path)):
        team = await make_team()
        await Intake().ingest(team.alice_box, [Incoming(quarterly_numbers())])
    connection = await asyncpg.connect(postgres_url.replace("postgres://", "postgresql://"))
    try:
        rows = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        tables = {row["tablename"] for row in rows} - {"tortoise_migrations"}
        assert tables == set(model_tables)

        async def filled() -> set[str]:
            counts = {t: await connection.fetchval(f'SELECT count(*) FROM "{t}"') for t in tables}
            return {table for table, count in counts.items() if count}

        assert {"workspace", "member", "mailbox", "message", "participant"} <= await filled()
        await empty_postgres(postgres_url, model_tables)
        assert await filled() == set()
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgres"])
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own, for migrating step by step."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'old.sqlite3'}"
        return
    name = f"mailroom_migration_{uuid.uuid4().hex[:12]}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://"))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield f"{POSTGRES_URL.rpartition('/')[0]}/{name}"
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def test_migration_0006_keys_stored_messages_as_ingest_does(unmigrated_url: str) -> None:
    """Messages stored before 0006 were keyed by Message-ID alone; after it, a message's key
    is the one ingest computes now, so a later sighting of the same message finds it and a
    sighting with a borrowed id does not. Thread shares keep their sharer."""
    config = tortoise_config(unmigrated_url)
    await migrate(config=config, target="models.0005_timelines")
    await Tortoise.close_connections()
    settings = Settings(database_url=unmigrated_url)
    raws = [quarterly_numbers(), message(message_id=None, subject="No id")]
    async with database_at(config):
        team = await make_team()
        report = await Intake().ingest(team.alice_box, [Incoming(raw) for raw in raws])
        ids = [message_id for _, message_id in report.outcomes]
        # As 0005 keyed them: a digest of the Message-ID (or of what made the message).
        for message_id in ids:
            row = await Message.get(id=message_id)
            old = row.dedupe_key[:2] + _pre_0006_identity(row.message_id, raws, ids, message_id)
            await Message.filter(id=message_id).update(dedupe_key=old)
    await migrate(config=config)
    await Tortoise.close_connections()
    async with database(settings):
        for raw, message_id in zip(raws, ids, strict=True):
            row = await Message.get(id=message_id)
            assert row.dedupe_key == dedupe_key(normalize(raw)), row.message_id
        again = await Intake().ingest(team.bob_box, [Incoming(raw) for raw in raws])
        assert [outcome for outcome, _ in again.outcomes] == [Outcome.DUPLICATE] * 2
        assert await Message.all().count() == 2


def _pre_0006_identity(
    message_id: str | None, raws: list[bytes], ids: list[Any], which: Any
) -> str:
    if message_id is not None:
        return hashlib.sha256(message_id.encode()).hexdigest()
    envelope = normalize(raws[ids.index(which)])
    parts = [
        envelope.date.isoformat(),
        ",".join(a.address for a in envelope.from_),
        ",".join(a.address for a in envelope.to + envelope.cc),
        envelope.subject or "",
        envelope.text or envelope.html or "",
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
