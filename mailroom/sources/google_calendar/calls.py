"""One Google Calendar call to its end: the bearer token from the mailbox's TokenSource, one
refresh on 401, rate and quota refusals waited out (Retry-After, else backoff), server and
network errors retried a few times, every answer bounded (`sources.http`); and what it cost.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, replace

import httpx

from mailroom.sources.google_calendar.errors import (
    AuthError,
    CalendarRefused,
    GoogleError,
    ProtocolError,
    SyncTokenExpired,
    TransientError,
    Verdict,
    google_error,
    verdict,
)
from mailroom.sources.http import Params, exchange
from mailroom.sources.retry import RetryPolicy
from mailroom.sources.tokens import TokenSource

SERVICE = "Google Calendar"


@dataclass(frozen=True, slots=True)
class Usage:
    """What a client has cost so far."""

    requests: int = 0  # HTTP requests sent, retries included
    throttled: int = 0  # rate and quota refusals received
    retried: int = 0  # requests sent again after a server or network error
    refreshes: int = 0  # access tokens refreshed after a 401
    waited: float = 0.0  # seconds slept on refusals and backoff


class Caller:
    """GETs of one mailbox's calendar; `get` returns the body of a 200 or raises by class."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        tokens: TokenSource,
        retry: RetryPolicy,
        *,
        timeout: float,
        limit: int,
    ) -> None:
        self.http = http
        self.tokens = tokens
        self.retry = retry
        self.timeout = timeout
        self.limit = limit
        self.usage = Usage()

    def count(self, **deltas: float) -> None:
        self.usage = replace(
            self.usage, **{name: getattr(self.usage, name) + n for name, n in deltas.items()}
        )

    async def get(self, what: str, url: str, params: Params) -> bytes:
        attempt = _Attempts(self, what)
        token = await self.tokens.current()
        while True:
            self.count(requests=1)
            try:
                reply = await exchange(
                    self.http, "GET", url, token=token, limit=self.limit,
                    timeout=self.timeout, service=SERVICE, params=params,
                )  # fmt: skip
            except TransientError as failure:
                await attempt.server_failed(str(failure))
                continue
            if reply.status == 200:
                return reply.body
            error = google_error(reply.status, reply.body)
            judged = verdict(reply.status, error)
            if judged is Verdict.REFRESH:
                token = await attempt.refresh(token)
            elif judged is Verdict.THROTTLED:
                await attempt.throttled(error, reply.headers)
            elif judged is Verdict.RETRY:
                await attempt.server_failed(error.describe())
            else:
                raise _refusal(judged, what, error)

    async def pause(self, seconds: float) -> None:
        self.count(waited=seconds)
        await asyncio.sleep(seconds)


class _Attempts:
    """The retry state of one call: failures of each kind so far, and whether the token was
    refreshed already (a second 401 after a refresh means the grant is gone)."""

    def __init__(self, caller: Caller, what: str) -> None:
        self.caller = caller
        self.what = what
        self.refreshed = False
        self.server_failures = 0
        self.refusals = 0

    async def refresh(self, token: str) -> str:
        if self.refreshed:
            raise AuthError("Google refused the mailbox's access token even after a refresh")
        self.refreshed = True
        self.caller.count(refreshes=1)
        return await self.caller.tokens.refreshed(token)

    async def throttled(self, error: GoogleError, headers: Mapping[str, str]) -> None:
        self.refusals += 1
        self.caller.count(throttled=1)
        if self.refusals >= self.caller.retry.throttled_attempts:
            raise TransientError(
                f"{SERVICE} kept refusing {self.what} for rate ({error.describe()})"
            )
        await self.caller.pause(self.caller.retry.throttled_wait(self.refusals, headers))

    async def server_failed(self, description: str) -> None:
        self.server_failures += 1
        if self.server_failures >= self.caller.retry.server_attempts:
            raise TransientError(f"{SERVICE} kept failing {self.what}: {description}")
        self.caller.count(retried=1)
        await self.caller.pause(self.caller.retry.backoff(self.server_failures))


def _refusal(judged: Verdict, what: str, error: GoogleError) -> Exception:
    if judged is Verdict.GONE:
        return SyncTokenExpired(f"{SERVICE} no longer honours the sync token ({error.describe()})")
    if judged is Verdict.FORBIDDEN:
        return CalendarRefused(
            f"Google refused access to the calendar ({error.describe()}); reconnect the "
            "account and allow Mailroom to see the calendar"
        )
    return ProtocolError(f"{SERVICE} refused {what}: {error.describe()}")
