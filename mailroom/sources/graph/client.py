"""A Microsoft Graph client for one mailbox (the signed-in user's, `/me`): a folder's message
delta page by page, message MIME by id (in chained batches of 20, `batch`), a folder's ids for
reconciliation; and the default calendar's calendarView delta (`events`).

Outlook serves at most 4 concurrent requests per mailbox (its MailboxConcurrency limit):
every request of this client, whatever asks for it, takes one of `graph_concurrency` (at most
4) slots, so one mailbox never has more in flight. 429 and 503 wait what Retry-After says,
outside the slots, and are retried for as long as `RetryPolicy.throttled_attempts` allows:
throttling only ever means "later". 401 refreshes the access token once.

A link Graph gives back (`@odata.nextLink`, `@odata.deltaLink`) is followed only if it points
at the configured Graph, under `/v1.0/me/`: a server cannot send the bearer token elsewhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from mailroom.settings import Settings
from mailroom.sources.graph import batch, events, resources
from mailroom.sources.graph.errors import (
    AuthError,
    DeltaExpired,
    GraphError,
    OnPremises,
    ProtocolError,
    TooLargeError,
    TransientError,
    graph_error,
)
from mailroom.sources.graph.events import EventPage
from mailroom.sources.graph.resources import DeltaPage, Fetched, Folder, Gone, IdPage, Oversize
from mailroom.sources.http import Closing, Params, Reply, exchange
from mailroom.sources.retry import RetryPolicy
from mailroom.sources.tokens import TokenSource
from mailroom.tls import http_context

SERVICE = "Microsoft Graph"
# The delta's fields the sync needs: the rest of a message comes from its MIME.
DELTA_SELECT = "id,conversationId,internetMessageId,receivedDateTime,isDraft"
LISTING_LIMIT_BYTES = 16 * 1024 * 1024  # a page of JSON
MESSAGE_SLACK_BYTES = 64 * 1024
LIST_PAGE = 1000  # $top's largest for messages
SERVER_ERRORS = frozenset({500, 502, 503, 504})
THROTTLED_ATTEMPTS = 1000
IMMUTABLE_IDS = 'IdType="ImmutableId"'
# A batch's answer: 20 messages, base64 in JSON; a larger one is split and asked again.
BATCH_BYTES = 64 * 1024 * 1024
# Events' times in UTC (the sync gives each its own zone back from originalStartTimeZone) and
# their bodies as text, not HTML; pages of at most CALENDAR_PAGE events, since an event carries
# its whole body: a page over LISTING_LIMIT_BYTES is asked again in pages half as large.
CALENDAR_PREFER = 'outlook.timezone="UTC", outlook.body-content-type="text"'
CALENDAR_PAGE = 100


@dataclass(frozen=True, slots=True)
class Usage:
    requests: int = 0
    throttled: int = 0  # 429 and 503 answers
    retried: int = 0  # sent again after a server or network error
    refreshes: int = 0
    waited: float = 0.0  # seconds slept on throttling and backoff
    peak_in_flight: int = 0


class GraphClient(Closing):
    def __init__(
        self,
        settings: Settings,
        tokens: TokenSource,
        *,
        http: httpx.AsyncClient | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._settings = settings
        self._tokens = tokens
        self._base = settings.graph_api_url.rstrip("/") + "/v1.0"
        self._origin = httpx.URL(self._base)
        self._slots = asyncio.Semaphore(settings.graph_concurrency)
        self._in_flight = 0
        # Throttling is never a reason to give up (it says "later", and Graph says when):
        # retried until a pass of hours would have passed, each wait at most max_backoff.
        self._retry = retry or RetryPolicy(
            max_backoff=settings.graph_max_backoff, throttled_attempts=THROTTLED_ATTEMPTS
        )
        self._owns_http = http is None
        self._http = http or httpx.AsyncClient(
            verify=http_context(),
            limits=httpx.Limits(max_connections=settings.graph_concurrency),
            timeout=settings.graph_timeout,
        )
        self._message_limit = settings.max_message_bytes
        self._refreshed: str | None = None
        self.usage = Usage()
        # Asked with every request: ids that stay when a message moves between folders
        # (ImmutableId), and pages as large as the settings say.
        self._headers = {"prefer": f"odata.maxpagesize={settings.graph_page_size}, {IMMUTABLE_IDS}"}
        self._json_headers = {**self._headers, "content-type": "application/json"}
        self._calendar_page = min(settings.graph_page_size, CALENDAR_PAGE)

    # The calls the sync makes.

    async def folder(self, name: str) -> Folder:
        """A well-known folder (inbox, sentitems): its id and size. Raises OnPremises for a
        mailbox Graph cannot read (kept on an on-premises Exchange server)."""
        url = f"{self._base}/me/mailFolders/{quote(name, safe='')}"
        reply = await self._call("mailFolders", "GET", url)
        if reply.status == 404:
            error = graph_error(reply.status, reply.body)
            if error.on_premises:
                raise OnPremises(
                    "this mailbox is kept on an on-premises Exchange server, which Microsoft "
                    "Graph cannot read; Mailroom syncs Microsoft 365 (Exchange Online) mailboxes "
                    "only. Connect it by IMAP instead, if your server offers it"
                )
            raise ProtocolError(f"Graph has no {name} folder: {error.describe()}")
        return resources.folder(resources.parse_json(reply.body, "mailFolders"))

    async def delta(self, folder: str, link: str | None = None) -> DeltaPage:
        """A page of the folder's message delta: the first (a full round) without `link`, or
        the page a next link or delta link names. Raises DeltaExpired when Graph no longer
        knows the link's state."""
        if link is None:
            url = f"{self._base}/me/mailFolders/{quote(folder, safe='')}/messages/delta"
            params: Params = [("$select", DELTA_SELECT)]
        else:
            url, params = self._checked_link(link), ()
        reply = await self._call("messages/delta", "GET", url, params=params, expiring=True)
        return resources.delta_page(resources.parse_json(reply.body, "messages/delta"))

    async def calendar_delta(
        self, link: str | None = None, window: tuple[datetime, datetime] | None = None
    ) -> EventPage:
        """A page of the default calendar's calendarView delta: the first of a round over
        `window` (start, end) without `link`, or the page a next link or delta link names.
        Raises DeltaExpired when Graph no longer knows the link's state."""
        if link is None:
            if window is None:
                raise ValueError("a calendarView delta round starts from a window")
            url = f"{self._base}/me/calendarView/delta"
            params: Params = [("startDateTime", _iso(window[0])), ("endDateTime", _iso(window[1]))]
        else:
            url, params = self._checked_link(link), ()
        while True:
            size = self._calendar_page
            prefer = f"odata.maxpagesize={size}, {IMMUTABLE_IDS}, {CALENDAR_PREFER}"
            try:
                reply = await self._call(
                    "calendarView/delta", "GET", url, params=params, expiring=True, prefer=prefer
                )
                break
            except TooLargeError:
                if size == 1:
                    raise
                # Graph's links take the page size of each request: smaller from here on.
                self._calendar_page = size // 2
        page = events.event_page(resources.parse_json(reply.body, "calendarView/delta"))
        # Checked now, not when followed: a page linking elsewhere is refused before its
        # link is stored as the calendar's cursor.
        self._checked_link(page.next_link or page.delta_link or "")
        return page

    async def mime(self, ids: Sequence[str]) -> dict[str, Fetched]:
        """Each message's MIME (`/messages/{id}/$value`), Gone or Oversize: in chained
        batches of 20 (`batch`), concurrently within the mailbox's slots."""
        unique = list(dict.fromkeys(ids))
        size = batch.PARTS
        groups = [unique[start : start + size] for start in range(0, len(unique), size)]
        found: dict[str, Fetched] = {}
        for answers in await asyncio.gather(*(self._mime_batch(group) for group in groups)):
            found.update(answers)
        return {message_id: found[message_id] for message_id in unique}

    async def _mime_batch(self, ids: list[str]) -> dict[str, Fetched]:
        found: dict[str, Fetched] = {}
        pending = ids
        refreshed = False
        server_failures = throttled = 0
        while pending:
            if len(pending) == 1:
                found[pending[0]] = await self._mime(pending[0])
                break
            body, names = batch.request_body(pending, IMMUTABLE_IDS)
            try:
                reply = await self._call(
                    "$batch", "POST", f"{self._base}/$batch", content=body, limit=BATCH_BYTES
                )
            except TooLargeError:
                # Too large together: in halves, down to single requests.
                half = len(pending) // 2
                found.update(await self._mime_batch(pending[:half]))
                found.update(await self._mime_batch(pending[half:]))
                break
            if reply.status == 404:
                raise ProtocolError("Graph has no $batch endpoint here")
            outcome = batch.read_answer(reply.body, names, self._message_limit)
            found.update(outcome.fetched)
            pending = outcome.again
            if outcome.unauthorized:
                if refreshed:
                    raise AuthError("Microsoft refused the mailbox's access token after a refresh")
                refreshed = True
                await self._refresh(await self._tokens.current())
            if outcome.throttled is not None:
                throttled += 1
                self._count(throttled=1)
                if throttled >= self._retry.throttled_attempts:
                    raise TransientError("Graph kept throttling the messages of a batch")
                await self._pause(self._retry.throttled_wait(throttled, outcome.throttled))
            elif outcome.failed or (pending and not outcome.fetched and not outcome.unauthorized):
                # Server errors, parts left out, or a round that moved nothing: a few times.
                server_failures += 1
                await self._server_failed("$batch", server_failures, "parts of a batch failed")
        return found

    async def head(self, message_id: str) -> bytes | Gone:
        """The header block of a message too large to fetch whole (Oversize), or Gone."""
        url = f"{self._base}/me/messages/{quote(message_id, safe='')}"
        params = [("$select", "id,internetMessageHeaders")]
        reply = await self._call("messages", "GET", url, params=params)
        if reply.status == 404:
            return Gone(message_id)
        payload = resources.parse_json(reply.body, "messages")
        if resources.message_id(payload) != message_id:
            raise ProtocolError("Graph answered for another message than the one asked for")
        return resources.message_head(payload, self._settings.limits.max_header_length)

    async def folder_ids(self, folder: str, link: str | None = None) -> IdPage:
        """A page of every message id in the folder (for reconciliation)."""
        if link is None:
            url = f"{self._base}/me/mailFolders/{quote(folder, safe='')}/messages"
            params: Params = [("$select", "id"), ("$top", str(LIST_PAGE))]
        else:
            url, params = self._checked_link(link), ()
        reply = await self._call("messages", "GET", url, params=params)
        if reply.status == 404:
            raise ProtocolError(
                f"Graph has no folder {folder}: {graph_error(reply.status, reply.body).describe()}"
            )
        return resources.id_page(resources.parse_json(reply.body, "messages"))

    async def all_ids(self, folder: str) -> list[str]:
        ids: list[str] = []
        page = await self.folder_ids(folder)
        ids += page.ids
        while page.next_link is not None:
            page = await self.folder_ids(folder, page.next_link)
            ids += page.ids
        return ids

    async def _mime(self, message_id: str) -> Fetched:
        url = f"{self._base}/me/messages/{quote(message_id, safe='')}/$value"
        try:
            reply = await self._call(
                "$value", "GET", url, limit=self._message_limit + MESSAGE_SLACK_BYTES
            )
        except TooLargeError:
            return Oversize(message_id, self._message_limit)
        if reply.status == 404:
            return Gone(message_id)
        return reply.body

    # Every request.

    async def _call(
        self,
        what: str,
        method: str,
        url: str,
        *,
        params: Params = (),
        content: bytes | None = None,
        limit: int = LISTING_LIMIT_BYTES,
        expiring: bool = False,
        prefer: str | None = None,
    ) -> Reply:
        """Send until an answer worth returning: a success or a 404 (whose meaning the caller
        knows); with `expiring`, an expired delta state raises DeltaExpired. `prefer`
        replaces the Prefer header every other request sends."""
        refreshed = False
        server_failures = throttled = 0
        headers = self._headers if content is None else self._json_headers
        if prefer is not None:
            headers = {**headers, "prefer": prefer}
        while True:
            async with self._slots:
                token = await self._tokens.current()
                self._in_flight += 1
                self._count(requests=1)
                self.usage = replace(
                    self.usage, peak_in_flight=max(self.usage.peak_in_flight, self._in_flight)
                )
                try:
                    reply = await exchange(
                        self._http,
                        method,
                        url,
                        token=token,
                        limit=limit,
                        timeout=self._settings.graph_timeout,
                        service=SERVICE,
                        params=params,
                        content=content,
                        headers=headers,
                    )
                except TransientError as failure:
                    reply, error_text = None, str(failure)
                finally:
                    self._in_flight -= 1
            if reply is None:
                server_failures += 1
                await self._server_failed(what, server_failures, error_text)
                continue
            if reply.status < 300 or reply.status == 404 and not expiring:
                return reply
            error = graph_error(reply.status, reply.body)
            if expiring and error.expired or expiring and reply.status == 404:
                raise DeltaExpired(f"Graph no longer knows this delta state: {error.describe()}")
            if reply.status == 401:
                if refreshed:
                    raise AuthError("Microsoft refused the mailbox's access token after a refresh")
                refreshed = True
                await self._refresh(token)
            elif reply.status == 429 or reply.status == 503:
                throttled += 1
                self._count(throttled=1)
                if throttled >= self._retry.throttled_attempts:
                    raise TransientError(f"Graph kept throttling {what}: {error.describe()}")
                await self._pause(self._retry.throttled_wait(throttled, reply.headers))
            elif reply.status in SERVER_ERRORS:
                server_failures += 1
                await self._server_failed(what, server_failures, error.describe())
            elif reply.status == 403:
                raise AuthError(_forbidden(error, what))
            else:
                raise ProtocolError(f"Graph refused {what}: {error.describe()}")

    async def _server_failed(self, what: str, failures: int, description: str) -> None:
        if failures >= self._retry.server_attempts:
            raise TransientError(f"Graph kept failing {what}: {description}")
        self._count(retried=1)
        await self._pause(self._retry.backoff(failures))

    async def _refresh(self, rejected: str) -> None:
        fresh = await self._tokens.refreshed(rejected)
        if fresh != self._refreshed:  # requests rejected together share one refresh
            self._refreshed = fresh
            self._count(refreshes=1)

    async def _pause(self, seconds: float) -> None:
        self._count(waited=seconds)
        await asyncio.sleep(seconds)

    def _count(self, **deltas: float) -> None:
        self.usage = replace(
            self.usage, **{name: getattr(self.usage, name) + n for name, n in deltas.items()}
        )

    def _checked_link(self, link: str) -> str:
        try:
            url = httpx.URL(link)
        except (httpx.InvalidURL, TypeError) as error:
            raise ProtocolError("Graph gave a link that is no URL") from error
        same_place = (url.scheme, url.host, url.port) == (
            self._origin.scheme,
            self._origin.host,
            self._origin.port,
        )
        if not same_place or not url.path.startswith(self._origin.path + "/me/"):
            raise ProtocolError(f"Graph gave a link elsewhere, not followed: {link[:120]}")
        return link

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()


def _forbidden(error: GraphError, what: str) -> str:
    permission = "Calendars.Read" if what.startswith("calendarView") else "Mail.Read"
    return (
        f"Microsoft denies Mailroom access to the mailbox ({error.describe()}): the "
        f"{permission} permission was not granted or an administrator blocked it; reconnect "
        "the mailbox"
    )


def _iso(moment: datetime) -> str:
    """An instant as calendarView's window takes it: ISO 8601 in UTC, with its Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
