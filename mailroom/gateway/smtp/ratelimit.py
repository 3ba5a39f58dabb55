"""Counting events per key in a sliding window (messages per sender per minute)."""

from __future__ import annotations

import time
from collections import deque


class SlidingWindow:
    """At most `limit` events per `seconds` for each key."""

    def __init__(self, limit: int, seconds: float = 60.0) -> None:
        self.limit = limit
        self.seconds = seconds
        self._events: dict[str, deque[float]] = {}

    def allow(self, key: str, now: float | None = None) -> bool:
        """Record an event for `key` if it is within the limit; False if it is not."""
        moment = time.monotonic() if now is None else now
        events = self._events.setdefault(key, deque())
        while events and events[0] <= moment - self.seconds:
            events.popleft()
        if len(events) >= self.limit:
            return False
        events.append(moment)
        if len(self._events) > 100_000:
            self._forget(moment)
        return True

    def _forget(self, moment: float) -> None:
        """Drop keys with no recent events, so that a flood of senders cannot grow memory."""
        stale = [k for k, e in self._events.items() if not e or e[-1] <= moment - self.seconds]
        for key in stale:
            del self._events[key]
