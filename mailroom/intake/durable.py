"""Durability: the bytes a source hands in are committed, each with a pending row, before
anything parses them. From then on nothing is lost and the source may acknowledge (SMTP's
`250`, an IMAP cursor moving in the same transaction); what is still pending when a process
stops is read back by `pending_batches` at the next start."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from tortoise.transactions import in_transaction
from uuid_utils.compat import uuid7

from mailroom.intake.port import Incoming, Pending, SourceFacts
from mailroom.models import Mailbox, PendingIngest, RawMessage
from mailroom.models.bulk import chunked, insert_rows, uuids

log = logging.getLogger(__name__)


class Target(Protocol):
    """The mailbox a message was seen by, as far as storing it goes."""

    @property
    def id(self) -> UUID: ...

    @property
    def workspace_id(self) -> UUID: ...


async def store_many(items: Sequence[tuple[Target, Incoming]]) -> list[Pending]:
    """Commit the bytes of messages seen by one or several mailboxes, each with a pending row,
    in one transaction (one disk sync); nothing is parsed yet."""
    if not items:
        return []
    digests = [hashlib.sha256(i.raw).hexdigest() for _, i in items]
    async with in_transaction():
        ids = await _store_raw(
            {(m.workspace_id, d): i.raw for d, (m, i) in zip(digests, items, strict=True)}
        )
        pending = [
            Pending(uuid7(), m.workspace_id, m.id, ids[(m.workspace_id, d)], i.facts, i.raw)
            for d, (m, i) in zip(digests, items, strict=True)
        ]
        await insert_rows(
            PendingIngest,
            [
                {
                    "id": p.id,
                    "workspace_id": p.workspace_id,
                    "mailbox_id": p.mailbox_id,
                    "raw_message_id": p.raw_message_id,
                    "facts": p.facts.to_json(),
                }
                for p in pending
            ],
        )
    return pending


async def present(
    items: Sequence[tuple[Target, Incoming]],
) -> list[tuple[Target, Incoming]]:
    """The items whose mailbox still exists. Mail spooled for a mailbox removed since (with its
    member or workspace) has nowhere to go: it is dropped, as the mailbox's mail was."""
    ids = {target.id for target, _ in items}
    found: set[UUID] = set()
    for chunk in chunked(sorted(ids)):
        found |= await uuids(Mailbox.filter(id__in=chunk).values_list("id", flat=True))
    kept = [(target, item) for target, item in items if target.id in found]
    if len(kept) < len(items):
        gone = len(items) - len(kept)
        log.warning("dropped %d spooled messages: their mailbox was removed", gone)
    return kept


async def pending_batches(
    batch_size: int, mailbox_id: UUID | None = None, before: datetime | None = None
) -> AsyncIterator[list[Pending]]:
    """Every pending row (of one mailbox, or all; stored `before` a time, or whenever), oldest
    first, in batches: what an interrupted run left behind."""
    last: UUID | None = None
    while True:
        query = PendingIngest.all().order_by("id").limit(batch_size)
        if mailbox_id is not None:
            query = query.filter(mailbox_id=mailbox_id)
        if before is not None:
            query = query.filter(created_at__lt=before)
        if last is not None:
            query = query.filter(id__gt=last)
        rows = await query.prefetch_related("raw_message")
        if not rows:
            return
        last = rows[-1].id
        yield [
            Pending(
                row.id,
                row.workspace_id,
                row.mailbox_id,
                row.raw_message_id,
                SourceFacts.from_json(row.facts),
                bytes(row.raw_message.data),
                row.attempts,
            )
            for row in rows
        ]


async def mark_failed(pending: Pending, error: Exception) -> None:
    """Keep a message that could not be processed pending, with its error, for a later try."""
    log.warning("message %s kept pending, its ingest failed: %r", pending.id, error)
    log.debug("ingest failure", exc_info=error)
    await PendingIngest.filter(id=pending.id).update(
        attempts=pending.attempts + 1, last_error=f"{type(error).__name__}: {error}"[:2000]
    )


async def _store_raw(raws: dict[tuple[UUID, str], bytes]) -> dict[tuple[UUID, str], UUID]:
    """Insert bytes not stored yet (keyed by workspace and digest); return every row's id."""
    # In key order, so that concurrent stores of the same messages cannot deadlock.
    await insert_rows(
        RawMessage,
        [
            {"id": uuid7(), "workspace_id": w, "sha256": d, "size": len(raw), "data": raw}
            for (w, d), raw in sorted(raws.items())
        ],
        ignore_conflicts=True,
    )
    ids: dict[tuple[UUID, str], UUID] = {}
    for workspace_id in {w for w, _ in raws}:
        digests = sorted(d for w, d in raws if w == workspace_id)
        for chunk in chunked(digests):
            rows = await RawMessage.filter(workspace_id=workspace_id, sha256__in=chunk).values_list(
                "sha256", "id"
            )
            ids.update(((workspace_id, d), i) for d, i in rows)
    return ids
