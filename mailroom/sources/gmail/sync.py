"""One Gmail mailbox brought up to date: the first sync, increments from its history, and the
resync that reconciles when Gmail no longer has that history.

The cursor (the mailbox's `cursor` JSON) holds `history_id`, where increments continue, and
while a full listing runs, `listing`: the token of the page of messages.list being stored. It
moves in the transaction that stores the messages it covers, so a crash or a restart continues
with the page it was on: what that page's earlier batches stored is skipped, never fetched
again, and nothing after it is skipped.

The first sync notes the history id before it lists anything (users.getProfile), so the
increments that follow also see what changed while it ran. A listing after `HistoryExpired`
is a resync: it fetches what is not stored yet, then `reconcile` removes what Gmail no longer
lists. Increments and listings skip what the mailbox holds already, so every path may repeat
work, and none doubles a message.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tortoise.transactions import in_transaction

from mailroom.intake import Batches, Intake
from mailroom.intake.port import Incoming, IngestReport, Pending, SourceFacts
from mailroom.intake.removal import remove_items
from mailroom.models import Mailbox, MessageCopy, ProviderItem
from mailroom.sources.gmail.client import GmailClient
from mailroom.sources.gmail.errors import HistoryExpired
from mailroom.sources.gmail.resources import (
    Change,
    Fetched,
    Gone,
    MessageHead,
    Oversize,
    RawMessage,
)
from mailroom.sources.reconciliation import Reconciliation
from mailroom.sources.storing import fetch_and_store, stored_items

log = logging.getLogger(__name__)

# What the sync never keeps: Gmail's spam and trash, drafts, and Hangouts chats.
LEAVES = frozenset({"SPAM", "TRASH"})
NEVER = frozenset({"DRAFT", "CHAT"})
EXCLUDED = LEAVES | NEVER
# Messages fetched by one call (two batch requests of Gmail's at most 50 parts): larger ones
# would hold more bytes in memory, whose sizes are not known before they arrive.
CHUNK = 100
# Chunks fetched ahead of the one being stored; each holds at most CHUNK messages in memory.
FETCH_AHEAD = 6
# Fetched chunks are stored (and then processed) together, in one transaction, up to this many
# messages or bytes: each transaction costs a disk sync, and the import's batches are as large.
STORE_MESSAGES = 500
STORE_BYTES = 64 * 1024 * 1024


@dataclass(slots=True)
class Pass:
    """What one pass did."""

    report: IngestReport = field(default_factory=IngestReport)
    removed: int = 0  # copies removed (deleted at Gmail, moved to spam or trash)
    skipped: int = 0  # listed, but gone when fetched
    relabeled: int = 0
    full: bool = False  # a listing ran (first sync or resync)


class GmailSync:
    """Syncs one mailbox through `client`. Call `run` for a pass."""

    def __init__(
        self,
        mailbox: Mailbox,
        client: GmailClient,
        intake: Intake,
        beat: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.mailbox = mailbox
        self.client = client
        self.intake = intake
        # Called after each stored batch: a first sync runs for hours, and the supervisor's
        # lease on the mailbox must not lapse meanwhile.
        self.beat = beat

    async def run(self) -> Pass:
        """One pass: the listing if one is due or under way, then the increments."""
        done = Pass()
        async with Batches(self.intake) as processing:
            if self._cursor().get("history_id") is None:
                await self._begin_listing(resync=False)
            try:
                if "listing" in self._cursor():
                    await self._list(done, processing)
                await self._increments(done, processing)
            except HistoryExpired as expired:
                log.info(
                    "Gmail history expired: listing the mailbox again",
                    extra={"mailbox": self.mailbox.address, "error": str(expired)},
                )
                await self._begin_listing(resync=True)
                await self._list(done, processing)
                await self._increments(done, processing)
            await processing.finish()
        done.report.merge(processing.report)
        return done

    async def reconcile(self, repair: bool = False) -> Reconciliation:
        """Compare what Gmail keeps with what is stored; with `repair`, fetch what is missing
        and remove what is extra."""
        listed: list[str] = []
        token: str | None = None
        while True:
            page = await self.client.list_message_ids(token)
            listed.extend(ref.id for ref in page.messages)
            token = page.next_page_token
            if token is None:
                break
        at_gmail = set(listed)
        stored = await stored_items(self.mailbox)
        found = Reconciliation(
            provider=len(at_gmail),
            stored=len(stored),
            missing=tuple(i for i in dict.fromkeys(listed) if i not in stored),
            extra=tuple(sorted(stored - at_gmail)),
        )
        if not repair:
            return found
        async with Batches(self.intake) as processing:
            await self._store_chunks(list(_chunks(found.missing)), Pass(), processing)
            await processing.finish()
        await self._remove(found.extra)
        return replace(found, repaired=True)

    # The listing: the first sync, or a resync.

    async def _begin_listing(self, *, resync: bool) -> None:
        profile = await self.client.profile()
        cursor = {
            "history_id": profile.history_id,
            "listing": {"page_token": None, "resync": resync},
        }
        self.mailbox.cursor = cursor
        self.mailbox.progress_total = profile.messages_total
        self.mailbox.progress_done = 0
        await self.mailbox.save(update_fields=["cursor", "progress_total", "progress_done"])

    async def _list(self, done: Pass, processing: Batches) -> None:
        done.full = True
        listing = dict(self._cursor()["listing"])
        while True:
            page = await self.client.list_message_ids(listing.get("page_token"))
            stored = await stored_items(self.mailbox, [ref.id for ref in page.messages])
            wanted = [ref.id for ref in page.messages if ref.id not in stored]
            chunks = list(_chunks(wanted))
            # The page's last batch moves the cursor to the next page.
            following = {"listing": {**listing, "page_token": page.next_page_token}}
            await self._store_chunks(chunks, done, processing, following)
            listing["page_token"] = page.next_page_token
            if page.next_page_token is None:
                break
        # What was stored is processed before it is compared, or looked for by the increments
        # (which would otherwise fetch what the last batches hold).
        await processing.finish()
        if listing.get("resync"):
            found = await self.reconcile()
            await self._remove(found.extra)
            done.removed += len(found.extra)
        cursor = dict(self._cursor())
        cursor.pop("listing", None)
        self.mailbox.cursor = cursor
        await self.mailbox.save(update_fields=["cursor"])

    # Increments: history.list from the stored history id.

    async def _increments(self, done: Pass, processing: Batches) -> None:
        start = int(self._cursor()["history_id"])
        token: str | None = None
        while True:
            page = await self.client.history(start, token)
            wanted, leaving, labels = _net_changes(page.changes)
            # Removals and label changes may be applied again (a crash before the cursor
            # moves), so they go first; what is fetched comes with Gmail's labels of now.
            if leaving:
                done.removed += await self._remove(leaving)
            done.relabeled += await self._relabel(
                {i: change for i, change in labels.items() if i not in leaving}
            )
            stored = await stored_items(self.mailbox, list(wanted))
            fetch = [i for i in wanted if i not in stored]
            token = page.next_page_token
            # Every page applied, the last one's batch moves the history id: later passes
            # start from there.
            following = None if token is not None else {"history_id": page.history_id}
            await self._store_chunks(list(_chunks(fetch)), done, processing, following)
            if token is None:
                return

    # Storing.

    async def _store_chunks(
        self,
        chunks: list[list[str]],
        done: Pass,
        processing: Batches,
        following: dict[str, Any] | None = None,
    ) -> None:
        async def store(
            ids: list[str], fetched: dict[str, Fetched], move: dict[str, Any] | None
        ) -> list[Pending]:
            return await self._store(ids, fetched, done, move)

        await fetch_and_store(
            chunks, self.client.get_raw, store, processing, size=_size, following=following
        )

    async def _store(
        self,
        ids: Sequence[str],
        fetched: dict[str, Fetched],
        done: Pass,
        move: dict[str, Any] | None = None,
    ) -> list[Pending]:
        """Store what Gmail still keeps of `ids`, with the cursor's `move` in the same
        transaction."""
        items: list[Incoming] = []
        for message_id in ids:
            got = fetched.get(message_id)
            if isinstance(got, Oversize):
                # Over the size bound (Gmail takes up to 50 MB; only a hostile or broken answer
                # is larger): kept with its header, its size noted, as the IMAP sync keeps one.
                head = await self.client.get_head(message_id)
                if isinstance(head, MessageHead) and not head.label_ids & EXCLUDED:
                    log.warning(
                        "Gmail message over the size bound: only its header is kept",
                        extra={"mailbox": self.mailbox.address, "item": message_id},
                    )
                    truncated = max(head.size, got.limit + 1)
                    items.append(Incoming(head.header, _facts(head, truncated)))
                elif isinstance(head, Gone):
                    done.skipped += 1
            elif isinstance(got, RawMessage) and not got.label_ids & EXCLUDED:
                items.append(Incoming(got.raw, _facts(got)))
            elif isinstance(got, Gone) or got is None:
                done.skipped += 1
        async with in_transaction():
            pending = await self.intake.store(self.mailbox, items) if items else []
            if move is not None:
                self.mailbox.cursor = {**self._cursor(), **move}
            self.mailbox.progress_done += len(items)
            await self.mailbox.save(update_fields=["cursor", "progress_done"])
        if self.beat is not None:
            await self.beat()
        return pending

    async def _remove(self, ids: Iterable[str]) -> int:
        keys = list(ids)
        if not keys:
            return 0
        await remove_items(self.mailbox.workspace_id, self.mailbox.id, keys)
        return len(keys)

    async def _relabel(self, changes: dict[str, tuple[frozenset[str], frozenset[str]]]) -> int:
        """Keep the labels of stored copies as Gmail has them."""
        if not changes:
            return 0
        held = await ProviderItem.filter(
            mailbox_id=self.mailbox.id, item__in=list(changes)
        ).values_list("item", "message_id")
        count = 0
        for item, message_id in held:
            added, removed = changes[str(item)]
            copy = await MessageCopy.get_or_none(mailbox_id=self.mailbox.id, message_id=message_id)
            if copy is None:
                continue
            labels = (set(copy.labels or []) | added) - removed
            if labels != set(copy.labels or []):
                copy.labels = sorted(labels)
                await copy.save(update_fields=["labels"])
                count += 1
        return count

    def _cursor(self) -> dict[str, Any]:
        return dict(self.mailbox.cursor or {})


def _facts(message: RawMessage | MessageHead, truncated_from: int | None = None) -> SourceFacts:
    return SourceFacts(
        provider_id=message.id,
        provider_thread_id=message.thread_id,
        labels=tuple(sorted(message.label_ids)),
        received_at=message.internal_date,
        outbound="SENT" in message.label_ids,
        item=message.id,
        truncated_from=truncated_from,
    )


def _net_changes(
    changes: Iterable[Change],
) -> tuple[dict[str, str], set[str], dict[str, tuple[frozenset[str], frozenset[str]]]]:
    """A page of history read in order: the ids to fetch unless stored (with their thread),
    the ids that leave the mailbox, and the label changes of the rest."""
    wanted: dict[str, str] = {}
    leaving: set[str] = set()
    labels: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    for change in changes:
        ident = change.message_id
        added, removed = labels.get(ident, (frozenset(), frozenset()))
        if change.kind == "messageDeleted":
            wanted.pop(ident, None)
            leaving.add(ident)
        elif change.kind == "messageAdded":
            if change.label_ids & EXCLUDED:
                continue
            wanted[ident] = change.thread_id
            leaving.discard(ident)
        elif change.kind == "labelAdded":
            if change.label_ids & LEAVES:
                wanted.pop(ident, None)
                leaving.add(ident)
            labels[ident] = (added | change.label_ids, removed - change.label_ids)
        elif change.kind == "labelRemoved":
            if change.label_ids & LEAVES:
                # Back from spam or trash: fetched unless stored, and kept only if Gmail's
                # labels say it is out of both now.
                wanted[ident] = change.thread_id
                leaving.discard(ident)
            labels[ident] = (added - change.label_ids, removed | change.label_ids)
    return wanted, leaving, labels


def _size(fetched: dict[str, Fetched]) -> int:
    return sum(len(got.raw) for got in fetched.values() if isinstance(got, RawMessage))


def _chunks(ids: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])
