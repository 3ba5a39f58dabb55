"""Importing files into a mailbox: the sources found by `formats`, in batches, through the
intake port. Each batch is stored, then parsed while the one before it is committed. What cannot
be read is handed to `unreadable` as it is met, and the import goes on."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from mailroom.intake import Batches, Incoming, IngestReport, Intake, SourceFacts
from mailroom.models import Mailbox
from mailroom.sources.files.formats import Source, Unreadable, messages


async def import_sources(
    intake: Intake,
    mailbox: Mailbox,
    sources: Iterable[Source],
    *,
    batch_size: int = 500,
    progress: Callable[[int], None] | None = None,
    unreadable: Callable[[Unreadable], None] | None = None,
) -> IngestReport:
    """Ingest every message of the sources; `progress` is told how many were just done and
    `unreadable` (if given) of each message or file that could not be read."""
    # An import of millions keeps counts, not one outcome per message.
    async with Batches(intake, keep_outcomes=False) as batches:
        for batch in _batches(_incoming(sources, unreadable), batch_size):
            done = await batches.add(await intake.store(mailbox, batch))
            if progress is not None and done:
                progress(done)
        done = await batches.finish()
        if progress is not None and done:
            progress(done)
    return batches.report


def _incoming(
    sources: Iterable[Source], unreadable: Callable[[Unreadable], None] | None
) -> Iterator[Incoming]:
    for source in sources:
        for found in messages(source):
            if isinstance(found, Unreadable):
                if unreadable is not None:
                    unreadable(found)
                continue
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
