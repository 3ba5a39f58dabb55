"""Syncing one IMAP folder into the store, from its saved cursor.

The first sync goes newest first, in batches, so that recent mail shows up first; later syncs
fetch what is above the last UID stored. A cursor only moves once the messages it covers are
durably stored, so an interruption anywhere repeats work (which ingest absorbs) and never skips
any. A message over the size limit is not fetched whole (the session would refuse it): its
header block is, and ingest reads it as a message without its body. Deletions at the server
remove the mailbox's copy: QRESYNC's VANISHED tells them where the server offers it, a
comparison of UIDs otherwise; either way only UIDs the mailbox holds are looked for. A changed
UIDVALIDITY means the old UIDs mean nothing: the folder is synced again from scratch, and what
the new pass did not find again is then removed.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.transactions import in_transaction

from mailroom.intake import Batches, Intake
from mailroom.intake.port import Incoming, IngestReport, Pending, SourceFacts
from mailroom.intake.removal import remove_items
from mailroom.models import FolderCursor, Mailbox, ProviderItem
from mailroom.sources.imap.client import Fetched, FolderState, ImapSession
from mailroom.sources.imap.folders import Folder

log = logging.getLogger(__name__)
# Stored UIDs asked about per VANISHED request: its answer also has a line for every message
# changed since, which over a whole large folder could exceed what one answer may take.
VANISHED_WINDOW = 10_000


@dataclass(slots=True)
class Batch:
    """UIDs fetched together; `headers_only` for messages over the size limit."""

    uids: list[int]
    headers_only: bool = False


@dataclass
class FolderSync:
    mailbox: Mailbox
    session: ImapSession
    intake: Intake
    batch_size: int = 200
    qresync: bool = False
    batch_bytes: int = 32 * 1024 * 1024
    removed: int = 0  # copies removed because the server no longer has them, in all runs

    async def run(self, folder: Folder) -> IngestReport:
        """Bring the folder up to date; returns what was stored."""
        state = await self.session.select(folder.name)
        cursor = await self._cursor(folder, state)
        report = IngestReport()
        report.merge(await self._newer(folder, cursor, state))
        report.merge(await self._older(folder, cursor, state))
        await self._deletions(folder, cursor, state)
        cursor.highestmodseq = state.highestmodseq
        cursor.synced_at = datetime.now(UTC)
        await cursor.save()
        report.outcomes.clear()
        return report

    async def _cursor(self, folder: Folder, state: FolderState) -> FolderCursor:
        cursor, _ = await FolderCursor.get_or_create(
            mailbox_id=self.mailbox.id, folder=folder.name, defaults={"role": folder.role}
        )
        if cursor.uidvalidity is not None and cursor.uidvalidity != state.uidvalidity:
            log.warning(
                "%s %s: UIDVALIDITY changed from %s to %s; syncing the folder again",
                self.mailbox.address,
                folder.name,
                cursor.uidvalidity,
                state.uidvalidity,
            )
            cursor.uidvalidity = None
        if cursor.uidvalidity is None:
            cursor.uidvalidity = state.uidvalidity
            cursor.last_uid, cursor.low_uid, cursor.highestmodseq = 0, None, None
            cursor.total = cursor.done = 0
            await cursor.save()
        return cursor

    async def _newer(
        self, folder: Folder, cursor: FolderCursor, state: FolderState
    ) -> IngestReport:
        """Messages above the last UID stored, oldest first; on a first sync, the top UID is
        only noted here, and `_older` fetches downwards from it."""
        if cursor.low_uid is None:
            everything = await self.session.uids()
            cursor.last_uid = everything[-1] if everything else 0
            cursor.low_uid = cursor.last_uid + 1
            cursor.total, cursor.done = len(everything), 0
            await cursor.save()
            return IngestReport()
        if state.uidnext is not None and state.uidnext <= cursor.last_uid + 1:
            return IngestReport()  # nothing new: UIDNEXT has not moved
        fresh = await self.session.uids(cursor.last_uid)
        cursor.total += len(fresh)
        return await self._store_batches(folder, cursor, state, fresh, upwards=True)

    async def _older(
        self, folder: Folder, cursor: FolderCursor, state: FolderState
    ) -> IngestReport:
        """The rest of a first sync: everything below `low_uid`, newest first."""
        assert cursor.low_uid is not None
        if cursor.low_uid <= 1:
            return IngestReport()
        below = [uid for uid in await self.session.uids() if uid < cursor.low_uid]
        report = await self._store_batches(folder, cursor, state, below[::-1], upwards=False)
        cursor.low_uid = 1  # every message below the first one seen is stored
        await self._forget_stale(folder, cursor)
        await cursor.save()
        return report

    async def _store_batches(
        self,
        folder: Folder,
        cursor: FolderCursor,
        state: FolderState,
        uids: list[int],
        *,
        upwards: bool,
    ) -> IngestReport:
        """Fetch and store `uids` in batches, three stages deep: while one batch is being
        stored, the next is on the wire and the previous one is being processed."""
        batches = await self._batches(uids)
        fetching: asyncio.Task[list[Fetched]] | None = None
        try:
            async with Batches(self.intake) as processing:
                for index, batch in enumerate(batches):
                    fetched = await (fetching or self._fetch(batch))
                    fetching = None
                    if index + 1 < len(batches):
                        fetching = asyncio.create_task(self._fetch(batches[index + 1]))
                    pending = await self._store_and_advance(
                        folder, cursor, state, batch.uids, fetched, upwards
                    )
                    await processing.add(pending)
                await processing.finish()
        finally:
            # On failure, let the fetch in flight end before the caller closes the session.
            if fetching is not None:
                await asyncio.gather(fetching, return_exceptions=True)
        return processing.report

    async def _fetch(self, batch: Batch) -> list[Fetched]:
        return await self.session.fetch(batch.uids, headers_only=batch.headers_only)

    async def _batches(self, uids: list[int]) -> list[Batch]:
        """`uids` in batches of at most `batch_size` messages and `batch_bytes`, in their
        order (the cursor moves past each batch): a few huge messages must not make one FETCH
        response (and its processing) hold gigabytes. Messages over the size limit make
        batches of their own, of headers only: asked for whole, they would be refused, and
        the folder would never get past them."""
        limit = self.session.max_message_bytes
        batches: list[Batch] = []
        for start in range(0, len(uids), self.batch_size):
            chunk = uids[start : start + self.batch_size]
            sizes = await self.session.sizes(chunk)
            batch: Batch | None = None
            volume = 0
            for uid in chunk:
                size = sizes.get(uid, 0)
                over = size > limit
                full = not over and volume + size > self.batch_bytes
                if batch is None or batch.headers_only != over or full:
                    batch, volume = Batch([], over), 0
                    batches.append(batch)
                batch.uids.append(uid)
                volume += 0 if over else size
        return batches

    async def _store_and_advance(
        self,
        folder: Folder,
        cursor: FolderCursor,
        state: FolderState,
        batch: list[int],
        fetched: list[Fetched],
        upwards: bool,
    ) -> list[Pending]:
        """Store the batch's bytes and move the cursor past it in one transaction: the cursor
        never passes a message that is not stored, and one disk sync serves both."""
        async with in_transaction():
            pending = await self._store(folder, state, fetched)
            if upwards:
                cursor.last_uid = max(cursor.last_uid, max(batch))
            else:
                cursor.low_uid = min(batch)
            cursor.done += len(fetched)
            await cursor.save()
            await self._progress()
        return pending

    async def _store(
        self, folder: Folder, state: FolderState, fetched: list[Fetched]
    ) -> list[Pending]:
        return await self.intake.store(self.mailbox, [incoming(folder, state, f) for f in fetched])

    async def _progress(self) -> None:
        cursors = await FolderCursor.filter(mailbox_id=self.mailbox.id).values_list("total", "done")
        self.mailbox.progress_total = sum(t for t, _ in cursors)
        self.mailbox.progress_done = sum(min(d, t) for t, d in cursors)
        await self.mailbox.save(update_fields=["progress_total", "progress_done"])

    async def _deletions(self, folder: Folder, cursor: FolderCursor, state: FolderState) -> None:
        if cursor.low_uid is None or cursor.low_uid > 1:
            return  # the first sync is not complete
        if self.qresync and cursor.highestmodseq is not None and state.highestmodseq is not None:
            if state.highestmodseq == cursor.highestmodseq:
                return
            gone = await self._vanished(folder, state, cursor.highestmodseq)
        else:
            stored = await self._stored_uids(folder.name, state.uidvalidity)
            if len(stored) == state.exists:
                return
            gone = stored - set(await self.session.uids())
        if gone:
            keys = [item_key(folder.name, state.uidvalidity, uid) for uid in gone]
            removed = await remove_items(self.mailbox.workspace_id, self.mailbox.id, keys)
            self.removed += len(gone)
            log.info(
                "%s %s: %d deleted at the server (%d messages removed)",
                self.mailbox.address,
                folder.name,
                len(gone),
                removed,
            )

    async def _vanished(self, folder: Folder, state: FolderState, modseq: int) -> set[int]:
        """Stored UIDs expunged at the server since `modseq`, asked about VANISHED_WINDOW at
        a time."""
        known = sorted(await self._stored_uids(folder.name, state.uidvalidity))
        gone: set[int] = set()
        for start in range(0, len(known), VANISHED_WINDOW):
            window = known[start : start + VANISHED_WINDOW]
            gone |= await self.session.vanished_since(modseq, window)
        return gone

    async def _stored_uids(self, folder: str, uidvalidity: int) -> set[int]:
        rows: list[Any] = await ProviderItem.filter(
            mailbox_id=self.mailbox.id, folder=folder, uidvalidity=uidvalidity
        ).values_list("uid", flat=True)
        return {int(uid) for uid in rows if uid is not None}

    async def _forget_stale(self, folder: Folder, cursor: FolderCursor) -> None:
        """After a full pass, items of an earlier UIDVALIDITY are gone from the server."""
        stale = (
            await ProviderItem.filter(mailbox_id=self.mailbox.id, folder=folder.name)
            .exclude(uidvalidity=cursor.uidvalidity)
            .values_list("item", flat=True)
        )
        if stale:
            await remove_items(self.mailbox.workspace_id, self.mailbox.id, [str(s) for s in stale])
            self.removed += len(stale)


def incoming(folder: Folder, state: FolderState, fetched: Fetched) -> Incoming:
    """A fetched message as the intake takes it, with where the folder holds it."""
    return Incoming(
        fetched.raw,
        SourceFacts(
            provider_id=f"{folder.name}:{state.uidvalidity}:{fetched.uid}",
            folder=folder.name,
            received_at=fetched.internaldate,
            outbound=folder.outbound,
            item=item_key(folder.name, state.uidvalidity, fetched.uid),
            uidvalidity=state.uidvalidity,
            uid=fetched.uid,
            truncated_from=(fetched.size or len(fetched.raw)) if fetched.headers_only else None,
        ),
    )


def item_key(folder: str, uidvalidity: int, uid: int) -> str:
    return f"{uidvalidity}:{uid}:{folder}"
