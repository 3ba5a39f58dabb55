"""Durable intake for the live edges (the SMTP gateway now, the pollers later).

`submit` returns once the bytes are on disk: what an edge acknowledges after it is never lost.
With a spool (the gateway's case) submissions are appended to it, those that arrive during one
sync going together into the next; the spool's sealed segments are then moved into the database
in large batches. Without one, they are committed to the database directly, also grouped.

A background task processes what the database holds, a workspace at a time. Taking mail in has
priority (senders wait for it; nobody waits for processing): moving the spool into the database
and processing wait until submissions have paused for a moment, and under a flood still get a
chunk through every few seconds; the backlog, durable meanwhile, is worked off when the flood
ends. Whatever is still pending or spooled when the process stops is taken up at the next start.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from itertools import groupby
from pathlib import Path
from uuid import UUID

from mailroom.intake import Intake
from mailroom.intake.durable import Target, present
from mailroom.intake.port import Incoming, IngestReport, Pending
from mailroom.intake.spool import Spool, SpoolRecord, read_segment

log = logging.getLogger(__name__)

Submission = tuple[Sequence[tuple[Target, Incoming]], "asyncio.Future[None]"]


class Pipeline:
    def __init__(
        self,
        intake: Intake,
        spool: Spool | None = None,
        *,
        batch_size: int = 500,
        chunk_size: int = 100,
        max_deferral: float = 5.0,
        import_interval: float = 0.05,
        quiet_after: float = 0.2,
    ) -> None:
        self.intake = intake
        self.spool = spool
        self.batch_size = batch_size
        self.chunk_size = chunk_size
        self.max_deferral = max_deferral
        self.import_interval = import_interval
        self.quiet_after = quiet_after
        self._last_submit = 0.0
        self.processed = IngestReport()
        self._submissions: asyncio.Queue[Submission] = asyncio.Queue()
        self._stored: asyncio.Queue[Pending] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._writing = False
        self._outstanding = 0  # messages submitted and not yet processed (or refused)
        self.spooled = 0  # messages in the spool, not yet moved into the database
        self._settled = asyncio.Condition()

    async def start(self) -> IngestReport:
        """Take up what an earlier run left spooled or pending, then start the background
        tasks. Returns what was taken up."""
        if self.spool is not None:
            for segment in self.spool.sealed():
                await self._import_segment(segment, recovered=True)
        # Whatever the spool held is pending now, with whatever an earlier run left pending.
        self._stored = asyncio.Queue()
        self._outstanding = 0
        recovered = await self.intake.replay(self.batch_size)
        self._tasks = [
            asyncio.create_task(self._write_loop(), name="pipeline-write"),
            asyncio.create_task(self._process_loop(), name="pipeline-process"),
        ]
        if self.spool is not None:
            self._tasks.append(asyncio.create_task(self._import_loop(), name="pipeline-import"))
        return recovered

    async def stop(self) -> None:
        """Stop; what is spooled or pending stays for the next start."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self.spool is not None:
            self.spool.close()

    async def submit(self, items: Sequence[tuple[Target, Incoming]]) -> None:
        """Make messages durable; returns when they are (raises if they could not be)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._last_submit = loop.time()
        self._outstanding += len(items)
        await self._submissions.put((items, future))
        await future

    async def drain(self) -> None:
        """Wait until everything submitted so far has been processed."""
        async with self._settled:
            await self._settled.wait_for(lambda: self._outstanding == 0)

    async def _settle(self, count: int) -> None:
        async with self._settled:
            self._outstanding -= count
            self._settled.notify_all()

    async def _write_loop(self) -> None:
        while True:
            group = [await self._submissions.get()]
            while not self._submissions.empty() and len(group) < self.batch_size:
                group.append(self._submissions.get_nowait())
            items = [item for submission, _ in group for item in submission]
            self._writing = True
            try:
                await self._write(items)
            except Exception as error:  # noqa: BLE001 - each submitter is told
                log.exception("making %d messages durable failed", len(items))
                _finish(group, error)
                await self._settle(len(items))
                continue
            finally:
                self._writing = False
            _finish(group, None)

    async def _write(self, items: list[tuple[Target, Incoming]]) -> None:
        if self.spool is not None:
            records = [SpoolRecord(t.workspace_id, t.id, i) for t, i in items]
            await asyncio.to_thread(self.spool.append, records)
            self.spooled += len(records)
        else:
            for pending in await self.intake.store_many(items):
                self._stored.put_nowait(pending)

    async def _import_loop(self) -> None:
        """Move sealed spool segments into the database."""
        assert self.spool is not None
        while True:
            await asyncio.sleep(self.import_interval)
            if not await self._wait_for_quiet():
                # Still busy after the longest wait: move one segment on, then wait again.
                sealed = self.spool.sealed()
                if sealed:
                    await self._import_segment(sealed[0])
                continue
            self.spool.seal()
            for segment in self.spool.sealed():
                await self._import_segment(segment)

    async def _import_segment(self, segment: Path, *, recovered: bool = False) -> None:
        records = await asyncio.to_thread(lambda: list(read_segment(segment)))
        self._outstanding += len(records) if recovered else 0
        for start in range(0, len(records), self.batch_size):
            chunk = records[start : start + self.batch_size]
            items = await present(
                [(_Target(r.mailbox_id, r.workspace_id), r.incoming) for r in chunk]
            )
            await self._settle(len(chunk) - len(items))  # dropped: nothing left to process
            for pending in await self.intake.store_many(items):
                self._stored.put_nowait(pending)
        # Only now: the records are in the database (with pending rows) and can go.
        await asyncio.to_thread(segment.unlink)
        self.spooled -= 0 if recovered else len(records)

    async def _process_loop(self) -> None:
        while True:
            batch = [await self._stored.get()]
            await self._wait_for_quiet()
            while not self._stored.empty() and len(batch) < self.chunk_size:
                batch.append(self._stored.get_nowait())
            await self._process(batch)
            await self._settle(len(batch))

    async def _wait_for_quiet(self) -> bool:
        """Until submissions have paused for `quiet_after` (True), or `max_deferral` has
        passed without (False)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_deferral
        while loop.time() < deadline:
            busy = self._writing or not self._submissions.empty()
            if not busy and loop.time() - self._last_submit >= self.quiet_after:
                return True
            await asyncio.sleep(0.01)
        return False

    async def _process(self, batch: Sequence[Pending]) -> None:
        ordered = sorted(batch, key=lambda p: str(p.workspace_id))
        for _, group in groupby(ordered, key=lambda p: p.workspace_id):
            try:
                report = await self.intake.process(list(group))
            except Exception:  # noqa: BLE001 - the messages stay pending for replay
                log.exception("processing failed; the messages stay pending")
                continue
            report.outcomes.clear()
            self.processed.merge(report)


class _Target:
    """A mailbox as ingest needs it, from a spool record."""

    __slots__ = ("id", "workspace_id")

    def __init__(self, mailbox_id: UUID, workspace_id: UUID) -> None:
        self.id = mailbox_id
        self.workspace_id = workspace_id


def _finish(group: list[Submission], error: Exception | None) -> None:
    for _, future in group:
        if future.done():
            continue
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
