"""Trust: a message's key holds the digest of its content beside its Message-ID, so that a
sighting with a borrowed id is another message; and a thread share belongs to its sharer, so
that two members sharing one thread each keep their own share."""

import hashlib
import json
from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint

BATCH = 500


def content_digest(subject: Any, text: Any, html: Any, attachments: list[str]) -> str:
    # A frozen copy of `mailroom.intake.rows.content_digest` as of this migration: the
    # keys written here must equal what ingest computes for the same stored values, and a
    # migration must not change when live code does (tests/models/test_migrations.py checks
    # both agree).
    parts = json.dumps([subject, text, html, list(attachments)], ensure_ascii=False)
    return hashlib.sha256(parts.encode("utf-8", "surrogatepass")).hexdigest()


def keyed(old_key: str, content: str) -> str:
    # Keys were `m:`/`c:` + the identity's digest; now the digest of `identity:content`.
    prefix, identity = old_key[:2], old_key[2:]
    return prefix + hashlib.sha256(f"{identity}:{content}".encode()).hexdigest()


async def rekey_messages(apps: Any, editor: Any) -> None:
    client = editor.client
    postgres = client.capabilities.dialect == "postgres"
    update = "UPDATE message SET dedupe_key = $1 WHERE id = $2" if postgres else (
        "UPDATE message SET dedupe_key = ? WHERE id = ?"
    )
    last = None
    while True:
        where = "" if last is None else ("WHERE id > $1" if postgres else "WHERE id > ?")
        rows = await client.execute_query_dict(
            f"SELECT id, dedupe_key, subject, text, html FROM message {where}"
            f" ORDER BY id LIMIT {BATCH}",
            [] if last is None else [last],
        )
        if not rows:
            return
        last = rows[-1]["id"]
        ids = [row["id"] for row in rows]
        marks = ", ".join(f"${i + 1}" if postgres else "?" for i in range(len(ids)))
        attachments: dict[str, list[str]] = {}
        for row in await client.execute_query_dict(
            f"SELECT message_id, sha256 FROM attachment WHERE message_id IN ({marks})"
            " ORDER BY message_id, position",
            ids,
        ):
            attachments.setdefault(str(row["message_id"]), []).append(row["sha256"])
        await client.execute_many(
            update,
            [
                [
                    keyed(
                        row["dedupe_key"],
                        content_digest(
                            row["subject"],
                            row["text"],
                            row["html"],
                            attachments.get(str(row["id"]), []),
                        ),
                    ),
                    row["id"],
                ]
                for row in rows
            ],
        )


class RemoveUniqueTogether(ops.RemoveConstraint):
    """SQLite keeps a unique_together inside its CREATE TABLE, where no statement can drop it:
    the table is made again without it (the way SQLite's documentation alters tables).
    PostgreSQL drops the named constraint as Tortoise does."""

    async def database_forward(
        self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None
    ) -> None:
        if state_editor is None or state_editor.client.capabilities.dialect != "sqlite":
            await super().database_forward(app_label, old_state, new_state, state_editor)
            return
        await state_editor.client.execute_script(THREAD_SHARE_WITHOUT_UNIQUE)


THREAD_SHARE_WITHOUT_UNIQUE = """
CREATE TABLE "thread_share_rebuilt" (
    "id" CHAR(36) NOT NULL  PRIMARY KEY,
    "created_at" TIMESTAMP NOT NULL,
    "level" VARCHAR(16) NOT NULL,
    "member_id" CHAR(36) REFERENCES "member" ("id") ON DELETE CASCADE,
    "shared_by_id" CHAR(36) REFERENCES "member" ("id") ON DELETE SET NULL,
    "thread_id" CHAR(36) NOT NULL REFERENCES "thread" ("id") ON DELETE CASCADE,
    "workspace_id" CHAR(36) NOT NULL REFERENCES "workspace" ("id") ON DELETE CASCADE
);
INSERT INTO "thread_share_rebuilt"
    SELECT "id", "created_at", "level", "member_id", "shared_by_id", "thread_id", "workspace_id"
    FROM "thread_share";
DROP TABLE "thread_share";
ALTER TABLE "thread_share_rebuilt" RENAME TO "thread_share";
CREATE INDEX "idx_thread_shar_thread__8aad9f" ON "thread_share" ("thread_id");
"""


class Migration(migrations.Migration):
    dependencies = [('models', '0005_timelines')]

    initial = False

    operations = [
        RemoveUniqueTogether(
            model_name='ThreadShare',
            name=None,
            fields=['thread', 'member'],
        ),
        ops.AlterModelOptions(
            name='ThreadShare',
            options={'table': 'thread_share', 'app': 'models', 'unique_together': (('thread', 'member', 'shared_by'),), 'pk_attr': 'id', 'table_description': "A member's share of their own copies of a thread's messages beyond their mailboxes'"},
        ),
        ops.AddConstraint(
            model_name='ThreadShare',
            constraint=UniqueConstraint(fields=('thread', 'member', 'shared_by'), name=None),
        ),
        ops.RunPython(rekey_messages),
    ]
