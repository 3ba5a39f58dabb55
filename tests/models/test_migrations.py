"""The migrations describe the models, and the test suite empties every table they make."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import pytest
from tortoise import Tortoise, connections
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.context import TortoiseContext
from tortoise.exceptions import IntegrityError
from tortoise.migrations.api import migrate
from tortoise.migrations.autodetector import MigrationAutodetector

from mailroom.db import TORTOISE_ORM, database, tortoise_config
from mailroom.envelope import Envelope
from mailroom.intake import Intake
from mailroom.intake.port import Incoming, Outcome
from mailroom.intake.process import dedupe_key
from mailroom.intake.rows import attachment_rows, message_row
from mailroom.models import (
    Attachment,
    Direction,
    Mailbox,
    Member,
    MemberRole,
    Message,
    MessageCopy,
    Person,
    Plan,
    RawMessage,
)
from mailroom.models.bulk import insert_rows
from mailroom.parsing.normalize import normalize
from mailroom.settings import Settings
from mailroom.workspace import add_member, create_workspace, import_mailbox
from tests.conftest import empty_postgres, new_postgres_database
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


async def test_postgres_stores_messages_compressed_with_lz4(
    postgres_url: str, model_tables: list[str], tmp_path: Path
) -> None:
    """Migration 0016: a message's bytes, text and HTML are compressed with lz4, not pglz
    (three times slower for the same size); what is stored reads back the same."""
    await empty_postgres(postgres_url, model_tables)
    body = "The quarterly plan, line by line, with the numbers we discussed.\n" * 400
    raw = message(sender="jane@globex.com", body=body, message_id="<long@globex.com>")
    async with database(Settings(database_url=postgres_url, data_dir=tmp_path)):
        team = await make_team()
        await Intake().ingest(team.alice_box, [Incoming(raw)])
    connection = await asyncpg.connect(postgres_url.replace("postgres://", "postgresql://"))
    try:
        methods = await connection.fetch(
            "SELECT attrelid::regclass::text AS tab, attname, attcompression::text"
            " FROM pg_attribute"
            " WHERE attrelid IN ('raw_message'::regclass, 'message'::regclass)"
            " AND attname IN ('data', 'text', 'html')"
        )
        assert {(r["tab"], r["attname"]): r["attcompression"] for r in methods} == {
            ("raw_message", "data"): "l",
            ("message", "text"): "l",
            ("message", "html"): "l",
        }
        stored = await connection.fetchrow(
            "SELECT pg_column_compression(data) AS method, data FROM raw_message"
        )
        assert stored["method"] == "lz4" and stored["data"] == raw
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgres"])
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own, for migrating step by step."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'old.sqlite3'}"
        return
    with new_postgres_database("mailroom_migration") as url:
        yield url


async def test_a_database_of_the_previous_release_is_upgraded_and_read(
    unmigrated_url: str,
) -> None:
    """A database made by the previous release's schema (migrations up to 0005), with messages
    stored as that release stored them: keyed by Message-ID alone, the header in the column
    `message_id`. After the upgrade a message's key is the one ingest computes now (so a later
    sighting of the same message finds it, and a sighting with a borrowed id does not), and
    the header is read from `internet_message_id`."""
    config = tortoise_config(unmigrated_url)
    await migrate(config=config, target="models.0005_timelines")
    await Tortoise.close_connections()
    raws = [quarterly_numbers(), message(message_id=None, subject="No id")]
    async with database_at(config):
        alice_box, bob_box = await _old_team()
        ids = [await _store_as_0005(alice_box, raw) for raw in raws]
    await migrate(config=config)
    await Tortoise.close_connections()
    async with database(Settings(database_url=unmigrated_url)):
        for raw, message_id in zip(raws, ids, strict=True):
            row = await Message.get(id=message_id)
            assert row.dedupe_key == dedupe_key(normalize(raw)), row.internet_message_id
            assert row.internet_message_id == normalize(raw).message_id
        bob = await Mailbox.get(id=bob_box.id)
        again = await Intake().ingest(bob, [Incoming(raw) for raw in raws])
        assert [outcome for outcome, _ in again.outcomes] == [Outcome.DUPLICATE] * 2
        assert await Message.all().count() == 2


async def _copy_rows(connection: Any, source: Path) -> None:
    """Copy every row of the database at `source` into the connection's older one, for the
    columns the older schema has, table by table in the order foreign keys need."""
    await connection.execute_script(f"ATTACH DATABASE '{source}' AS current;")
    _, tables = await connection.execute_query(
        "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " AND name NOT LIKE 'tortoise_%'"
    )
    names = [row[0] for row in tables]
    await connection.execute_script("PRAGMA foreign_keys = OFF;")
    for table in names:
        _, old_columns = await connection.execute_query(f"PRAGMA main.table_info('{table}')")
        _, new_columns = await connection.execute_query(f"PRAGMA current.table_info('{table}')")
        shared = [c[1] for c in old_columns if c[1] in {n[1] for n in new_columns}]
        if shared:
            columns = ", ".join(f'"{c}"' for c in shared)
            await connection.execute_script(
                f'INSERT INTO main."{table}" ({columns}) SELECT {columns} FROM current."{table}";'
            )
    await connection.execute_script("PRAGMA foreign_keys = ON; DETACH DATABASE current;")


@dataclass(frozen=True)
class _OldMailbox:
    """Where an older schema's intake writes: the ids are all it reads of a mailbox."""

    id: UUID
    workspace_id: UUID


