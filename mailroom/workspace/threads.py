"""What a viewer sees of a thread as a whole: its subject, count and dates come from the emails
they may see, under the same policy as the emails themselves (`visibility`).

A thread's stored subject, count and dates are those of every email in it, whoever holds them;
showing them as they are would tell a viewer the subject of mail they may not read, or that a
hidden (blocklisted) email exists. So per viewer: the subject is that of the earliest email whose
subject they may see, and the count and dates are those of the emails they may see at all.

Both are found in SQL, for a page of threads in one statement each, by the policy's rules
written as a predicate on a message `m`. The subject's message is then checked by `access()`,
the policy itself, so that the SQL form can only ever hide a subject, never show one more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from mailroom.db import Statement, time_of, uuid_of
from mailroom.models import Sharing, Thread
from mailroom.models.bulk import chunked
from mailroom.workspace.visibility import Level, Viewer, access


@dataclass(frozen=True, slots=True)
class ThreadView:
    subject: str | None
    message_count: int
    first_message_at: datetime | None
    last_message_at: datetime | None


async def thread_views(
    viewer: Viewer, threads: list[Thread], any_blocked: bool
) -> dict[UUID, ThreadView]:
    """The view of each thread; `any_blocked`: the workspace has blocklist entries (without
    any, every email is visible at least as metadata, and the stored figures are right)."""
    ids = [t.id for t in threads]
    subjects = await _earliest_subjects(viewer, ids)
    figures = await _figures(viewer, ids) if any_blocked else {}
    views = {}
    for thread in threads:
        count, first, last = figures.get(
            thread.id,
            (thread.message_count, thread.first_message_at, thread.last_message_at)
            if not any_blocked
            else (0, None, None),
        )
        views[thread.id] = ThreadView(subjects.get(thread.id), count, first, last)
    return views


def _levels(level: Level) -> str:
    return ", ".join(f"'{s.value}'" for s in Sharing if Level.of(s) >= level)


# A participant of message `m` is on the blocklist (as `visibility._blocked` decides in Python:
# the address itself, or a domain it is at or under).
_BLOCKED = """EXISTS (SELECT 1 FROM participant p JOIN blocklist_entry e
  ON e.workspace_id = p.workspace_id
  WHERE p.message_id = m.id AND (
    (e.kind = 'ADDRESS' AND p.address = e.value)
    OR (e.kind = 'DOMAIN'
      AND (p.address LIKE '%@' || e.value OR p.address LIKE '%.' || e.value))))"""


def _visible(statement: Statement, viewer: Viewer, level: Level) -> str:
    """The policy as a predicate: the viewer sees message `m` at `level` or more."""
    me = statement.mark(viewer.member_id)
    me_again = statement.mark(viewer.member_id)
    levels = _levels(level)
    return f"""EXISTS (SELECT 1 FROM message_copy c JOIN mailbox b ON b.id = c.mailbox_id
  WHERE c.message_id = m.id AND (
    b.owner_id = {me}
    OR (NOT {_BLOCKED} AND (
      b.default_sharing IN ({levels})
      OR EXISTS (SELECT 1 FROM thread_share s
        WHERE s.thread_id = m.thread_id AND s.shared_by_id = b.owner_id
          AND (s.member_id IS NULL OR s.member_id = {me_again}) AND s.level IN ({levels}))))))"""


# The earliest message of each thread that the predicate lets through.
_EARLIEST = (
    "SELECT thread_id, id, subject FROM ("
    " SELECT m.thread_id, m.id, m.subject, ROW_NUMBER() OVER ("
    "  PARTITION BY m.thread_id ORDER BY m.sent_at, m.id) AS n"
    " FROM message m WHERE {where}"
    ") earliest WHERE n = 1"
)
# The count and dates of each thread's messages that the predicate lets through.
_FIGURES = (
    "SELECT m.thread_id, COUNT(*) AS n, MIN(m.sent_at) AS first, MAX(m.sent_at) AS last"
    " FROM message m WHERE {where} GROUP BY m.thread_id"
)


async def _rows(
    viewer: Viewer, thread_ids: list[UUID], level: Level, query: str
) -> list[dict[str, Any]]:
    """`query` over the messages of the threads that the viewer sees at `level` or more."""
    rows: list[dict[str, Any]] = []
    for chunk in chunked(thread_ids):
        statement = Statement()
        # Marks are made in the order they appear: SQLite's `?` are positional.
        workspace = statement.mark(viewer.workspace_id)
        threads = statement.marks(chunk)
        visible = _visible(statement, viewer, level)
        where = f"m.workspace_id = {workspace} AND m.thread_id IN ({threads}) AND {visible}"
        rows += await statement.rows(query.format(where=where))
    return rows


async def _earliest_subjects(viewer: Viewer, thread_ids: list[UUID]) -> dict[UUID, str | None]:
    found = {
        uuid_of(row["thread_id"]): (uuid_of(row["id"]), row["subject"])
        for row in await _rows(viewer, thread_ids, Level.SUBJECT, _EARLIEST)
    }
    confirmed = await access(viewer, [message_id for message_id, _ in found.values()])
    return {
        thread_id: subject
        for thread_id, (message_id, subject) in found.items()
        if confirmed[message_id].allows(Level.SUBJECT)
    }


async def _figures(
    viewer: Viewer, thread_ids: list[UUID]
) -> dict[UUID, tuple[int, datetime | None, datetime | None]]:
    return {
        uuid_of(row["thread_id"]): (
            int(row["n"]),
            _maybe_time(row["first"]),
            _maybe_time(row["last"]),
        )
        for row in await _rows(viewer, thread_ids, Level.METADATA, _FIGURES)
    }


def _maybe_time(value: Any) -> datetime | None:
    return None if value is None else time_of(value)
