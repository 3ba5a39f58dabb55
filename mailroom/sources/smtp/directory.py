"""The gateway's view of workspaces, members and forwarding mailboxes.

Every message needs its recipients, the workspace's members and their mailboxes. Read from the
database each time, they queue behind the writes that the database takes one at a time, and
limit the gateway to a few hundred messages a second (bench/smtp.py). So the lookups are cached
for a few seconds: a new member or a rotated forwarding address takes effect within that.

A workspace's settings are not cached: each recipient's workspace (its sender policy, and
whether it still exists) is read by a query that starts after the recipient was named, so that
`mailroom workspace set`, from any process, is obeyed by the next message. On SQLite that read
is made at once on a read-only connection of its own: on the one that writes, and through its
thread, every message waited for the pipeline's commit of those before it (bench/smtp.py).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar
from uuid import UUID

from mailroom.db import read_now
from mailroom.models import Mailbox, Member, SenderPolicy, Workspace
from mailroom.sources.mailboxes import forwarding_mailbox
from mailroom.sources.smtp.recipients import Recipient, find_recipient

log = logging.getLogger(__name__)
K = TypeVar("K")
V = TypeVar("V")
# Bounded, so that a flood of made-up recipients cannot grow memory.
MAX_ENTRIES = 50_000


class _Expiring(Generic[K, V]):
    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[K, tuple[float, V]] = {}

    async def get(self, key: K, load: Callable[[], Awaitable[V]]) -> V:
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        value = await load()
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (now + self.ttl, value)
        return value


class _Current:
    """Workspaces' sender policies as they are now: each asked for is read by a query that
    starts after the asking. On SQLite at once, from the last commit (`db.read_now`); on
    PostgreSQL through the pool, all those asked for while one query runs read together by
    the next."""

    def __init__(self) -> None:
        self._wanted: set[UUID] = set()
        self._next: asyncio.Future[dict[UUID, SenderPolicy]] | None = None
        self._reader: asyncio.Task[None] | None = None

    async def get(self, workspace_id: UUID) -> SenderPolicy | None:
        """None: the workspace is gone."""
        try:
            rows = read_now("SELECT sender_policy FROM workspace WHERE id = ?", [str(workspace_id)])
        except sqlite3.Error:  # busy past its short timeout: read as on PostgreSQL
            log.warning("the quick read of a workspace failed; reading it the slow way")
            rows = None
        if rows is not None:
            return SenderPolicy(rows[0][0]) if rows else None
        self._wanted.add(workspace_id)
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        read = self._next
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_while_wanted())
        # Shielded: a session that goes away must not cancel the others' read.
        found = await asyncio.shield(read)
        return found.get(workspace_id)

    async def _read_while_wanted(self) -> None:
        while self._next is not None:
            read, wanted = self._next, self._wanted
            self._next, self._wanted = None, set()
            try:
                rows = await Workspace.filter(id__in=wanted).values_list("id", "sender_policy")
            except Exception as error:  # noqa: BLE001 - each asker is told
                read.set_exception(error)
            else:
                read.set_result({UUID(str(i)): SenderPolicy(p) for i, p in rows})


class Directory:
    def __init__(self, mail_domain: str, ttl: float = 5.0) -> None:
        self.mail_domain = mail_domain
        self._recipients: _Expiring[str, Recipient | None] = _Expiring(ttl)
        self._members: _Expiring[UUID, dict[str, Member]] = _Expiring(ttl)
        self._mailboxes: _Expiring[UUID, Mailbox] = _Expiring(ttl)
        self._workspaces = _Current()

    async def recipient(self, address: str) -> Recipient | None:
        """Whose the address is, with its workspace's settings as they are now (None if the
        workspace is gone)."""
        found = await self._recipients.get(
            address.lower(), lambda: find_recipient(address, self.mail_domain)
        )
        if found is None:
            return None
        policy = await self._workspaces.get(found.workspace.id)
        if policy is None:
            return None
        if policy is not found.workspace.sender_policy:
            workspace = copy.copy(found.workspace)  # the cached one is shared by sessions
            workspace.sender_policy = policy
            found = dataclasses.replace(found, workspace=workspace)
        return found

    async def members(self, recipient: Recipient) -> dict[str, Member]:
        """A workspace's members by each of their addresses."""

        async def load() -> dict[str, Member]:
            members = await Member.filter(workspace_id=recipient.workspace.id)
            return {address: m for m in members for address in m.addresses}

        return await self._members.get(recipient.workspace.id, load)

    async def mailbox(self, member: Member) -> Mailbox:
        return await self._mailboxes.get(member.id, lambda: forwarding_mailbox(member))
