"""Gmail's per-user quota, spent from a token bucket so that a sync slows down instead of being
refused.

Google counts quota units per user over a minute. A bucket holding `capacity` units and
refilling at `rate` units a second lets through at most `capacity + rate * 60` units in any
minute, so `for_minute` sizes both to stay under the budget in every window however the
requests fall, with a little room for the time between spending and Google counting. A
spender reserves its units at once, in the order it asked, and sleeps until the bucket has
refilled what it took: no polling. A spend larger than the bucket still goes through, after
its wait, but could then exceed the budget in some minute: the client keeps each request
(a batch counts all its parts) within `capacity`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# Of a minute's budget: the burst the bucket holds, and the share that refills over the minute.
# Together 95%: the rest absorbs the delay between a spend here and Google's count.
BURST_SHARE = 0.05
REFILL_SHARE = 0.90


class QuotaBucket:
    """Quota units of one mailbox. `await spend(units)` returns once they may be used."""

    def __init__(
        self,
        capacity: float,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if capacity <= 0 or rate <= 0:
            raise ValueError("a quota bucket needs a positive capacity and rate")
        self.capacity = capacity
        self.rate = rate  # units a second
        self._clock = clock
        self._sleep = sleep
        self._level = capacity  # below zero: units reserved ahead of the refill
        self._updated = clock()
        self.spent = 0
        self.waited = 0.0  # seconds spenders slept, summed

    @classmethod
    def for_minute(cls, units_per_minute: int) -> QuotaBucket:
        """A bucket that never lets more than `units_per_minute` through in any minute."""
        return cls.for_window(units_per_minute, 60.0)

    @classmethod
    def for_window(cls, units: int, seconds: float) -> QuotaBucket:
        """A bucket that never lets more than `units` through in any `seconds`, provided no
        single spend exceeds its capacity (the client sizes batches to fit)."""
        return cls(capacity=max(1.0, units * BURST_SHARE), rate=units * REFILL_SHARE / seconds)

    async def spend(self, units: int) -> None:
        if units <= 0:
            return
        self._refill()
        # Reserve now, so that spenders are served in the order they asked; the level goes
        # negative by what must refill first, and this spender sleeps that long.
        self._level -= units
        self.spent += units
        if self._level < 0:
            wait = -self._level / self.rate
            self.waited += wait
            await self._sleep(wait)

    def drain(self) -> None:
        """Google refused for rate: assume the budget is used up (someone else may share it)."""
        self._refill()
        self._level = min(self._level, 0.0)

    def _refill(self) -> None:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._updated) * self.rate)
        self._updated = now
