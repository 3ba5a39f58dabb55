"""Durable intake for the live edges (the SMTP gateway now, the pollers later).

`submit` returns once the bytes are committed: what an edge acknowledges after it is never
lost. Submissions that arrive while a commit is running are committed together by the next
one (group commit), so many connections share each disk sync. A background task then
processes what was stored, one batch per workspace at a time; whatever it has not reached
when the process stops is replayed at the next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from itertools import groupby

from mailroom.gateway.ingest import Ingestor
from mailroom.gateway.intake import Incoming, IngestReport, Pending
from mailroom.models import Mailbox

log = logging.getLogger(__name__)

Submission = tuple[list[tuple[Mailbox, Incoming]], "asyncio.Future[list[Pending]]"]


class Pipeline:
    def __init__(self, ingestor: Ingestor, *, batch_size: int = 500) -> None:
        self.ingestor = ingestor
        self.batch_size = batch_size
        self._submissions: asyncio.Queue[Submission] = asyncio.Queue()
        self._stored: asyncio.Queue[Pending] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._outstanding = 0  # messages submitted and not yet processed (or refused)
        self._settled = asyncio.Condition()
        self.processed = IngestReport()

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._commit_loop(), name="pipeline-commit"),
            asyncio.create_task(self._process_loop(), name="pipeline-process"),
        ]

    async def stop(self) -> None:
        """Stop; stored but unprocessed messages stay pending for the next start."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def submit(self, items: list[tuple[Mailbox, Incoming]]) -> list[Pending]:
        """Store messages durably; returns when they are committed (raises if they are not)."""
        future: asyncio.Future[list[Pending]] = asyncio.get_running_loop().create_future()
        self._outstanding += len(items)
        await self._submissions.put((items, future))
        return await future

    async def drain(self) -> None:
        """Wait until everything submitted so far has been processed."""
        async with self._settled:
            await self._settled.wait_for(lambda: self._outstanding == 0)

    async def _settle(self, count: int) -> None:
        async with self._settled:
            self._outstanding -= count
            self._settled.notify_all()

    async def _commit_loop(self) -> None:
        while True:
            group = [await self._submissions.get()]
            while not self._submissions.empty() and len(group) < self.batch_size:
                group.append(self._submissions.get_nowait())
            items = [item for submission, _ in group for item in submission]
            try:
                stored = await self.ingestor.store_many(items)
            except Exception as error:  # noqa: BLE001 - each submitter is told
                log.exception("storing %d messages failed", len(items))
                for _, future in group:
                    if not future.done():
                        future.set_exception(error)
                await self._settle(len(items))
                continue
            start = 0
            for submission, future in group:
                end = start + len(submission)
                if not future.done():
                    future.set_result(stored[start:end])
                start = end
            for pending in stored:
                self._stored.put_nowait(pending)

    async def _process_loop(self) -> None:
        while True:
            batch = [await self._stored.get()]
            while not self._stored.empty() and len(batch) < self.batch_size:
                batch.append(self._stored.get_nowait())
            await self._process(batch)
            await self._settle(len(batch))

    async def _process(self, batch: Sequence[Pending]) -> None:
        ordered = sorted(batch, key=lambda p: str(p.workspace_id))
        for _, group in groupby(ordered, key=lambda p: p.workspace_id):
            try:
                report = await self.ingestor.process(list(group))
            except Exception:  # noqa: BLE001 - the messages stay pending for replay
                log.exception("processing failed; the messages stay pending")
                continue
            report.outcomes.clear()
            self.processed.merge(report)
