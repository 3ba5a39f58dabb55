"""Normalizing on the other cores while this process writes to the database.

Parsing is pure CPU work and the largest part of ingest; handing batches to worker processes
lets an import parse the next batch while the current one is being stored. Workers are
spawned, not forked: the parent holds database threads that a fork would copy half-alive.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime

from mailroom.gateway.normalize import Limits
from mailroom.gateway.reader import Reading, read_message

log = logging.getLogger(__name__)


Job = tuple[bytes, datetime, bool]  # raw bytes, arrival, unwrap a forward


def read_many(jobs: Sequence[Job], limits: Limits) -> list[Reading]:
    """Run in a worker (or here): read each job's message."""
    return [read_message(raw, arrival, limits, unwrap) for raw, arrival, unwrap in jobs]


class NormalizePool:
    """A pool of worker processes for reading messages; falls back to this process if they
    die."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context)
        return self._executor

    async def read(self, jobs: Sequence[Job], limits: Limits) -> list[Reading]:
        loop = asyncio.get_running_loop()
        size = -(-len(jobs) // self.workers)
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        try:
            pool = self._pool()
            parts = await asyncio.gather(
                *(loop.run_in_executor(pool, read_many, chunk, limits) for chunk in chunks)
            )
        except BrokenProcessPool:
            # A worker died (killed, or a crash in a C extension): never lose the batch.
            log.warning("normalize worker died; normalizing in this process")
            self.close()
            return read_many(jobs, limits)
        return [reading for part in parts for reading in part]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
