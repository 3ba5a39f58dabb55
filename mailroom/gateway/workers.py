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

from mailroom.envelope import Envelope
from mailroom.gateway.normalize import Limits, normalize

log = logging.getLogger(__name__)


def normalize_many(jobs: Sequence[tuple[bytes, datetime]], limits: Limits) -> list[Envelope]:
    """Run in a worker: normalize each (raw, arrival)."""
    return [normalize(raw, arrival=arrival, limits=limits) for raw, arrival in jobs]


class NormalizePool:
    """A pool of worker processes for `normalize`; falls back to this process if they die."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor: ProcessPoolExecutor | None = None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            context = multiprocessing.get_context("spawn")
            self._executor = ProcessPoolExecutor(self.workers, mp_context=context)
        return self._executor

    async def normalize(
        self, jobs: Sequence[tuple[bytes, datetime]], limits: Limits
    ) -> list[Envelope]:
        loop = asyncio.get_running_loop()
        size = -(-len(jobs) // self.workers)
        chunks = [jobs[i : i + size] for i in range(0, len(jobs), size)]
        try:
            pool = self._pool()
            parts = await asyncio.gather(
                *(loop.run_in_executor(pool, normalize_many, chunk, limits) for chunk in chunks)
            )
        except BrokenProcessPool:
            # A worker died (killed, or a crash in a C extension): never lose the batch.
            log.warning("normalize worker died; normalizing in this process")
            self.close()
            return normalize_many(jobs, limits)
        return [envelope for part in parts for envelope in part]

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
