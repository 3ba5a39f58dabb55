"""The job engine's tables (mailroom/jobs): procrastinate's schema, as procrastinate 3.10.0
ships it, on PostgreSQL; `mailroom worker` needs them, `serve` alone does not. SQLite runs no
jobs: nothing to do there.

A later procrastinate with migrations of its own (procrastinate/sql/migrations) gets a Mailroom
migration that applies them, as this one applies the whole schema: the package is pinned, so the
schema in the database is always the one its code expects."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops


async def job_tables(apps: Any, editor: Any) -> None:
    client = editor.client
    if client.capabilities.dialect != "postgres":
        return
    # Imported here: every command loads every migration, and procrastinate brings croniter,
    # which runs `file` on the interpreter when it is imported.
    from procrastinate.schema import SchemaManager

    await client.execute_script(SchemaManager.get_schema())


class Migration(migrations.Migration):
    dependencies = [("models", "0014_mailbox_unique")]

    initial = False

    operations = [ops.RunPython(job_tables)]
