"""The one intake port: every source hands raw bytes and where it saw them to `Intake`, which
makes them durable first (`durable`) and then processes them (`process`).

A source that must acknowledge (SMTP, an IMAP cursor) calls `store` and acknowledges when it
returns; `process` may then run later, in another task or after a restart (`replay`). A source
that stores in batches (IMAP, file import) hands each stored batch to `Batches`, which parses
it while the previous one is being committed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from uuid import UUID

from mailroom.intake import durable
from mailroom.intake.durable import Target
from mailroom.intake.events import CalendarRules
from mailroom.intake.port import Incoming, IngestReport, Outcome, Pending
from mailroom.intake.process import Prepared, Processor
from mailroom.intake.workers import NormalizePool
from mailroom.parsing.limits import DEFAULT_LIMITS, Limits

log = logging.getLogger(__name__)


class Intake:
    """Intake for one process; safe to share between the tasks of one event loop."""

    def __init__(
        self,
        limits: Limits = DEFAULT_LIMITS,
        pool: NormalizePool | None = None,
        calendar: CalendarRules | None = None,
        *,
        figures: bool = True,
    ) -> None:
        self.processor = Processor(limits, pool, calendar, figures=figures)

    async def ingest(self, mailbox: Target, items: Sequence[Incoming]) -> IngestReport:
        """Store and process messages seen by a mailbox."""
        return await self.process(await self.store(mailbox, items))

    async def store(self, mailbox: Target, items: Sequence[Incoming]) -> list[Pending]:
        """Commit the bytes durably, each with a pending row; nothing is parsed yet."""
        return await durable.store_many([(mailbox, item) for item in items])

    async def store_many(self, items: Sequence[tuple[Target, Incoming]]) -> list[Pending]:
        """`store` for messages of several mailboxes, in one transaction (one disk sync)."""
        return await durable.store_many(items)

    async def process(self, pending: Sequence[Pending]) -> IngestReport:
        """Turn stored bytes into messages. A batch that fails is retried one message at a
        time, so that one bad message cannot hold back the others; a message that still fails
        stays pending with its error."""
        if not pending:
            return IngestReport()
        try:
            prepared = await self.prepare(pending)
        except Exception as error:  # noqa: BLE001 - the messages are kept; see _one_by_one
            return await self._one_by_one(pending, error)
        return await self.commit_or_retry(prepared, pending)

    async def replay(
        self,
        batch_size: int = 200,
        mailbox_id: UUID | None = None,
        before: datetime | None = None,
    ) -> IngestReport:
        """Process every pending row (of one mailbox, or all; stored `before` a time, or
        whenever), oldest first: what a crash left behind."""
        report = IngestReport()
        async for batch in durable.pending_batches(batch_size, mailbox_id, before):
            report.merge(await self.process(batch))
        return report

    async def prepare(self, pending: Sequence[Pending]) -> list[Prepared]:
        """Normalize stored bytes (on the worker pool when there is one); no I/O."""
        return await self.processor.prepare(pending)

    async def commit_or_retry(
        self, prepared: list[Prepared], pending: Sequence[Pending]
    ) -> IngestReport:
        """Commit a prepared batch; if that fails, process its messages one at a time."""
        try:
            return await self.processor.commit(prepared)
        except Exception as error:  # noqa: BLE001 - the messages are kept; see _one_by_one
            return await self._one_by_one(pending, error)

    async def _one_by_one(self, pending: Sequence[Pending], error: Exception) -> IngestReport:
        report = IngestReport()
        if len(pending) > 1:
            # Loud: a batch that fails as a whole is a bug or a bad message, and one at a time
            # is many times slower.
            log.warning(
                "a batch of %d messages failed (%s: %s); processing them one at a time",
                len(pending),
                type(error).__name__,
                str(error)[:200],
            )
            for one in pending:
                report.merge(await self.process([one]))
            return report
        await durable.mark_failed(pending[0], error)
        self.processor.tally.count([(pending[0].mailbox_id, Outcome.FAILED)])
        report.count(Outcome.FAILED, None)
        return report


class Batches:
    """Stored batches processed in the order they were stored, each one parsed while the one
    before it is being committed. Use `async with`, `add` each stored batch, then `report`.

    At most one batch waits behind the newest, so memory stays at two batches however many
    come. `keep_outcomes=False` keeps counts only (an import of millions of messages).
    """

    def __init__(self, intake: Intake, *, keep_outcomes: bool = True) -> None:
        self.intake = intake
        self.keep_outcomes = keep_outcomes
        self.report = IngestReport()
        self._running: deque[asyncio.Task[IngestReport]] = deque()

    async def add(self, pending: list[Pending]) -> int:
        """Start processing a stored batch; returns how many earlier messages were done
        meanwhile (for progress)."""
        before = self._running[-1] if self._running else None
        self._running.append(asyncio.create_task(self._process(pending, before)))
        done = 0
        while len(self._running) > 1:
            done += self._merge(await self._running.popleft())
        return done

    async def finish(self) -> int:
        done = 0
        while self._running:
            done += self._merge(await self._running.popleft())
        return done

    async def _process(
        self, pending: list[Pending], before: asyncio.Task[IngestReport] | None
    ) -> IngestReport:
        if not pending:
            return IngestReport()
        try:
            prepared = await self.intake.prepare(pending)
        except Exception:  # noqa: BLE001 - processed one by one, after the one before
            prepared = None
        if before is not None:
            # Commits stay in order: the one before goes first (its result is collected by
            # `add` or `finish`; its failure there too).
            await asyncio.wait([before])
        if prepared is None:
            return await self.intake.process(pending)
        return await self.intake.commit_or_retry(prepared, pending)

    def _merge(self, report: IngestReport) -> int:
        done = len(report.outcomes) if report.outcomes else _counted(report)
        if not self.keep_outcomes:
            report.outcomes.clear()
        self.report.merge(report)
        return done

    async def __aenter__(self) -> Batches:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        # On failure, let what is in flight end before the caller closes what it uses.
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
            self._running.clear()


def _counted(report: IngestReport) -> int:
    return report.new + report.duplicate + report.unchanged + report.failed
