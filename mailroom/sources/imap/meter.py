"""What one step of an IMAP session may cost, and the meter that holds the server to it.

A step is one thing the session asks of the server: connecting and logging in (TCP, TLS, the
greeting, STARTTLS and LOGIN together), selecting a folder, fetching a batch, one round of
IDLE. Each step has a wall-clock deadline and a budget of bytes. Socket timeouts alone bound
nothing, since every byte that arrives starts them again: a server sending one byte a second
would hold a step forever, and one sending endlessly would fill memory.

The deadline is `timeout`; a step that fetches messages (a bulk step) also gets the time the
bytes received so far would take at SLOWEST_RATE, so that a large FETCH on a slow link still
ends, while a server that trickles earns nothing; other steps have no reason to be long. The
budget is the largest answer a sync asks for (a batch, or one message at the size limit, and
the lines around them); each line is charged LINE_COST more, about what Python keeps per
response, so that a flood of tiny responses is bounded in memory too. A literal larger than a
message may be is refused before a byte of it is read.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mailroom.settings import Settings
from mailroom.sources.imap.errors import ProtocolError, TransientError

# Bytes per second: on a slower link a message at the default size limit (50 MB) would not
# arrive within the 900 s a sync pass gets, so nothing legitimate is slower.
SLOWEST_RATE = 64 * 1024
LINE_COST = 64
# Room in a step's budget for the response lines around the messages of a batch.
STEP_SLACK = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class SessionLimits:
    """What an IMAP session allows its server, and where it may connect."""

    timeout: float = 60.0  # seconds; each step's deadline, and the longest silence
    max_literal: int = 50 * 1024 * 1024  # bytes; a message's size limit
    step_bytes: int = 32 * 1024 * 1024 + 50 * 1024 * 1024 + STEP_SLACK
    allow_private: bool = False

    @classmethod
    def of(cls, settings: Settings) -> SessionLimits:
        return cls(
            timeout=settings.imap_timeout,
            max_literal=settings.max_message_bytes,
            step_bytes=settings.imap_batch_bytes + settings.max_message_bytes + STEP_SLACK,
            allow_private=settings.imap_allow_private_hosts,
        )


class Meter:
    """The current step of one connection: its name, deadline and bytes received. Used by the
    connection's own thread only."""

    def __init__(self, host: str, limits: SessionLimits) -> None:
        self.host = host
        self.limits = limits
        self.begin("connecting")

    def begin(self, step: str, *, bulk: bool = False) -> None:
        """Start a step (`step` names it in errors, e.g. "fetching 50 messages"); a `bulk`
        one is given time for the bytes it receives."""
        self.step = step
        self._bulk = bulk
        self._started = time.monotonic()
        self._received = 0

    def wait(self) -> float:
        """How long the next socket operation may block; past the deadline, TransientError."""
        left = self._deadline() - time.monotonic()
        if left <= 0:
            raise self._late()
        return min(left, self.limits.timeout)

    def timed_out(self) -> TransientError:
        """The error for a socket operation that waited as long as `wait` allowed."""
        if self._deadline() - time.monotonic() <= 0:
            return self._late()
        return TransientError(
            f"{self.host} did not answer for {self.limits.timeout:g} s while {self.step}"
        )

    def received(self, count: int) -> None:
        self._received += count
        if self._received > self.limits.step_bytes:
            raise ProtocolError(
                f"{self.host} sent more than {_size(self.limits.step_bytes)} while "
                f"{self.step}, more than any answer may take; the connection was dropped"
            )

    def line(self) -> None:
        self.received(LINE_COST)

    def literal(self, size: int) -> None:
        """Refuse a literal of `size` bytes before it is read."""
        if size > self.limits.max_literal:
            raise ProtocolError(
                f"{self.host} began sending {_size(size)} in one piece while {self.step}, "
                f"more than the {_size(self.limits.max_literal)} a message may have "
                "(max_message_bytes); the connection was dropped before reading it"
            )

    def _deadline(self) -> float:
        granted = self._received / SLOWEST_RATE if self._bulk else 0.0
        return self._started + self.limits.timeout + granted

    def _late(self) -> TransientError:
        allowed = self._deadline() - self._started
        return TransientError(
            f"{self.host} did not finish {self.step} within {round(allowed, 1):g} s"
        )


def _size(count: int) -> str:
    if count >= 1024 * 1024:
        return f"{count / (1024 * 1024):,.1f} MB"
    return f"{count:,} bytes"
