"""The normalize pool: each message within its time budget, in worker processes that can be
killed; a message that overruns or crashes its worker is kept with a defect, the others go on.

The slow message nests multiparts 400 deep over 200,000 lines with the depth limit raised (the
stdlib parser checks every line against every open boundary): seconds of parsing, by design.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import psutil
import pytest

from mailroom.intake.workers import Job, NormalizePool
from mailroom.parsing.normalize import Limits

ARRIVAL = datetime(2030, 1, 1, tzinfo=UTC)
LIMITS = Limits(max_depth=5000)


def _normal(subject: str = "normal") -> Job:
    raw = f"From: b@example.org\r\nSubject: {subject}\r\n\r\nhello\r\n".encode()
    return (raw, ARRIVAL, False)


def _slow() -> Job:
    head = "From: a@example.org\r\nSubject: deep\r\n"
    levels = "".join(
        f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n" for i in range(400)
    )
    body = "Content-Type: text/plain\r\n\r\n" + "x\r\n" * 200_000
    return ((head + levels + body).encode(), ARRIVAL, False)


@pytest.fixture
async def pool_factory() -> AsyncIterator[Callable[[float], NormalizePool]]:
    pools: list[NormalizePool] = []

    def make(timeout: float) -> NormalizePool:
        pool = NormalizePool(1, timeout)
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.close()


async def test_a_message_over_its_budget_is_kept_from_its_header_block(
    pool_factory: Callable[[float], NormalizePool],
) -> None:
    pool = pool_factory(0.5)
    start = time.monotonic()
    first, slow, last = await pool.read([_normal("first"), _slow(), _normal("last")], LIMITS)
    assert time.monotonic() - start < 5  # the slow one alone parses for several seconds
    assert (first.envelope.subject, last.envelope.subject) == ("first", "last")
    assert not first.envelope.headers_only and not last.envelope.headers_only
    assert slow.envelope.subject == "deep" and slow.envelope.headers_only
    assert slow.envelope.from_[0].address == "a@example.org"
    assert "took longer than 0.5 s: only the header block was read" in slow.envelope.defects[0]


def _workers() -> list[psutil.Process]:
    """This process's spawned children (not multiprocessing's resource tracker)."""
    children = psutil.Process().children()
    return [child for child in children if "spawn_main" in " ".join(child.cmdline())]


async def test_a_message_that_kills_its_worker_is_kept_with_a_defect(
    pool_factory: Callable[[float], NormalizePool],
) -> None:
    pool = pool_factory(60)
    # Started first, and its start-up's CPU time noted: the kill must come while it reads the
    # slow message, not while it is still importing (a worker that cannot start is an error).
    await pool.read([_normal("warm")], LIMITS)
    [started] = _workers()
    baseline = sum(started.cpu_times()[:2])
    reading = asyncio.create_task(pool.read([_slow(), _normal("after")], LIMITS))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until the worker is busy with the slow message
        await asyncio.sleep(0.1)
        workers = _workers()
        if len(workers) == 1 and sum(workers[0].cpu_times()[:2]) > baseline + 0.5:
            break
    [worker] = _workers()
    worker.kill()  # what a crash in a C extension or the OOM killer looks like
    slow, after = await reading
    assert slow.envelope.subject == "deep" and slow.envelope.headers_only
    assert "crashed its worker (exit code -9)" in slow.envelope.defects[0]
    assert after.envelope.subject == "after" and not after.envelope.headers_only


async def test_a_cancelled_read_leaves_no_answer_behind_for_the_next(
    pool_factory: Callable[[float], NormalizePool],
) -> None:
    pool = pool_factory(60)
    reading = asyncio.create_task(pool.read([_slow()], LIMITS))
    await asyncio.sleep(1)
    reading.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reading
    [next_one] = await pool.read([_normal("next")], LIMITS)
    assert next_one.envelope.subject == "next"


async def test_a_header_block_that_overruns_too_leaves_an_envelope_of_defects(
    pool_factory: Callable[[float], NormalizePool],
) -> None:
    pool = pool_factory(0.02)
    headers = b"".join(b"X-H%d: v\r\n" % i for i in range(90_000))  # 1 MB: 0.1 s to read
    raw = b"From: a@example.org\r\nSubject: big\r\n" + headers + b"\r\nbody\r\n"
    [reading] = await pool.read([(raw, ARRIVAL, False)], LIMITS)
    envelope = reading.envelope
    assert envelope.subject is None and envelope.headers_only and envelope.size == len(raw)
    assert envelope.date == ARRIVAL
    assert "only the header block was read" in envelope.defects[0]
    assert "reading the header block took longer than 0.02 s too" in envelope.defects[1]
