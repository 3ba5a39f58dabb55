"""Participants carry their message's sent_at, for timelines read from one index; and the
participants stored before 0004 get the domain that 0004 added."""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields
from tortoise.indexes import Index

from functools import cache

from publicsuffixlist import PublicSuffixList


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList(accept_unknown=False)


def registrable_domain(domain: str) -> str | None:
    # As Mailroom found a registrable domain when this migration was written; a migration
    # must not change when live code does.
    if not domain or domain.startswith("["):
        return None
    result = _suffixes().privatesuffix(domain.lower())
    return result if isinstance(result, str) else None


async def fill_domains(apps: Any, editor: Any) -> None:
    client = editor.client
    # After the indexes: (workspace_id, address, sent_at) finds each address's rows.
    update = "UPDATE participant SET domain = ? WHERE workspace_id = ? AND address = ? AND domain = ''"
    if client.capabilities.dialect == "postgres":
        update = update.replace("?", "$1", 1).replace("?", "$2", 1).replace("?", "$3", 1)
    rows = await client.execute_query_dict(
        "SELECT DISTINCT workspace_id, address FROM participant WHERE domain = ''"
    )
    for row in rows:
        domain = row["address"].rpartition("@")[2].lower()
        if domain:
            stored = (registrable_domain(domain) or domain)[:255]
            await client.execute_query(update, [stored, row["workspace_id"], row["address"]])


class Migration(migrations.Migration):
    dependencies = [('models', '0004_shares')]

    initial = False

    operations = [
        ops.RemoveIndex(
            model_name='Participant',
            name=None,
            fields=['workspace_id', 'address'],
        ),
        ops.RemoveIndex(
            model_name='Participant',
            name=None,
            fields=['person_id'],
        ),
        ops.RemoveIndex(
            model_name='Participant',
            name=None,
            fields=['workspace_id', 'domain'],
        ),
        ops.AddField(
            model_name='Participant',
            name='sent_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.RunSQL(
            "UPDATE participant SET sent_at ="
            " (SELECT m.sent_at FROM message m WHERE m.id = participant.message_id)"
        ),
        ops.AddIndex(
            model_name='Participant',
            index=Index(fields=['workspace_id', 'address', 'sent_at']),
        ),
        ops.AddIndex(
            model_name='Participant',
            index=Index(fields=['person_id', 'sent_at', 'message_id']),
        ),
        ops.AddIndex(
            model_name='Participant',
            index=Index(fields=['workspace_id', 'domain', 'sent_at', 'message_id']),
        ),
        ops.AddIndex(
            model_name='Company',
            index=Index(fields=['workspace_id', 'created_at', 'id']),
        ),
        ops.AddIndex(
            model_name='Person',
            index=Index(fields=['workspace_id', 'created_at', 'id']),
        ),
        ops.RunPython(fill_domains),
    ]
