"""SQLite: every time from a message is written in UTC. Earlier versions wrote the offset the
sender used, and SQLite compares times as text, so pages of mail, thread and interaction dates
and the first and last email of people and companies were out of order across time zones
(`mailroom/db.py` now writes UTC). This rewrites those values and recomputes the figures that
were taken as MIN/MAX of them. PostgreSQL stored instants all along: nothing to do there."""

from datetime import UTC, datetime
from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

BATCH = 1000
# The times that came from mail; the others (created_at, synced_at, ...) were always UTC.
COLUMNS = (
    ("message", "sent_at"),
    ("participant", "sent_at"),
    ("thread", "first_message_at"),
    ("thread", "last_message_at"),
    ("interaction", "occurred_at"),
)


def utc(text: str) -> str:
    value = datetime.fromisoformat(text)
    return (value if value.tzinfo is None else value.astimezone(UTC)).isoformat(" ")


async def times_in_utc(apps: Any, editor: Any) -> None:
    client = editor.client
    if client.capabilities.dialect != "sqlite":
        return
    for table, column in COLUMNS:
        last = ""
        while True:
            rows = await client.execute_query_dict(
                f"SELECT id, {column} AS at FROM {table} WHERE id > ? AND {column} IS NOT NULL"
                f" AND {column} NOT LIKE '%+00:00' ORDER BY id LIMIT {BATCH}",
                [last],
            )
            if not rows:
                break
            last = rows[-1]["id"]
            await client.execute_many(
                f"UPDATE {table} SET {column} = ? WHERE id = ?",
                [[utc(row["at"]), row["id"]] for row in rows],
            )
    # As resolver/interactions.py computes them, now over times that compare as instants.
    await client.execute_script(
        "UPDATE person SET"
        " first_email_at = (SELECT MIN(i.occurred_at) FROM interaction i"
        " WHERE i.person_id = person.id),"
        " last_email_at = (SELECT MAX(i.occurred_at) FROM interaction i"
        " WHERE i.person_id = person.id);"
        "UPDATE company SET"
        " first_email_at = (SELECT MIN(p.first_email_at) FROM person p"
        " WHERE p.company_id = company.id),"
        " last_email_at = (SELECT MAX(p.last_email_at) FROM person p"
        " WHERE p.company_id = company.id);"
    )


class Migration(migrations.Migration):
    dependencies = [("models", "0007_internet_message_id")]

    initial = False

    operations = [ops.RunPython(times_in_utc)]
