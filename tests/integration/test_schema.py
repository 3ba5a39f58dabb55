"""The migrations describe the models, and the test suite knows every table."""

from __future__ import annotations

from tortoise import Tortoise
from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector

from mailroom.db import TORTOISE_ORM
from tests.conftest import TABLES


async def test_migrations_match_models() -> None:
    apps = TORTOISE_ORM["apps"]
    async with TortoiseContext() as context:
        await context.init(config=TORTOISE_ORM)
        assert context.apps is not None
        writers = await MigrationAutodetector(context.apps, apps).changes()
    changed = [operation for w in writers for operation in w.operations]
    assert changed == [], "models changed without a migration: run `make migrations`"


async def test_cleanup_list_names_every_table() -> None:
    await Tortoise.init(config=TORTOISE_ORM)
    try:
        tables = {model._meta.db_table for model in Tortoise.apps["models"].values()}
    finally:
        await Tortoise.close_connections()
    assert tables == set(TABLES)
