"""One Microsoft 365 mailbox brought up to date through Graph: its Inbox and Sent Items, each
by its message delta.

The cursor (the mailbox's `cursor` JSON) holds, per folder, `link`: the next link of a round
under way or the delta link where the next round starts (none: a full round is due), and
`resync` while a full round after an expired delta state has not yet been reconciled. A link
moves in the transaction that stores the messages of the page it follows, so a crash or a
restart continues with the page it was on, and what that page stored is skipped, never
fetched again.

A delta round reports messages added to, changed in or moved into the folder (fetched unless
stored), and `@removed` ones, deleted or moved out (their copy goes). Stored items are keyed
`folder/id`, with immutable ids (`IdType="ImmutableId"`): a message moved between the two
folders leaves one and arrives in the other. An expired delta state (410,
`syncStateNotFound`, `resyncRequired`) starts the folder's full round again, and once it has
run, `reconcile` removes what Graph no longer lists. Every path may repeat work; none doubles
a message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from tortoise.transactions import in_transaction

from mailroom.intake import Batches, Intake
from mailroom.intake.port import Incoming, IngestReport, Pending, SourceFacts
from mailroom.intake.removal import remove_items
from mailroom.models import Mailbox
from mailroom.sources.graph.client import GraphClient
from mailroom.sources.graph.errors import DeltaExpired, ProtocolError
from mailroom.sources.graph.resources import DeltaItem, Fetched, Gone, Oversize
from mailroom.sources.reconciliation import Reconciliation
from mailroom.sources.storing import chunks_of, fetch_and_store, stored_items

log = logging.getLogger(__name__)

# The folders synced, by their well-known names; Sent Items is outbound mail.
FOLDERS = ("inbox", "sentitems")
OUTBOUND = "sentitems"
# Messages fetched by one call, at most `graph_concurrency` (4) at a time.
CHUNK = 50
# Where a message's own Message-ID is, to check it against Graph's internetMessageId.
_MESSAGE_ID = re.compile(rb"(?im)^message-id:[ \t]*(<[^>\r\n]{1,995}>)")
HEADER_SCAN = 256 * 1024


@dataclass(slots=True)
class Pass:
    """What one pass did."""

    report: IngestReport = field(default_factory=IngestReport)
    removed: int = 0  # copies removed (deleted, or moved out of the synced folders)
    skipped: int = 0  # reported, but gone when fetched
    full: bool = False  # a full round ran for a folder (first sync or resync)


class GraphSync:
    """Syncs one mailbox through `client`. Call `run` for a pass."""

    def __init__(
        self,
        mailbox: Mailbox,
        client: GraphClient,
        intake: Intake,
        beat: Callable[[], Awaitable[object]] | None = None,
    ) -> None:
        self.mailbox = mailbox
        self.client = client
        self.intake = intake
        # Called after each stored batch: the supervisor's lease must not lapse meanwhile.
        self.beat = beat

    async def run(self) -> Pass:
        done = Pass()
        async with Batches(self.intake) as processing:
            if any(self._state(folder).get("link") is None for folder in FOLDERS):
                await self._count_total()
            for folder in FOLDERS:
                try:
                    await self._folder(folder, done, processing)
                except DeltaExpired as expired:
                    log.info(
                        "Graph delta expired: the folder is listed again",
                        extra={"mailbox": self.mailbox.address, "error": str(expired)},
                    )
                    await self._save_state(folder, {"link": None, "resync": True, "synced": False})
                    await self._folder(folder, done, processing)
            await processing.finish()
        done.report.merge(processing.report)
        return done

    async def reconcile(self, repair: bool = False) -> Reconciliation:
        """Compare what the two folders hold at Graph with what is stored; with `repair`,
        fetch what is missing and remove what is extra."""
        listed: list[str] = []
        for folder in FOLDERS:
            listed += [_key(folder, i) for i in await self.client.all_ids(folder)]
        at_graph = set(listed)
        stored = await stored_items(self.mailbox)
        found = Reconciliation(
            provider=len(at_graph),
            stored=len(stored),
            missing=tuple(k for k in dict.fromkeys(listed) if k not in stored),
            extra=tuple(sorted(stored - at_graph)),
        )
        if not repair:
            return found
        done = Pass()
        async with Batches(self.intake) as processing:
            by_id = {_id_of(key): DeltaItem(_id_of(key)) for key in found.missing}
            for folder in FOLDERS:
                wanted = [_id_of(k) for k in found.missing if k.startswith(folder + "/")]
                await self._fetch_and_store(folder, wanted, by_id, done, processing, None)
            await processing.finish()
        await self._remove(found.extra)
        return replace(found, repaired=True)

    # A folder's delta.

    async def _folder(self, folder: str, done: Pass, processing: Batches) -> None:
        state = self._state(folder)
        link = state.get("link")
        if link is None:
            done.full = True
        while True:
            page = await self.client.delta(folder, link)
            # Entries come in the order things happened: a message's last one says where it is.
            latest = {item.id: item for item in page.items}
            leaving = [_key(folder, i.id) for i in latest.values() if i.removed or i.draft]
            if leaving:
                done.removed += await self._remove(leaving)
            present = {i.id: i for i in latest.values() if not (i.removed or i.draft)}
            stored = await stored_items(self.mailbox, [_key(folder, i) for i in present])
            wanted = [i for i in present if _key(folder, i) not in stored]
            if page.next_link is not None and page.next_link == link:
                # A server that sends a page back to itself would be paged forever.
                raise ProtocolError(f"Graph's delta of {folder} links a page to itself")
            link = page.next_link or page.delta_link
            caught_up = state.get("synced") or page.delta_link is not None
            following = {folder: {**state, "link": link, "synced": bool(caught_up)}}
            await self._fetch_and_store(folder, wanted, present, done, processing, following)
            state = following[folder]
            if page.delta_link is not None:
                break
        if state.get("resync"):
            # What was stored is processed before it is compared.
            await processing.finish()
            await self._reconcile_folder(folder, done)
            await self._save_state(folder, {**state, "resync": False})

    async def _reconcile_folder(self, folder: str, done: Pass) -> None:
        at_graph = {_key(folder, i) for i in await self.client.all_ids(folder)}
        stored = {key for key in await stored_items(self.mailbox) if key.startswith(folder + "/")}
        done.removed += await self._remove(stored - at_graph)

    async def _fetch_and_store(
        self,
        folder: str,
        ids: list[str],
        items: dict[str, DeltaItem],
        done: Pass,
        processing: Batches,
        following: dict[str, Any] | None,
    ) -> None:
        async def store(
            chunk: list[str], fetched: dict[str, Fetched], move: dict[str, Any] | None
        ) -> list[Pending]:
            return await self._store(folder, chunk, fetched, items, done, move)

        await fetch_and_store(
            chunks_of(ids, CHUNK),
            self.client.mime,
            store,
            processing,
            size=_size,
            following=following,
        )

    async def _store(
        self,
        folder: str,
        ids: list[str],
        fetched: dict[str, Fetched],
        items: dict[str, DeltaItem],
        done: Pass,
        move: dict[str, Any] | None,
    ) -> list[Pending]:
        """Store what Graph still keeps of `ids`, with the cursor's `move` in the same
        transaction."""
        incoming: list[Incoming] = []
        for message_id in ids:
            got = fetched.get(message_id)
            if isinstance(got, bytes):
                item = items[message_id]
                self._check_message_id(message_id, item, got)
                incoming.append(Incoming(got, _facts(folder, item)))
            elif isinstance(got, Oversize):
                # Kept with its header, its size noted, as the IMAP and Gmail syncs keep one.
                head = await self.client.head(message_id)
                if isinstance(head, Gone):
                    done.skipped += 1
                    continue
                log.warning(
                    "Graph message over the size bound: only its header is kept",
                    extra={"mailbox": self.mailbox.address, "item": message_id},
                )
                facts = replace(_facts(folder, items[message_id]), truncated_from=got.limit + 1)
                incoming.append(Incoming(head, facts))
            elif isinstance(got, Gone) or got is None:
                done.skipped += 1
        async with in_transaction():
            pending = await self.intake.store(self.mailbox, incoming) if incoming else []
            if move is not None:
                self.mailbox.cursor = {**self._cursor(), **move}
            self.mailbox.progress_done += len(incoming)
            await self.mailbox.save(update_fields=["cursor", "progress_done"])
        if self.beat is not None:
            await self.beat()
        return pending

    def _check_message_id(self, message_id: str, item: DeltaItem, raw: bytes) -> None:
        """Graph's internetMessageId against the message's own: a difference is logged (the
        bytes are what is stored; Graph's field is only a cross-check)."""
        if item.internet_message_id is None:
            return
        end = raw.find(b"\r\n\r\n", 0, HEADER_SCAN)
        found = _MESSAGE_ID.search(raw, 0, end if end >= 0 else HEADER_SCAN)
        own = found.group(1).decode("latin-1") if found else None
        if own != item.internet_message_id:
            log.warning(
                "Graph's internetMessageId differs from the message's Message-ID",
                extra={
                    "mailbox": self.mailbox.address,
                    "item": message_id,
                    "graph": item.internet_message_id[:200],
                    "message": (own or "")[:200],
                },
            )

    async def _count_total(self) -> None:
        """The size of what a full round will go through, for progress."""
        total = 0
        for folder in FOLDERS:
            total += (await self.client.folder(folder)).total
        self.mailbox.progress_total = total
        self.mailbox.progress_done = 0
        await self.mailbox.save(update_fields=["progress_total", "progress_done"])

    async def _remove(self, keys: Iterable[str]) -> int:
        wanted = list(keys)
        if not wanted:
            return 0
        held = await stored_items(self.mailbox, wanted)
        if held:
            await remove_items(self.mailbox.workspace_id, self.mailbox.id, list(held))
        return len(held)

    async def _save_state(self, folder: str, state: dict[str, Any]) -> None:
        self.mailbox.cursor = {**self._cursor(), folder: state}
        await self.mailbox.save(update_fields=["cursor"])

    def _state(self, folder: str) -> dict[str, Any]:
        state = self._cursor().get(folder)
        return dict(state) if isinstance(state, dict) else {}

    def _cursor(self) -> dict[str, Any]:
        return dict(self.mailbox.cursor or {})


def first_sync_due(cursor: dict[str, Any] | None) -> bool:
    """Whether a folder has not finished its first full round (or a resync's) yet."""
    states = cursor or {}
    return not all(isinstance(states.get(f), dict) and states[f].get("synced") for f in FOLDERS)


def _facts(folder: str, item: DeltaItem) -> SourceFacts:
    return SourceFacts(
        provider_id=item.id,
        provider_thread_id=item.conversation_id,
        labels=(folder,),
        received_at=item.received_at,
        outbound=folder == OUTBOUND,
        item=_key(folder, item.id),
    )


def _key(folder: str, message_id: str) -> str:
    return f"{folder}/{message_id}"


def _id_of(key: str) -> str:
    return key.partition("/")[2]


def _size(fetched: dict[str, Fetched]) -> int:
    return sum(len(got) for got in fetched.values() if isinstance(got, bytes))
