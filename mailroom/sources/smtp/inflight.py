"""The bound on message bytes the receiver holds in memory, across all its connections.

aiosmtpd keeps a message in memory until its final dot, and the per-message size limit alone
let 60 connections holding unterminated DATA grow the process by gigabytes. Each connection
takes its bytes from one shared `InFlight` as they arrive; when there is no room, the message is
refused for now (the client retries later) and what it held is given back at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class InFlight:
    """Bytes of message data held across all connections, at most `capacity`."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.held = 0

    @contextmanager
    def claim(self) -> Iterator[Claim]:
        """A claim for one message, given back whatever ends it (reply, drop, timeout)."""
        claim = Claim(self)
        try:
            yield claim
        finally:
            claim.release()


class Claim:
    """The bytes one message holds of an `InFlight`."""

    __slots__ = ("_pool", "size")

    def __init__(self, pool: InFlight) -> None:
        self._pool = pool
        self.size = 0

    def take(self, size: int) -> bool:
        """Hold `size` more bytes; False, holding nothing more, if there is no room."""
        if self._pool.held + size > self._pool.capacity:
            return False
        self._pool.held += size
        self.size += size
        return True

    def release(self) -> None:
        self._pool.held -= self.size
        self.size = 0
