"""Importing files into a mailbox: the sources found by `files`, in batches, through ingest.

Batches are pipelined: while one batch is being committed, the next is already stored and
being normalized (on the ingestor's worker pool, when it has one).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator

from mailroom.gateway.files import Source, messages
from mailroom.gateway.ingest import Ingestor, Prepared
from mailroom.gateway.intake import Incoming, IngestReport, Pending, SourceFacts
from mailroom.models import Mailbox


async def import_sources(
    ingestor: Ingestor,
    mailbox: Mailbox,
    sources: Iterable[Source],
    *,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Ingest every message of the sources; `progress` is told how many were just done."""
    report = IngestReport()
    in_flight: tuple[asyncio.Task[list[Prepared]], list[Pending]] | None = None
    for batch in _batches(_incoming(sources), batch_size):
        pending = await ingestor.store(mailbox, batch)
        preparing = asyncio.ensure_future(ingestor.prepare(pending))
        if in_flight is not None:
            report.merge(await _commit(ingestor, *in_flight, progress))
        in_flight = (preparing, pending)
    if in_flight is not None:
        report.merge(await _commit(ingestor, *in_flight, progress))
    return report


async def _commit(
    ingestor: Ingestor,
    preparing: asyncio.Task[list[Prepared]],
    pending: list[Pending],
    progress: Callable[[int], None] | None,
) -> IngestReport:
    try:
        result = await ingestor.commit(await preparing)
    except Exception:  # noqa: BLE001 - `process` retries one by one and keeps what fails
        result = await ingestor.process(pending)
    result.outcomes.clear()  # an import of millions keeps counts, not one entry per message
    if progress is not None:
        progress(len(pending))
    return result


def _incoming(sources: Iterable[Source]) -> Iterator[Incoming]:
    for source in sources:
        for found in messages(source):
            facts = SourceFacts(provider_id=found.provider_id, folder=found.folder)
            yield Incoming(found.raw, facts)


# A batch of large messages stops here rather than at its message count.
BATCH_BYTES = 32 * 1024 * 1024


def _batches(items: Iterator[Incoming], size: int) -> Iterator[list[Incoming]]:
    batch: list[Incoming] = []
    volume = 0
    for item in items:
        batch.append(item)
        volume += len(item.raw)
        if len(batch) >= size or volume >= BATCH_BYTES:
            yield batch
            batch, volume = [], 0
    if batch:
        yield batch
