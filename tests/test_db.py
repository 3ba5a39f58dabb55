"""SQLite's planner gets statistics: without them it takes `workspace_id = ?` (the same on
every row) for selective and walks a whole table to find a page's few messages by id."""

from __future__ import annotations

from pathlib import Path

from tortoise import connections

from mailroom.db import database, refresh_statistics
from mailroom.intake import Intake
from mailroom.intake.port import Incoming
from mailroom.models import Plan
from mailroom.settings import Settings
from mailroom.workspace import add_member, create_workspace, import_mailbox
from tests.helpers import message

LOOKUP = "SELECT id FROM message WHERE workspace_id = ? AND id IN (?, ?, ?)"


async def _plan() -> str:
    rows = await connections.get("default").execute_query_dict(
        "EXPLAIN QUERY PLAN " + LOOKUP, ["w", "a", "b", "c"]
    )
    return " ".join(str(r["detail"]) for r in rows)


async def test_lookups_by_id_use_the_primary_key(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite://{tmp_path}/stats.sqlite3", normalize_workers=0)
    async with database(settings):
        workspace = await create_workspace("acme", plan=Plan.PRO)
        box = await import_mailbox(await add_member(workspace, "alice@acme.com"))
        raws = [message(message_id=f"<s{n}@globex.com>") for n in range(300)]
        await Intake().ingest(box, [Incoming(raw) for raw in raws])
        before = await _plan()
        await refresh_statistics()
        after = await _plan()
    # Without statistics the planner picks the (workspace_id, sent_at) index; with them, the key.
    assert "sqlite_autoindex_message" not in before, before
    assert "sqlite_autoindex_message" in after, after
    async with database(settings):  # and every open takes a fresh sample
        assert "sqlite_autoindex_message" in await _plan()
