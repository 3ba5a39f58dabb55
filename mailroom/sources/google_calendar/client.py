"""Google Calendar's events.list as the sync needs it: one calendar's occurrences, series
expanded (`singleEvents=true`), in a window or since a sync token, page by page. One client per
mailbox, with the mailbox's access tokens (the Gmail account's, whose consent includes
calendar.readonly); `async with GoogleCalendarClient(...)`, or `aclose()` when done.

The request is exactly that of Google's reference; every answer is bounded in size and time
(`sources.http`), and failures are retried or raised by their class (`calls`, `errors`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from mailroom.settings import Settings
from mailroom.sources.google_calendar import resources
from mailroom.sources.google_calendar.calls import Caller, Usage
from mailroom.sources.google_calendar.resources import EventPage
from mailroom.sources.http import Closing
from mailroom.sources.retry import RetryPolicy
from mailroom.sources.tokens import TokenSource
from mailroom.tls import http_context

# Events a page asks for (Google allows up to 2,500). A page of 500 meetings with their
# attendees and descriptions is a few megabytes; PAGE_LIMIT_BYTES bounds what a server may send
# for one, a hostile event with 100,000 attendees included.
PAGE_SIZE = 500
PAGE_LIMIT_BYTES = 16 * 1024 * 1024


class GoogleCalendarClient(Closing):
    """See the module's docstring. `calendar_id` is "primary": the account's own calendar."""

    def __init__(
        self,
        settings: Settings,
        tokens: TokenSource,
        http: httpx.AsyncClient | None = None,
        *,
        retry: RetryPolicy | None = None,
        calendar_id: str = "primary",
        page_size: int = PAGE_SIZE,
    ) -> None:
        if not 1 <= page_size <= 2500:
            raise ValueError("page_size must be from 1 to 2500")
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            verify=http_context(),
            timeout=httpx.Timeout(settings.gmail_timeout),
            follow_redirects=False,
        )
        api = settings.google_calendar_api_url.rstrip("/")
        self._url = f"{api}/calendar/v3/calendars/{quote(calendar_id, safe='')}/events"
        self._page_size = page_size
        # The account's Google settings: the same timeout and longest wait as its mail.
        self._caller = Caller(
            self._http,
            tokens,
            retry or RetryPolicy(max_backoff=settings.gmail_max_backoff),
            timeout=settings.gmail_timeout,
            limit=PAGE_LIMIT_BYTES,
        )

    @property
    def usage(self) -> Usage:
        return self._caller.usage

    async def events(
        self,
        *,
        page_token: str | None = None,
        sync_token: str | None = None,
        time_min: datetime | None = None,
        time_max: datetime | None = None,
    ) -> EventPage:
        """One page of events.list with singleEvents=true: the occurrences between `time_min`
        and `time_max`, or what changed since `sync_token` (which Google takes with no time
        bounds). Raises SyncTokenExpired when Google no longer honours the sync token."""
        params: list[tuple[str, str]] = [
            ("singleEvents", "true"),
            ("maxResults", str(self._page_size)),
        ]
        if sync_token is not None:
            if time_min is not None or time_max is not None:
                raise ValueError("Google refuses time bounds beside a sync token")
            params.append(("syncToken", sync_token))
        if time_min is not None:
            params.append(("timeMin", rfc3339(time_min)))
        if time_max is not None:
            params.append(("timeMax", rfc3339(time_max)))
        if page_token is not None:
            params.append(("pageToken", page_token))
        body = await self._caller.get("events.list", self._url, params)
        return resources.event_page(resources.parse_json(body))

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()


def rfc3339(moment: datetime) -> str:
    """UTC, to the second, with the offset Google requires."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
