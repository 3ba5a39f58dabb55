"""How long to wait before asking a provider's API (Gmail, Graph) again, and how many times.

Rate refusals (429, 403 rate reasons) wait what Retry-After says, with a little jitter so that
many mailboxes refused together do not return together, or else back off exponentially; they
are retried many times, since they only mean "later". Server errors (5xx) and network errors are
retried a few times, then given up as a TransientError for the poller's own, longer backoff.
Every wait is bounded by `max_backoff` (the provider's `*_max_backoff` setting).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: float = 1.0  # first wait without Retry-After; doubles each time
    max_backoff: float = 900.0
    server_attempts: int = 4  # tries for 5xx and network errors, the first included
    throttled_attempts: int = 12  # tries while refused for rate, the first included
    jitter: float = 0.1  # a Retry-After wait grows by up to this share

    def throttled_wait(self, attempt: int, headers: Mapping[str, str]) -> float:
        """The wait after the `attempt`-th rate refusal (from 1)."""
        told = retry_after(headers)
        if told is not None:
            return min(self.max_backoff, told * (1 + random.uniform(0, self.jitter)))
        return self.backoff(attempt)

    def backoff(self, attempt: int) -> float:
        """Exponential, half of it random ("equal jitter"): waits grow yet never line up."""
        ceiling = min(self.max_backoff, self.base * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), None if absent or unreadable."""
    value = headers.get("retry-after", "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())