async def _old_team() -> tuple[_OldMailbox, _OldMailbox]:
    """Alice's and Bob's import mailboxes in a database of an older schema: the workspace and
    members through the models (unchanged since), the mailboxes as rows of the columns the
    older schema has (the model has gained some since)."""
    workspace = await create_workspace("acme", plan=Plan.PRO)
    boxes = []
    for name in ("alice", "bob"):
        member = await Member.create(
            workspace=workspace,
            email=f"{name}@acme.com",
            role=MemberRole.ADMIN if name == "alice" else MemberRole.MEMBER,
        )
        row = {
            "id": uuid.uuid4(),
            "created_at": datetime.now(UTC),
            "workspace_id": workspace.id,
            "owner_id": member.id,
            "provider": "IMPORT",
            "address": member.email,
            "status": "ACTIVE",
            "default_sharing": "METADATA",
            "cursor": {},
            "progress_total": 0,
            "progress_done": 0,
            "connection": {},
            "failures": 0,
        }
        await _insert("mailbox", row)
        boxes.append(_OldMailbox(row["id"], workspace.id))
    return boxes[0], boxes[1]


async def _store_as_0005(mailbox: _OldMailbox, raw: bytes) -> UUID:
    """A message, its bytes, copy and attachments as migration 0005's schema has them."""
    envelope = normalize(raw)
    stored = await RawMessage.create(
        workspace_id=mailbox.workspace_id,
        sha256=hashlib.sha256(raw).hexdigest(),
        size=len(raw),
        data=raw,
    )
    row = message_row(mailbox.workspace_id, stored.id, "", envelope)
    row["message_id"] = row.pop("internet_message_id")
    row["created_at"] = datetime.now(UTC)
    row["dedupe_key"] = ("m:" if envelope.message_id else "c:") + _pre_0006_identity(envelope)
    await _insert("message", row)
    await insert_rows(Attachment, attachment_rows(row["id"], envelope))
    await MessageCopy.create(
        workspace_id=mailbox.workspace_id,
        message_id=row["id"],
        mailbox_id=mailbox.id,
        raw_message_id=stored.id,
        direction=Direction.OUTBOUND,
    )
    message_id: UUID = row["id"]
    return message_id


async def _insert(table: str, row: dict[str, Any]) -> None:
    connection = connections.get("default")
    postgres = connection.capabilities.dialect == "postgres"
    values = [_sql_value(v, postgres) for v in row.values()]
    marks = ", ".join(f"${n + 1}" if postgres else "?" for n in range(len(values)))
    columns = ", ".join(f'"{c}"' for c in row)
    await connection.execute_query(f'INSERT INTO "{table}" ({columns}) VALUES ({marks})', values)


def _sql_value(value: Any, postgres: bool) -> Any:
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, UUID) and not postgres:
        return str(value)
    if isinstance(value, datetime) and not postgres:
        return value.isoformat(sep=" ")
    return value


def _pre_0006_identity(envelope: Envelope) -> str:
    if envelope.message_id is not None:
        return hashlib.sha256(envelope.message_id.encode()).hexdigest()
    parts = [
        envelope.date.isoformat(),
        ",".join(a.address for a in envelope.from_),
        ",".join(a.address for a in envelope.to + envelope.cc),
        envelope.subject or "",
        envelope.text or envelope.html or "",
    ]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


