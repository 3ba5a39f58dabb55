"""PostgreSQL compresses the large values it stores out of line (TOAST) with pglz by default:
storing a message's raw bytes, its text and its HTML spent a tenth of an import's time in
pglz (bench/ingest.py). lz4 compresses them as small, three times faster. It applies to values
written from now on; those already stored stay readable as they are. A server built without
lz4 (or before PostgreSQL 14, which has no per-column compression) keeps pglz. SQLite stores
values as they are: nothing to do there."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

COLUMNS = (("raw_message", "data"), ("message", "text"), ("message", "html"))


async def lz4(apps: Any, editor: Any) -> None:
    client = editor.client
    if client.capabilities.dialect != "postgres":
        return
    # EXECUTE: parsed when run, so that a server without the syntax falls into the handler.
    statements = " ".join(
        f"EXECUTE 'ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4';"
        for table, column in COLUMNS
    )
    await client.execute_script(
        f"DO $$ BEGIN {statements} "
        "EXCEPTION WHEN feature_not_supported OR syntax_error THEN NULL; END $$;"
    )


class Migration(migrations.Migration):
    dependencies = [("models", "0015_jobs")]

    initial = False

    operations = [ops.RunPython(lz4)]
