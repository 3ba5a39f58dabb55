"""The bound on message bytes the receiver holds in memory, across all its connections, and
each client host's share of it.

aiosmtpd keeps a message in memory until its final dot, and the per-message size limit alone
let 60 connections holding unterminated DATA grow the process by gigabytes. Each connection
takes its bytes from one shared `InFlight` as they arrive; when there is no room, the message is
refused for now (the client retries later) and what it held is given back at once. One client
host may hold only its share of the bound (a quarter, and at least one message of the largest
size), so that a host filling it with unfinished messages cannot make every other sender wait.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class InFlight:
    """Bytes of message data held across all connections, at most `capacity`, and at most
    `share` by the connections of one client host."""

    def __init__(self, capacity: int, share: int | None = None) -> None:
        self.capacity = capacity
        self.share = share if share is not None else capacity
        self.held = 0
        # Only hosts that hold bytes now: at most one key per open connection.
        self.held_by: dict[str, int] = {}

    @contextmanager
    def claim(self, client: str = "") -> Iterator[Claim]:
        """A claim for one message, given back whatever ends it (reply, drop, timeout)."""
        claim = Claim(self, client)
        try:
            yield claim
        finally:
            claim.release()


class Claim:
    """The bytes one message holds of an `InFlight`."""

    __slots__ = ("_client", "_pool", "size")

    def __init__(self, pool: InFlight, client: str) -> None:
        self._pool = pool
        self._client = client
        self.size = 0

    def take(self, size: int) -> bool:
        """Hold `size` more bytes; False, holding nothing more, if there is no room."""
        pool = self._pool
        host = pool.held_by.get(self._client, 0)
        if pool.held + size > pool.capacity or host + size > pool.share:
            return False
        pool.held += size
        pool.held_by[self._client] = host + size
        self.size += size
        return True

    def release(self) -> None:
        if not self.size:
            return
        pool = self._pool
        pool.held -= self.size
        left = pool.held_by.get(self._client, 0) - self.size
        if left > 0:
            pool.held_by[self._client] = left
        else:
            pool.held_by.pop(self._client, None)
        self.size = 0
