"""The Gmail API as the sync needs it: the profile, message ids newest first, raw messages by
id, and history since a history id. One client per mailbox (it holds the mailbox's quota
bucket and token source); `async with GmailClient(...)`, or `aclose()` when done.

Requests and their answers are exactly those of Google's REST reference (users.getProfile,
users.messages.list, users.messages.get with format=raw, users.history.list, and the batch
endpoint); every answer is bounded in size and time (`sources.http`), quota is spent before each
request (`quota`), and failures are retried or raised by their class (`calls`, `errors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal
from urllib.parse import quote

import httpx

from mailroom.settings import Settings
from mailroom.sources.gmail import resources
from mailroom.sources.gmail.calls import Core, Usage
from mailroom.sources.gmail.errors import HistoryExpired, ProtocolError
from mailroom.sources.gmail.fetch import BatchFetcher, ConcurrentFetcher, Target
from mailroom.sources.gmail.quota import QuotaBucket
from mailroom.sources.gmail.resources import (
    Fetched,
    Gone,
    HistoryPage,
    MessageHead,
    MessagePage,
    Profile,
)
from mailroom.sources.http import Closing, Params
from mailroom.sources.retry import RetryPolicy
from mailroom.sources.tokens import TokenSource
from mailroom.tls import http_context

FetchMode = Literal["batch", "concurrent"]
# Every message the sync keeps: nothing in SPAM or TRASH (includeSpamTrash=false), and neither
# drafts nor chats, which only a search excludes (labelIds can only require labels).
KEPT_MESSAGES = "-in:drafts -in:chats"
HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")
MAX_PAGE = 500  # messages.list and history.list allow no more
# Around a message's base64url bytes, its answer holds ids, labels and dates.
MESSAGE_SLACK_BYTES = 64 * 1024
# A page of ids or history, or a profile: 500 records are tens of kilobytes.
LISTING_LIMIT_BYTES = 8 * 1024 * 1024


class GmailClient(Closing):
    """See the module's docstring. `fetch` chooses how `get_raw` fetches: HTTP batches of up
    to `batch_size` (at most 50) or `concurrency` GETs at a time."""

    def __init__(
        self,
        settings: Settings,
        tokens: TokenSource,
        http: httpx.AsyncClient | None = None,
        *,
        fetch: FetchMode = "batch",
        batch_size: int = 50,
        concurrency: int = 10,
        quota: QuotaBucket | None = None,
        retry: RetryPolicy | None = None,
        user: str = "me",
    ) -> None:
        self._settings = settings
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            verify=http_context(),
            timeout=httpx.Timeout(settings.gmail_timeout),
            limits=httpx.Limits(max_connections=max(concurrency, 2)),
            follow_redirects=False,
        )
        self._api = settings.gmail_api_url.rstrip("/")
        self._user = quote(user, safe="")
        quota = quota or QuotaBucket.for_minute(settings.gmail_quota_per_minute)
        self._core = Core(
            self._http,
            tokens,
            quota,
            retry or RetryPolicy(max_backoff=settings.gmail_max_backoff),
            timeout=settings.gmail_timeout,
        )
        target = Target(
            api_url=self._api,
            user=user,
            cost=settings.gmail_cost_messages_get,
            limit=settings.max_message_bytes * 4 // 3 + MESSAGE_SLACK_BYTES,
        )
        self._fetcher: BatchFetcher | ConcurrentFetcher = (
            # A batch spends all its parts' units at once: no more than the bucket holds.
            BatchFetcher(self._core, target, min(batch_size, int(quota.capacity // target.cost)))
            if fetch == "batch"
            else ConcurrentFetcher(self._core, target, concurrency)
        )

    @property
    def usage(self) -> Usage:
        """Requests, calls, quota units, refusals and waits so far."""
        return self._core.usage

    @property
    def quota(self) -> QuotaBucket:
        return self._core.quota

    async def profile(self) -> Profile:
        """users.getProfile: the address, totals, and the current history id."""
        payload = await self._get(
            "users.getProfile", "/profile", (), self._settings.gmail_cost_get_profile
        )
        return resources.profile(payload)

    async def list_message_ids(
        self, page_token: str | None = None, max_results: int = MAX_PAGE
    ) -> MessagePage:
        """users.messages.list of every message the sync keeps, newest first; pass the page's
        `next_page_token` for the next page."""
        if not 1 <= max_results <= MAX_PAGE:
            raise ValueError(f"max_results must be from 1 to {MAX_PAGE}")
        params: list[tuple[str, str]] = [
            ("includeSpamTrash", "false"),
            ("q", KEPT_MESSAGES),
            ("maxResults", str(max_results)),
        ]
        if page_token:
            params.append(("pageToken", page_token))
        payload = await self._get(
            "users.messages.list", "/messages", params, self._settings.gmail_cost_messages_list
        )
        return resources.message_page(payload)

    async def get_raw(self, ids: Sequence[str]) -> dict[str, Fetched]:
        """users.messages.get?format=raw for each id (duplicates once), in the order given:
        a RawMessage, Gone (deleted since listed) or Oversize (over the size bound, unread)."""
        unique = list(dict.fromkeys(ids))
        if not unique:
            return {}
        return await self._fetcher.fetch(unique)

    async def get_head(self, message_id: str) -> MessageHead | Gone:
        """users.messages.get?format=metadata: the header fields of a message too large to
        fetch whole (Oversize), or Gone."""
        try:
            payload = await self._get(
                "users.messages.get",
                f"/messages/{quote(message_id, safe='')}",
                [("format", "metadata")],
                self._settings.gmail_cost_messages_get,
                not_found=_NotFound(),
            )
        except _NotFound:
            return Gone(message_id)
        head = resources.message_head(payload, self._settings.limits.max_header_length)
        if head.id != message_id:
            raise ProtocolError(
                f"Gmail answered for message {head.id[:40]} when asked for one other"
            )
        return head

    async def history(
        self, start_history_id: int, page_token: str | None = None, max_results: int = MAX_PAGE
    ) -> HistoryPage:
        """users.history.list of the four change types after `start_history_id`. Raises
        HistoryExpired when Gmail no longer has history from there (404)."""
        if not 1 <= max_results <= MAX_PAGE:
            raise ValueError(f"max_results must be from 1 to {MAX_PAGE}")
        params = [("startHistoryId", str(start_history_id)), ("maxResults", str(max_results))]
        params += [("historyTypes", kind) for kind in HISTORY_TYPES]
        if page_token:
            params.append(("pageToken", page_token))
        payload = await self._get(
            "users.history.list",
            "/history",
            params,
            self._settings.gmail_cost_history_list,
            not_found=HistoryExpired(
                f"Gmail no longer has the mailbox's history from {start_history_id}"
            ),
        )
        return resources.history_page(payload)

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def _get(
        self,
        what: str,
        path: str,
        params: Params,
        cost: int,
        *,
        not_found: Exception | None = None,
    ) -> dict[str, object]:
        url = f"{self._api}/gmail/v1/users/{self._user}{path}"
        reply = await self._core.call(
            what,
            lambda: self._core.send(
                "GET", url, cost=cost, calls=1, limit=LISTING_LIMIT_BYTES, params=params
            ),
        )
        if reply.status == 404:
            raise not_found or ProtocolError(f"Gmail answered 404 to {what}")
        return resources.parse_json(reply.body, what)


class _NotFound(Exception):
    """messages.get answered 404: the message is gone."""
