"""Holding one mailbox's row until the transaction ends, so that two processes never refresh
one account's tokens at once (a refresh token used twice can be burned: Microsoft rotates it
at every use, Google may).

PostgreSQL locks the row (`SELECT ... FOR UPDATE`). SQLite has one writer: a write first takes
its lock, and a transaction that read before writing would fail rather than wait when another
process wrote in between (as `intake.locks` explains), so the lock is taken by a write that
changes nothing.
"""

from __future__ import annotations

from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient

from mailroom.models import Mailbox


async def locked_mailbox(connection: BaseDBAsyncClient, mailbox_id: UUID) -> Mailbox | None:
    """The mailbox as stored now, locked until the transaction on `connection` ends; None if
    it was removed."""
    rows = Mailbox.filter(id=mailbox_id).using_db(connection)
    if connection.capabilities.dialect == "postgres":
        return await rows.select_for_update(no_key=True).first()
    await connection.execute_query(
        "UPDATE mailbox SET credentials = credentials WHERE id = ?", [str(mailbox_id)]
    )
    return await rows.first()
