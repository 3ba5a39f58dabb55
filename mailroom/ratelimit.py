"""Counting events per key in a sliding window (messages per member or client per minute,
API requests per token per minute)."""

from __future__ import annotations

import time
from collections import OrderedDict, deque


class SlidingWindow:
    """At most `limit` events per `seconds` for each key, and at most `max_keys` keys.

    Memory is bounded whatever the keys: a key's events are at most `limit`, keys come into
    being only when an event is recorded and go once their events are all older than the
    window, and past `max_keys` the least recently recorded key is forgotten (only more than
    `max_keys` keys active in one window make one lose its count early)."""

    def __init__(self, limit: int, seconds: float = 60.0, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.seconds = seconds
        self.max_keys = max_keys
        self._events: OrderedDict[str, deque[float]] = OrderedDict()

    def allow(self, key: str, now: float | None = None) -> bool:
        """Record an event for `key` if it is within the limit; False if it is not."""
        moment = time.monotonic() if now is None else now
        if not self.permits(key, moment):
            return False
        self.record(key, moment)
        return True

    def permits(self, key: str, now: float | None = None) -> bool:
        """Whether one more event for `key` is within the limit; records nothing."""
        events = self._events.get(key)
        if events is None:
            return True
        self._expire(events, time.monotonic() if now is None else now)
        return len(events) < self.limit

    def record(self, key: str, now: float | None = None) -> None:
        """Count an event for `key` (one checked with `permits` a moment ago: concurrent
        callers may pass that check together, so a key can run a little over, never grow)."""
        moment = time.monotonic() if now is None else now
        events = self._events.get(key)
        if events is None:
            events = self._events[key] = deque(maxlen=self.limit)
        else:
            self._events.move_to_end(key)
            self._expire(events, moment)
        events.append(moment)
        self._forget_idle(moment)

    def _forget_idle(self, moment: float) -> None:
        """Keys are kept in the order of their last event, so the idle ones are at the front."""
        while self._events:
            key, events = next(iter(self._events.items()))
            fresh = bool(events) and events[-1] > moment - self.seconds
            if fresh and len(self._events) <= self.max_keys:
                return
            del self._events[key]

    def __len__(self) -> int:
        return len(self._events)

    def _expire(self, events: deque[float], moment: float) -> None:
        while events and events[0] <= moment - self.seconds:
            events.popleft()
