"""Normalizing in worker processes: on the other cores, and within a time budget per message.

Parsing is pure CPU work and the largest part of ingest; handing batches to worker processes
lets an import parse the next batch while the current one is being stored. A worker can also
be killed, which a thread cannot: a message whose reading takes longer than the budget, or
crashes its worker, is read again from its header block alone in a fresh worker and kept with
a defect saying why, while the other messages go on. So one message holds up the others for
no longer than the budget, and never the event loop that answers the API and SMTP. Workers are
spawned, not forked: the parent holds database threads that a fork would copy half-alive.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from mailroom.errors import WorkerError
from mailroom.intake.workerproc import READY, Job, Request, serve
from mailroom.parsing.normalize import Limits, bare_envelope
from mailroom.parsing.reader import Reading, read_message

__all__ = ["DEFAULT_TIMEOUT", "Job", "NormalizePool", "WorkerError", "read_many"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0  # seconds for one message
_START_TIMEOUT = 60.0  # a worker's interpreter and imports, on a busy machine


def read_many(jobs: Sequence[Job], limits: Limits) -> list[Reading]:
    """Read each job's message in this process, with no time budget."""
    return [read_message(raw, arrival, limits, unwrap) for raw, arrival, unwrap in jobs]


class _Failed(Exception):
    """The worker did not answer for a message: it took too long, or it died."""


class _Worker:
    """One worker process and the thread that waits on its pipe (never the event loop)."""

    def __init__(self) -> None:
        self.process: BaseProcess | None = None
        self.conn: Connection | None = None
        self.ready = False  # its READY was received
        self._io = ThreadPoolExecutor(1, thread_name_prefix="normalize-pipe")

    def start(self) -> None:
        """Start the process; called on the pool's thread, which the kernel ties it to."""
        context = multiprocessing.get_context("spawn")
        parent_end, child_end = context.Pipe()
        process = context.Process(
            target=serve, args=(child_end, os.getpid()), name="mailroom-normalize", daemon=True
        )
        process.start()
        child_end.close()
        self.process, self.conn, self.ready = process, parent_end, False

    async def ensure_started(self) -> None:
        """Start the process unless it runs, and wait until it can take requests."""
        if self.process is None or not self.process.is_alive():
            self.stop()
            self.start()
        if self.ready:
            return
        answers, failure = await self.collect(1, _START_TIMEOUT)
        if failure is not None or answers != [READY]:
            self.stop()
            problem = f"it {failure}" if failure is not None else f"it said {answers!r}"
            raise WorkerError(f"a normalize worker did not start: {problem}")
        self.ready = True

    async def send(self, request: Request) -> None:
        """Send to a started worker; one that died meanwhile (not for a message) is replaced."""
        for attempt in (1, 2):
            await self.ensure_started()
            assert self.conn is not None
            loop = asyncio.get_running_loop()
            try:
                await loop.run_in_executor(self._io, self.conn.send, request)
                return
            except OSError as error:
                self.stop()
                if attempt == 2:
                    raise WorkerError(f"a normalize worker takes no requests: {error}") from None

    async def collect(self, count: int, timeout: float) -> tuple[list[Any], _Failed | None]:
        """The next `count` answers, each within `timeout` of the one before; short, with why,
        when one does not come. Waited for on the pipe thread, in one go: the event loop is
        woken once per request, not once per message."""
        assert self.conn is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._io, self._collect, self.conn, count, timeout)

    def _collect(
        self, conn: Connection, count: int, timeout: float
    ) -> tuple[list[Any], _Failed | None]:
        answers: list[Any] = []
        try:
            while len(answers) < count:
                if not conn.poll(timeout):
                    return answers, _Failed(f"took longer than {timeout:g} s")
                answers.append(conn.recv())
        except (EOFError, OSError):
            return answers, _Failed(f"crashed its worker ({self._exit()})")
        return answers, None

    def _exit(self) -> str:
        process = self.process
        if process is None:
            return "no process"
        process.join(0.1)  # it closed its pipe by dying: reaped at once, in practice
        code = process.exitcode
        return f"exit code {code}" if code is not None else "no exit code yet"

    def stop(self) -> None:
        """Kill the process, which may be in the middle of a message."""
        if self.process is not None:
            self.process.kill()
            self.process.join(5)
            self.process, self.ready = None, False
        if self.conn is not None:
            # Closed on the pipe thread, after a receive it may still be in: that one ends at
            # the kill, and must not find its descriptor reused by the next worker's pipe.
            self._io.submit(self.conn.close)
            self.conn = None

    def close(self) -> None:
        self.stop()
        self._io.shutdown(wait=False)


class NormalizePool:
    """Worker processes reading messages, each message within `timeout` seconds."""

    def __init__(self, workers: int, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.workers = max(1, workers)
        self.timeout = timeout
        self._slots = [_Worker() for _ in range(self.workers)]
        self._idle: asyncio.Queue[_Worker] | None = None

    def start(self) -> None:
        """Start the workers now rather than at the first message (a worker takes a moment)."""
        for slot in self._slots:
            if slot.process is None:
                slot.start()

    async def read(self, jobs: Sequence[Job], limits: Limits) -> list[Reading]:
        """Read every job's message; each one gets a reading, at worst a defect saying why."""
        if not jobs:
            return []
        if self._idle is None:
            self._idle = asyncio.Queue()
            for slot in self._slots:
                self._idle.put_nowait(slot)
        size = -(-len(jobs) // self.workers)
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        parts = await asyncio.gather(*(self._read_chunk(chunk, limits) for chunk in chunks))
        return [reading for part in parts for reading in part]

    async def _read_chunk(self, jobs: Sequence[Job], limits: Limits) -> list[Reading]:
        idle = self._idle  # this one even if the pool is closed meanwhile
        assert idle is not None
        worker = await idle.get()
        try:
            return await self._read_on(worker, jobs, limits)
        except BaseException:
            # Cancelled or failed mid-request: its answers would reach the next user.
            worker.stop()
            raise
        finally:
            idle.put_nowait(worker)

    async def _read_on(
        self, worker: _Worker, jobs: Sequence[Job], limits: Limits, header_block: str | None = None
    ) -> list[Reading]:
        """Read `jobs` on `worker`, in order; a message that fails is read again by itself."""
        readings: list[Reading] = []
        while len(readings) < len(jobs):
            rest = jobs[len(readings) :]
            await worker.send(Request(rest, limits, header_block))
            answers, failure = await worker.collect(len(rest), self.timeout)
            readings.extend(answers)
            if failure is not None:
                worker.stop()  # it may still be parsing the message
                job = jobs[len(readings)]
                readings.append(await self._fallback(worker, job, limits, header_block, failure))
        return readings

    async def _fallback(
        self,
        worker: _Worker,
        job: Job,
        limits: Limits,
        header_block: str | None,
        failure: _Failed,
    ) -> Reading:
        """The reading of a message whose reading failed: its header block, else nothing."""
        raw, arrival, _ = job
        arrival = arrival if arrival.tzinfo is not None else arrival.replace(tzinfo=UTC)
        if header_block is None:
            defect = f"normalizing this message {failure}: only the header block was read"
            log.warning("message of %d bytes %s; reading its header block only", len(raw), failure)
            [reading] = await self._read_on(worker, [job], limits, defect)
            return reading
        defects = (header_block, f"reading the header block {failure} too: nothing was read")
        return Reading(bare_envelope(len(raw), arrival, defects), False)

    def close(self) -> None:
        for slot in self._slots:
            slot.close()
        self._idle = None
