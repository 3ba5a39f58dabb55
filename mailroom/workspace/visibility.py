"""Who sees how much of an email: the one policy every path to an email goes through.

The owner of a mailbox that holds the message sees everything. Anyone else sees what the most
permissive of its copies' mailboxes shares by default (METADATA: participants and times;
SUBJECT: and the subject; FULL: and body, snippet and attachments), raised by a share of its
thread with the workspace or with them, made by a member who holds the message: a share covers
the sharer's own copies only, never the rest of a thread (which anyone can join by naming its
Message-IDs). A blocklisted participant hides the email from everyone but its owners.

Holding a copy is proof of having received the message's content, because ingest keys messages
by their Message-ID *and* content: a copy of a borrowed Message-ID is a message of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from itertools import zip_longest
from typing import NamedTuple
from uuid import UUID

from tortoise.expressions import Q

from mailroom.db import Statement, UUIDs
from mailroom.models import (
    BlockKind,
    BlocklistEntry,
    Message,
    Participant,
    Sharing,
)
from mailroom.models.bulk import chunked
from mailroom.parsing.addresses.owners import registrable_domain, within


class Level(IntEnum):
    NONE = 0
    METADATA = 1
    SUBJECT = 2
    FULL = 3

    @classmethod
    def of(cls, sharing: Sharing) -> Level:
        return cls[sharing.value]


class Reason:
    OWNER = "OWNER"  # the viewer owns a mailbox that holds it
    SHARING = "SHARING"  # the mailbox's default sharing
    THREAD_SHARED = "THREAD_SHARED"  # a share of its thread
    BLOCKLISTED = "BLOCKLISTED"  # a participant is on the workspace's blocklist


@dataclass(frozen=True, slots=True)
class Access:
    level: Level
    reason: str

    def allows(self, level: Level) -> bool:
        return self.level >= level


class Blocklist(NamedTuple):
    """A workspace's blocklist: addresses, and domains (each with its subdomains)."""

    addresses: frozenset[str]
    domains: frozenset[str]


@dataclass(frozen=True, slots=True)
class Viewer:
    workspace_id: UUID
    member_id: UUID


async def access(
    viewer: Viewer,
    message_ids: Sequence[UUID],
    *,
    threads: Mapping[UUID, UUID | None] | None = None,
    blocklist: Blocklist | None = None,
) -> dict[UUID, Access]:
    """The viewer's access to each message (of the viewer's workspace; others get NONE).
    A caller that has just read the messages' `threads` (message -> thread, for messages of the
    viewer's workspace) or the workspace's `blocklist` in this request passes them, and they
    are not read again."""
    ids = sorted(set(message_ids))
    if threads is None or any(i not in threads for i in ids):
        threads = await _threads(viewer.workspace_id, ids)
    in_threads = {m: t for m in ids if (t := threads.get(m)) is not None}
    copies, shares = await _holders(viewer, ids, set(in_threads.values()))
    blocked = await _blocked(viewer.workspace_id, ids, blocklist)
    result: dict[UUID, Access] = {}
    for message_id in ids:
        held = copies.get(message_id, [])
        if any(owner == viewer.member_id for owner, _ in held):
            result[message_id] = Access(Level.FULL, Reason.OWNER)
        elif not held or message_id in blocked:
            result[message_id] = Access(Level.NONE, Reason.BLOCKLISTED if held else Reason.SHARING)
        else:
            thread = in_threads.get(message_id)
            result[message_id] = _best(held, shares.get(thread, {}) if thread else {})
    return result


def _best(held: list[tuple[UUID, Sharing]], shared: dict[UUID, Level]) -> Access:
    """The most permissive default of the copies, or a share by one of their owners."""
    by_default = max(Level.of(sharing) for _, sharing in held)
    by_share = max((shared.get(owner, Level.NONE) for owner, _ in held), default=Level.NONE)
    if by_share > by_default:
        return Access(by_share, Reason.THREAD_SHARED)
    return Access(by_default, Reason.SHARING)


async def _holders(
    viewer: Viewer, ids: list[UUID], thread_ids: Iterable[UUID]
) -> tuple[dict[UUID, list[tuple[UUID, Sharing]]], dict[UUID, dict[UUID, Level]]]:
    """Each message's copies (the owner and default sharing of each mailbox that holds it), and
    per thread the level each sharer shares their copies at with the viewer.

    Both in one statement of our own: every page of emails asks, Tortoise's building of the
    query and converting of each value cost more than the reading, and on PostgreSQL each
    statement is a round trip that costs the API's core more than the database's work
    (bench/RESULTS.md, api). A copy's row has no sharer; a share's always has one."""
    copies: dict[UUID, list[tuple[UUID, Sharing]]] = {}
    shares: dict[UUID, dict[UUID, Level]] = {}
    empty: list[UUID] = []
    pairs = zip_longest(chunked(ids), chunked(sorted(thread_ids)), fillvalue=empty)
    for messages, threads in pairs:
        statement, parts = Statement(), []
        if messages:
            parts.append(
                "SELECT c.message_id, m.owner_id, m.default_sharing, NULL FROM message_copy c"
                " JOIN mailbox m ON m.id = c.mailbox_id"
                f" WHERE c.workspace_id = {statement.mark(viewer.workspace_id)}"
                f" AND c.message_id IN ({statement.marks(messages)})"
            )
        if threads:
            parts.append(
                "SELECT thread_id, member_id, level, shared_by_id FROM thread_share"
                f" WHERE workspace_id = {statement.mark(viewer.workspace_id)}"
                f" AND thread_id IN ({statement.marks(threads)}) AND shared_by_id IS NOT NULL"
            )
        uuid = UUIDs(messages)
        for row_id, member_id, sharing, sharer in await statement.tuples(" UNION ALL ".join(parts)):
            if sharer is None:
                copies.setdefault(uuid(row_id), []).append((uuid(member_id), Sharing(sharing)))
            elif member_id is None or uuid(member_id) == viewer.member_id:
                by_sharer = shares.setdefault(uuid(row_id), {})
                by = uuid(sharer)
                by_sharer[by] = max(by_sharer.get(by, Level.NONE), Level.of(Sharing(sharing)))
    return copies, shares


async def _threads(workspace_id: UUID, ids: list[UUID]) -> dict[UUID, UUID]:
    found: dict[UUID, UUID] = {}
    for chunk in chunked(ids):
        rows = await Message.filter(workspace_id=workspace_id, id__in=chunk).values_list(
            "id", "thread_id"
        )
        found.update((m, t) for m, t in rows if t is not None)
    return found


async def _blocked(workspace_id: UUID, ids: list[UUID], blocklist: Blocklist | None) -> set[UUID]:
    if blocklist is None:
        entries = await BlocklistEntry.filter(workspace_id=workspace_id).values_list(
            "kind", "value"
        )
        blocklist = Blocklist(
            frozenset(v for k, v in entries if k == BlockKind.ADDRESS),
            frozenset(v for k, v in entries if k == BlockKind.DOMAIN),
        )
    addresses, domains = blocklist
    if not addresses and not domains:
        return set()
    # Only the participants that may match, found by the indexed columns: a message may name
    # fifty thousand addresses.
    near = Q(address__in=sorted(addresses)) | Q(
        domain__in=sorted({registrable_domain(d) or d for d in domains})
    )
    blocked: set[UUID] = set()
    for chunk in chunked(ids):
        rows = await Participant.filter(near, message_id__in=chunk).values_list(
            "message_id", "address"
        )
        for message_id, address in rows:
            if address in addresses or within(address.rpartition("@")[2], domains):
                blocked.add(message_id)
    return blocked
