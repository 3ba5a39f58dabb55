"""Importing files into a mailbox: the sources found by `files`, in batches, through ingest."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from itertools import islice

from mailroom.gateway.files import Source, messages
from mailroom.gateway.ingest import IngestReport, Incoming, Ingestor, SourceFacts
from mailroom.models import Mailbox


async def import_sources(
    ingestor: Ingestor,
    mailbox: Mailbox,
    sources: Iterable[Source],
    *,
    batch_size: int = 200,
    progress: Callable[[int], None] | None = None,
) -> IngestReport:
    """Ingest every message of the sources; `progress` is told how many were just done."""
    report = IngestReport()
    for batch in _batches(_incoming(sources), batch_size):
        result = await ingestor.ingest(mailbox, batch)
        result.outcomes.clear()  # an import of millions keeps counts, not one entry per message
        report.merge(result)
        if progress is not None:
            progress(len(batch))
    return report


def _incoming(sources: Iterable[Source]) -> Iterator[Incoming]:
    for source in sources:
        for found in messages(source):
            yield Incoming(found.raw, SourceFacts(provider_id=found.provider_id, folder=found.folder))


def _batches(items: Iterator[Incoming], size: int) -> Iterator[list[Incoming]]:
    while batch := list(islice(items, size)):
        yield batch
