"""The core every Gmail request goes through: quota spent first, the bearer token from the
mailbox's TokenSource, one refresh on 401, the retry policy for rate refusals, server errors
and network errors, and the counts the benchmark reports.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

import httpx

from mailroom.sources.gmail.errors import (
    AuthError,
    GoogleError,
    ProtocolError,
    TransientError,
    Verdict,
    forbidden,
    google_error,
    verdict,
)
from mailroom.sources.gmail.quota import QuotaBucket
from mailroom.sources.http import Params, Reply, exchange
from mailroom.sources.retry import RetryPolicy
from mailroom.sources.tokens import TokenSource


@dataclass(frozen=True, slots=True)
class Usage:
    """What a client has cost so far."""

    requests: int = 0  # HTTP requests sent (a batch is one)
    calls: int = 0  # API calls made (each part of a batch is one)
    units: int = 0  # quota units spent, retries included
    throttled: int = 0  # rate refusals received (whole requests or batch parts)
    retried: int = 0  # calls sent again after a server or network error
    refreshes: int = 0  # access tokens refreshed after a 401
    waited: float = 0.0  # seconds slept on rate refusals and backoff (not quota)


class Core:
    """Shared by the client and its fetch strategies; one per mailbox."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: TokenSource,
        quota: QuotaBucket,
        retry: RetryPolicy,
        *,
        timeout: float,
    ) -> None:
        self.http = http
        self.tokens = tokens
        self.quota = quota
        self.retry = retry
        self.timeout = timeout
        self.usage = Usage()
        self._refreshed: str | None = None  # the token the last refresh gave

    def count(self, **deltas: float) -> None:
        self.usage = replace(
            self.usage, **{name: getattr(self.usage, name) + n for name, n in deltas.items()}
        )

    async def token(self) -> str:
        # Asked each time: the token source caches, and refreshes ahead of expiry.
        return await self.tokens.current()

    async def refresh(self, rejected: str) -> None:
        fresh = await self.tokens.refreshed(rejected)
        if fresh != self._refreshed:  # concurrent requests rejected together share one
            self._refreshed = fresh
            self.count(refreshes=1)

    async def pause(self, seconds: float) -> None:
        self.count(waited=seconds)
        await asyncio.sleep(seconds)

    async def send(
        self,
        method: str,
        url: str,
        *,
        cost: int,
        calls: int,
        limit: int,
        params: Params = (),
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[str, Reply]:
        """One attempt: spend, then send with the current token; (token used, reply)."""
        await self.quota.spend(cost)
        token = await self.token()
        self.count(requests=1, calls=calls, units=cost)
        reply = await exchange(
            self.http,
            method,
            url,
            token=token,
            limit=limit,
            timeout=self.timeout,
            params=params,
            content=content,
            headers=headers,
        )
        return token, reply

    async def call(self, what: str, attempt: Callable[[], Awaitable[tuple[str, Reply]]]) -> Reply:
        """Run `attempt` until it gets an answer worth returning: a success or a 404 (whose
        meaning the caller knows). Everything else is retried or raised by its class."""
        tracker = Tracker(self, what)
        while True:
            try:
                token, reply = await attempt()
            except TransientError as failure:
                await tracker.server_failed(str(failure))
                continue
            error = None if reply.status < 300 else google_error(reply.status, reply.body)
            judged = verdict(reply.status, error)
            if judged in (Verdict.OK, Verdict.NOT_FOUND):
                return reply
            assert error is not None
            await tracker.handle(judged, error, token, reply.headers)


class Tracker:
    """The retry state of one logical call: consecutive failures of each kind, and whether
    the token was refreshed already (a second 401 after a refresh means the grant is gone)."""

    def __init__(self, core: Core, what: str) -> None:
        self.core = core
        self.what = what
        self.refreshed = False
        self.server_failures = 0
        self.throttled = 0

    async def handle(
        self, judged: Verdict, error: GoogleError, token: str, headers: Mapping[str, str]
    ) -> None:
        if judged is Verdict.REFRESH:
            await self.refresh(token)
        elif judged is Verdict.THROTTLED:
            await self.rate_refused(headers, error)
        elif judged is Verdict.RETRY:
            await self.server_failed(error.describe())
        elif judged is Verdict.FORBIDDEN:
            raise forbidden(error)
        else:
            raise ProtocolError(f"Gmail refused {self.what}: {error.describe()}")

    async def refresh(self, token: str) -> None:
        if self.refreshed:
            raise AuthError("Google refused the mailbox's access token even after a refresh")
        self.refreshed = True
        await self.core.refresh(token)

    async def rate_refused(self, headers: Mapping[str, str], error: GoogleError | None) -> None:
        self.throttled += 1
        self.core.count(throttled=1)
        self.core.quota.drain()
        if self.throttled >= self.core.retry.throttled_attempts:
            told = error.describe() if error else "rate limited"
            raise TransientError(f"Gmail kept refusing {self.what} for rate ({told})")
        await self.core.pause(self.core.retry.throttled_wait(self.throttled, headers))

    async def server_failed(self, description: str) -> None:
        self.server_failures += 1
        if self.server_failures >= self.core.retry.server_attempts:
            raise TransientError(f"Gmail kept failing {self.what}: {description}")
        self.core.count(retried=1)
        await self.core.pause(self.core.retry.backoff(self.server_failures))

    def succeeded(self) -> None:
        """A round went through: failures are counted again from zero."""
        self.server_failures = 0
        self.throttled = 0
