"""SQLite: a mailbox is unique per workspace, provider and address again. Migration 0001 made the
table with that constraint, but SQLite keeps a unique_together inside its CREATE TABLE, and a
later migration that altered a column made the table anew without it. Two first messages for a
member arriving at once then made two forwarding mailboxes, and every message after them was
refused with a temporary error (the lookup of the member's mailbox found two).

Mailboxes made twice are merged into the first made: whatever refers to a duplicate is moved to
it, except what it holds already (the same message's copy, say), which goes with the duplicate.
Then the unique index is made. PostgreSQL kept its constraint: nothing to do there."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

# The name Tortoise gives the constraint on PostgreSQL, for the same columns.
INDEX = "uid_mailbox_workspa_c9b97c"


async def unique_mailboxes(apps: Any, editor: Any) -> None:
    client = editor.client
    if client.capabilities.dialect != "sqlite":
        return
    groups = await client.execute_query_dict(
        "SELECT workspace_id, provider, address FROM mailbox"
        " GROUP BY workspace_id, provider, address HAVING COUNT(*) > 1"
    )
    referring = await _referring(client)
    for group in groups:
        rows = await client.execute_query_dict(
            "SELECT id FROM mailbox WHERE workspace_id = ? AND provider = ? AND address = ?"
            " ORDER BY created_at, id",
            [group["workspace_id"], group["provider"], group["address"]],
        )
        keep, *duplicates = [row["id"] for row in rows]
        for duplicate in duplicates:
            for table, column in referring:
                # OR IGNORE: a row the kept mailbox has already stays with the duplicate, and
                # goes with it below (foreign keys cascade).
                await client.execute_query(
                    f'UPDATE OR IGNORE "{table}" SET "{column}" = ? WHERE "{column}" = ?',
                    [keep, duplicate],
                )
            await client.execute_query("DELETE FROM mailbox WHERE id = ?", [duplicate])
    await client.execute_script(
        f'CREATE UNIQUE INDEX IF NOT EXISTS "{INDEX}"'
        ' ON "mailbox" ("workspace_id", "provider", "address")'
    )


async def _referring(client: Any) -> list[tuple[str, str]]:
    """Every (table, column) with a foreign key to mailbox."""
    tables = await client.execute_query_dict(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    found = []
    for table in tables:
        keys = await client.execute_query_dict(f"PRAGMA foreign_key_list(\"{table['name']}\")")
        found += [(table["name"], key["from"]) for key in keys if key["table"] == "mailbox"]
    return found


class Migration(migrations.Migration):
    dependencies = [("models", "0013_intelligence")]

    initial = False

    operations = [ops.RunPython(unique_mailboxes)]
