"""The gateway's view of workspaces, members and forwarding mailboxes, cached for a moment.

Every message needs its recipients, the workspace's members and their mailboxes. Read from the
database each time, they queue behind the writes that the database takes one at a time, and
limit the gateway to a few hundred messages a second (bench/smtp.py). Entries live a few
seconds, so a change (a new member, a rotated forwarding address) takes effect within that.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar
from uuid import UUID

from mailroom.models import Mailbox, Member
from mailroom.sources.mailboxes import forwarding_mailbox
from mailroom.sources.smtp.recipients import Recipient, find_recipient

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


class Directory:
    def __init__(self, mail_domain: str, ttl: float = 5.0) -> None:
        self.mail_domain = mail_domain
        self._recipients: _Expiring[str, Recipient | None] = _Expiring(ttl)
        self._members: _Expiring[UUID, dict[str, Member]] = _Expiring(ttl)
        self._mailboxes: _Expiring[UUID, Mailbox] = _Expiring(ttl)

    async def recipient(self, address: str) -> Recipient | None:
        return await self._recipients.get(
            address.lower(), lambda: find_recipient(address, self.mail_domain)
        )

    async def members(self, recipient: Recipient) -> dict[str, Member]:
        """A workspace's members by each of their addresses."""

        async def load() -> dict[str, Member]:
            members = await Member.filter(workspace_id=recipient.workspace.id)
            return {address: m for m in members for address in m.addresses}

        return await self._members.get(recipient.workspace.id, load)

    async def mailbox(self, member: Member) -> Mailbox:
        return await self._mailboxes.get(member.id, lambda: forwarding_mailbox(member))