async def test_times_written_with_their_senders_offsets_are_rewritten_in_utc(
    tmp_path: Path,
) -> None:
    """SQLite compares times as text: before 0008 a time from mail kept its sender's offset, so
    08:40 -05:00 sorted before 10:12 +00:00. The upgrade writes them in UTC and recomputes the
    first and last email of people and companies that were taken over that text."""
    url = f"sqlite://{tmp_path / 'old.sqlite3'}"
    config = tortoise_config(url)
    await migrate(config=config, target="models.0007_internet_message_id")
    await Tortoise.close_connections()
    london = datetime(2026, 3, 2, 10, 12, tzinfo=UTC)
    new_york = datetime(2026, 3, 2, 8, 40, tzinfo=timezone(timedelta(hours=-5)))
    # Today's ingest writes today's schema: the mail is ingested into a database of it, and its
    # rows copied into the old one, column by column where the old schema has the column.
    current = tmp_path / "current.sqlite3"
    async with database(Settings(database_url=f"sqlite://{current}"), create=True):
        workspace = await create_workspace("acme", plan=Plan.PRO)
        alice = await add_member(workspace, "alice@acme.com", admin=True)
        raws = [
            message(sender="jane@globex.com", to="alice@acme.com", date=london, message_id="<l@x>"),
            message(
                sender="alice@acme.com", to="jane@globex.com", date=new_york, message_id="<n@x>"
            ),
        ]
        await Intake().ingest(await import_mailbox(alice), [Incoming(raw) for raw in raws])
    async with database_at(config):
        connection = connections.get("default")
        await _copy_rows(connection, current)
        # As 0007 wrote them: each time in its sender's offset, figures as MIN/MAX of that text.
        await connection.execute_script(
            "UPDATE message SET sent_at = '2026-03-02 08:40:00-05:00'"
            " WHERE internet_message_id = 'n@x';"
            "UPDATE participant SET sent_at = (SELECT sent_at FROM message m"
            " WHERE m.id = participant.message_id);"
            "UPDATE interaction SET occurred_at = (SELECT sent_at FROM message m"
            " WHERE m.id = interaction.message_id);"
            "UPDATE thread SET last_message_at = '2026-03-02 08:40:00-05:00';"
            "UPDATE person SET last_email_at = (SELECT MAX(occurred_at) FROM interaction i"
            " WHERE i.person_id = person.id);"
        )
        _, [[stale]] = await connection.execute_query(
            "SELECT last_email_at FROM person WHERE last_email_at IS NOT NULL"
        )
        assert stale == "2026-03-02 10:12:00+00:00"  # the wrong one: the text is larger
    await migrate(config=config)
    await Tortoise.close_connections()
    async with database(Settings(database_url=url), create=False):
        connection = connections.get("default")
        for table, column in (
            ("message", "sent_at"),
            ("participant", "sent_at"),
            # (interactions are made anew by 0013, and filled by `intelligence rebuild`)
            ("thread", "last_message_at"),
            ("person", "last_email_at"),
        ):
            _, rows = await connection.execute_query(f"SELECT {column} FROM {table}")
            assert rows and all(str(row[0]).endswith("+00:00") for row in rows), table
        ordered = await Message.all().order_by("-sent_at").values_list("sent_at", flat=True)
        assert ordered == [new_york, london]
        person = await Person.filter(last_email_at__not_isnull=True).get()
        assert (person.first_email_at, person.last_email_at) == (london, new_york)


async def test_mailboxes_made_twice_are_merged_and_made_unique(tmp_path: Path) -> None:
    """SQLite lost the mailbox table's unique constraint in a migration that made the table
    anew, and a member's first messages arriving at once made two forwarding mailboxes. The
    upgrade merges them into the first made, copies and all, and restores the constraint."""
    url = f"sqlite://{tmp_path / 'old.sqlite3'}"
    config = tortoise_config(url)
    await migrate(config=config, target="models.0013_intelligence")
    await Tortoise.close_connections()
    shared, own = message(message_id="<both@x>"), message(message_id="<second@x>")
    async with database_at(config):
        workspace = await create_workspace("acme", plan=Plan.PRO)
        alice = await add_member(workspace, "alice@acme.com", admin=True)
        first = await Mailbox.create(
            workspace=workspace, owner=alice, provider="FORWARDING", address=alice.email
        )
        second = await Mailbox.create(
            workspace=workspace, owner=alice, provider="FORWARDING", address=alice.email
        )
        await Intake().ingest(first, [Incoming(shared)])
        await Intake().ingest(second, [Incoming(shared), Incoming(own)])
        assert await MessageCopy.filter(mailbox_id=second.id).count() == 2
    await migrate(config=config)
    await Tortoise.close_connections()
    async with database(Settings(database_url=url), create=False):
        boxes = await Mailbox.filter(provider="FORWARDING").values_list("id", flat=True)
        assert boxes == [first.id]
        copies = MessageCopy.filter(mailbox_id=first.id)
        assert sorted(await copies.values_list("message__internet_message_id", flat=True)) == [
            "both@x",
            "second@x",
        ]
        with pytest.raises(IntegrityError):
            await Mailbox.create(
                workspace_id=workspace.id,
                owner_id=alice.id,
                provider="FORWARDING",
                address=alice.email,
            )
