"""Fetching messages from a provider's API and storing them, the fetches of what comes next
on the wire while what came before is stored (and processed): the provider's answers and the
disk's syncs overlap. Shared by the Gmail and Graph syncs.

Ids come in chunks (one fetch call each). Fetched chunks are stored together, up to
STORE_MESSAGES or STORE_BYTES, in one transaction each: a transaction costs a disk sync, and
the import's batches are as large. The last one also moves the sync's cursor (`following`),
so a crash leaves the cursor where the stored messages end.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

from mailroom.intake import Batches
from mailroom.intake.port import Pending
from mailroom.models import Mailbox, ProviderItem
from mailroom.models.bulk import chunked

T = TypeVar("T")
Move = dict[str, Any]  # fields of the cursor to replace
# Chunks fetched ahead of the one being stored; each holds one chunk of messages in memory.
FETCH_AHEAD = 2
STORE_MESSAGES = 500
STORE_BYTES = 64 * 1024 * 1024


async def fetch_and_store(
    chunks: list[list[str]],
    fetch: Callable[[list[str]], Coroutine[Any, Any, dict[str, T]]],
    store: Callable[[list[str], dict[str, T], Move | None], Awaitable[list[Pending]]],
    processing: Batches,
    *,
    size: Callable[[dict[str, T]], int],
    following: Move | None = None,
) -> None:
    """Fetch every chunk and `store` them in groups, the last with the cursor's move to
    `following`; with nothing to fetch, the move is stored alone."""
    if not chunks:
        if following is not None:
            await store([], {}, following)
        return
    ahead: deque[asyncio.Task[dict[str, T]]] = deque()
    group: list[str] = []
    fetched: dict[str, T] = {}
    held = 0
    try:
        for index, chunk in enumerate(chunks):
            while len(ahead) < FETCH_AHEAD and index + len(ahead) < len(chunks):
                ahead.append(asyncio.create_task(fetch(chunks[index + len(ahead)])))
            answers = await ahead.popleft()
            fetched.update(answers)
            held += size(answers)
            group += chunk
            last = index == len(chunks) - 1
            if last or len(group) >= STORE_MESSAGES or held >= STORE_BYTES:
                await processing.add(await store(group, fetched, following if last else None))
                group, fetched, held = [], {}, 0
    finally:
        # On failure, the fetches in flight end before the caller closes its client.
        await asyncio.gather(*ahead, return_exceptions=True)


def chunks_of(ids: list[str], size: int) -> list[list[str]]:
    return [ids[start : start + size] for start in range(0, len(ids), size)]


async def stored_items(mailbox: Mailbox, keys: Sequence[str] | None = None) -> set[str]:
    """The provider's keys the mailbox holds: all of them, or those of `keys`."""
    query = ProviderItem.filter(mailbox_id=mailbox.id)
    if keys is None:
        return {str(i) for i in await query.values_list("item", flat=True)}
    found: set[str] = set()
    for chunk in chunked(list(keys)):
        rows = await query.filter(item__in=chunk).values_list("item", flat=True)
        found |= {str(i) for i in rows}
    return found
