"""The quota bucket on a clock of the test's own: spends wait for the refill, in order, and
never let more than the budget through in any window."""

from __future__ import annotations

import asyncio

import pytest

from mailroom.sources.gmail import QuotaBucket


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def bucket(clock: Clock, capacity: float = 10, rate: float = 5) -> QuotaBucket:
    return QuotaBucket(capacity, rate, clock=clock, sleep=clock.sleep)


async def test_a_full_bucket_spends_without_waiting():
    clock = Clock()
    quota = bucket(clock)
    await quota.spend(4)
    await quota.spend(6)
    assert clock.sleeps == [] and quota.spent == 10


async def test_an_empty_bucket_waits_for_the_refill():
    clock = Clock()
    quota = bucket(clock)
    await quota.spend(10)
    await quota.spend(5)
    assert clock.sleeps == [pytest.approx(1.0)]  # 5 units at 5 a second


async def test_waiting_spenders_are_served_in_order():
    clock = Clock()
    quota = QuotaBucket(10, 5, clock=clock, sleep=lambda seconds: asyncio.sleep(0))
    waits = []
    for units in (10, 5, 5):
        before = quota.waited
        await quota.spend(units)
        waits.append(quota.waited - before)
    # Reserved one after the other: the second waits 1 s, the third 2 s (its own and the
    # second's refill), with no time passing on this clock.
    assert waits == [0, pytest.approx(1.0), pytest.approx(2.0)]


async def test_no_window_gets_more_than_the_budget():
    clock = Clock()
    quota = QuotaBucket.for_window(600, 60.0)
    quota = QuotaBucket(quota.capacity, quota.rate, clock=clock, sleep=clock.sleep)
    moments = []
    for _ in range(400):
        await quota.spend(5)
        moments.append(clock.now)
    for start in moments:
        in_window = sum(5 for moment in moments if start <= moment < start + 60)
        assert in_window <= 600


async def test_drain_empties_the_bucket():
    clock = Clock()
    quota = bucket(clock)
    quota.drain()
    await quota.spend(5)
    assert clock.sleeps == [pytest.approx(1.0)]
