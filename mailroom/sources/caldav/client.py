"""A CalDAV client: the few WebDAV requests a calendar sync needs, over httpx.

Why not the `caldav` library (3.6.0, which has an async client)? Measured here: importing
`caldav.aio` takes about 225 ms and installs a dozen packages (niquests, urllib3-future, qh3,
lxml, wassima, ...; 82 MB) against 6 ms for httpx and defusedxml, both already needed; it
reads each answer whole, with no bound; its default transport (niquests) follows redirects,
which would take the password to another host; and it connects by host name, so addresses
cannot be vetted against DNS rebinding. Mailroom needs four requests (PROPFIND, REPORT
sync-collection, REPORT calendar-multiget, GET), so they are written here on httpx, with the
safety rules of every source: vetted addresses (`transport`), bounded answers and time, XML
read by defusedxml (`multistatus`).

Redirects are followed only within the account's own site (the same origin, or over HTTPS a
host of the same registrable domain, as iCloud's calendar homes are), at most a few times;
anywhere else would receive the password. httpx's errors are translated here, once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import quote, unquote

import httpx

from mailroom.parsing.addresses.owners import registrable_domain
from mailroom.sources.caldav import bodies
from mailroom.sources.caldav.errors import (
    AuthError,
    ProtocolError,
    SyncTokenInvalid,
    TooLargeError,
    TransientError,
)
from mailroom.sources.caldav.multistatus import Multistatus, read_multistatus
from mailroom.sources.caldav.transport import VettedTransport
from mailroom.sources.http import BYTES_PER_SECOND_GRANTED, Closing

SERVICE = "the CalDAV server"
MAX_REDIRECTS = 3
DISCOVERY_LIMIT = 4 * 1024 * 1024  # one PROPFIND's answer
LISTING_LIMIT = 16 * 1024 * 1024  # a collection's etags, or one sync-collection round
MULTIGET_LIMIT = 16 * 1024 * 1024  # one batch of calendar resources
MAX_MEMBERS = 50_000  # in one listing
SAFE_PATH = "/:@!$&'()*+,;=-._~"


@dataclass(frozen=True, slots=True)
class Account:
    """Where the calendars are and whose they are; `url` as given (a calendar, a home or a
    principal)."""

    url: str
    username: str
    password: str
    allow_private: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    url: str  # where it came from, after redirects


class ReportRefused(ProtocolError):
    """The collection does not take sync-collection after all: list its etags instead."""


class CalDavClient(Closing):
    """One account's requests. A context manager (the connection pool)."""

    def __init__(
        self,
        account: Account,
        *,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.account = account
        self.timeout = timeout
        self.base = httpx.URL(account.url)
        self._auth: httpx.Auth = httpx.BasicAuth(account.username, account.password)
        self._http = httpx.AsyncClient(
            transport=transport
            or VettedTransport(allow_private=account.allow_private, timeout=timeout),
            timeout=httpx.Timeout(timeout),
            trust_env=False,
            follow_redirects=False,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    def resolve(self, href: str, base: str | None = None) -> str:
        """The absolute URL of an href the server wrote (relative to `base`, the account's URL
        by default), refused if it leaves the account's site."""
        try:
            url = httpx.URL(base or self.account.url).join(href.strip())
        except (httpx.InvalidURL, ValueError) as error:
            raise ProtocolError(f"{SERVICE} named an invalid href {href[:200]!r}") from error
        if not self.within(url):
            raise ProtocolError(
                f"{SERVICE} pointed to {_origin(url)}, outside {_origin(self.base)}; not followed"
            )
        return str(url.copy_with(path=path_of(url), fragment=None))

    def within(self, url: httpx.URL) -> bool:
        """Whether the password may go to `url`: the account's origin, or over HTTPS a host
        of the same registrable domain."""
        if (url.scheme, url.host, url.port) == (self.base.scheme, self.base.host, self.base.port):
            return True
        if url.scheme != "https" or self.base.scheme != "https" or url.port != self.base.port:
            return False
        site = registrable_domain(self.base.host)
        return site is not None and registrable_domain(url.host) == site

    async def propfind(self, url: str, props: tuple[str, ...], depth: str) -> Multistatus:
        limit = DISCOVERY_LIMIT if depth == "0" else LISTING_LIMIT
        answer = await self.request("PROPFIND", url, bodies.propfind(props), depth, limit)
        return self._multistatus(answer, "PROPFIND")

    async def sync_collection(self, url: str, token: str) -> Multistatus:
        """One round of RFC 6578's listing; SyncTokenInvalid when `token` is refused."""
        answer = await self.request(
            "REPORT", url, bodies.sync_collection(token), "0", LISTING_LIMIT, expect=False
        )
        if answer.status in (403, 409) and b"valid-sync-token" in answer.body:
            raise SyncTokenInvalid(f"{SERVICE} no longer knows the sync token of {url}")
        if answer.status in (400, 403, 405, 501) and not token:
            raise ReportRefused(f"{SERVICE} refused sync-collection on {url} ({answer.status})")
        return self._multistatus(answer, "REPORT sync-collection")

    async def multiget(self, url: str, hrefs: list[str]) -> Multistatus:
        answer = await self.request(
            "REPORT", url, bodies.calendar_multiget(hrefs), "1", MULTIGET_LIMIT
        )
        return self._multistatus(answer, "REPORT calendar-multiget")

    async def get(self, url: str, limit: int = MULTIGET_LIMIT) -> Answer:
        """One resource; a 404 is returned, not raised."""
        return await self.request("GET", url, None, None, limit, expect=False)

    def _multistatus(self, answer: Answer, what: str) -> Multistatus:
        if answer.status != 207:
            raise ProtocolError(
                f"{SERVICE} answered {what} on {answer.url} with {answer.status} where a CalDAV "
                f"server answers 207 (is {self.base} a CalDAV server?)"
            )
        return read_multistatus(answer.body, max_members=MAX_MEMBERS, service=SERVICE)

    async def request(
        self,
        method: str,
        url: str,
        body: bytes | None,
        depth: str | None,
        limit: int,
        *,
        expect: bool = True,
    ) -> Answer:
        """Send one request, following redirects within the site. 401 is an AuthError, 429
        and 5xx are transient (but 501: the method is not implemented, and will not be);
        with `expect`, any other status but 2xx is a ProtocolError."""
        headers = {"content-type": "application/xml; charset=utf-8"} if body else {}
        if depth is not None:
            headers["depth"] = depth
        for _ in range(MAX_REDIRECTS + 1):
            answer = await self._exchange(method, url, body, headers, limit)
            if answer.status not in (301, 302, 303, 307, 308):
                break
            location = answer.headers.get("location", "")
            if not location:
                raise ProtocolError(f"{SERVICE} answered {answer.status} with nowhere to go")
            url = self.resolve(location, base=url)
        else:
            raise ProtocolError(f"{SERVICE} redirected {method} more than {MAX_REDIRECTS} times")
        if answer.status == 401 and self._digest(answer):
            answer = await self._exchange(method, url, body, headers, limit)
        if answer.status == 401:
            raise AuthError(
                f"{SERVICE} at {self.base.host} refused the login of {self.account.username!r}"
            )
        if answer.status == 429 or (answer.status >= 500 and answer.status != 501):
            raise TransientError(f"{SERVICE} answered {method} {_path(url)} with {answer.status}")
        if expect and not 200 <= answer.status < 300:
            raise ProtocolError(
                f"{SERVICE} answered {method} {_path(url)} with {answer.status}"
                + (" (nothing there)" if answer.status == 404 else "")
            )
        return answer

    def _digest(self, answer: Answer) -> bool:
        """Switch to Digest when the server asks for it and not for Basic (once)."""
        challenge = answer.headers.get("www-authenticate", "").lower()
        if isinstance(self._auth, httpx.BasicAuth) and "digest" in challenge:
            if "basic" not in challenge:
                self._auth = httpx.DigestAuth(self.account.username, self.account.password)
                return True
        return False

    async def _exchange(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str], limit: int
    ) -> Answer:
        try:
            async with asyncio.timeout(self.timeout + limit / BYTES_PER_SECOND_GRANTED):
                request = self._http.build_request(method, url, content=body, headers=headers)
                response = await self._http.send(request, auth=self._auth, stream=True)
                try:
                    return await _read(response, limit, url)
                finally:
                    await response.aclose()
        except TimeoutError as error:
            raise TransientError(
                f"{SERVICE} did not answer {method} {_path(url)} in time"
            ) from error
        except httpx.TimeoutException as error:
            raise TransientError(
                f"{SERVICE} did not answer {method} {_path(url)} in time"
            ) from error
        except httpx.TransportError as error:
            raise TransientError(f"network error talking to {SERVICE}: {error!r}") from error
        except httpx.HTTPError as error:
            raise ProtocolError(f"{SERVICE}'s answer could not be read: {error!r}") from error


async def _read(response: httpx.Response, limit: int, url: str) -> Answer:
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLargeError(f"{SERVICE}'s answer declares {declared} bytes, over {limit}")
    body = bytearray()
    # aiter_bytes counts bytes after content decoding, so a compressed bomb is bounded too.
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise TooLargeError(f"{SERVICE}'s answer runs past {limit} bytes")
    headers = {name.lower(): value for name, value in response.headers.items()}
    return Answer(response.status_code, headers, bytes(body), url)


def path_of(url: httpx.URL) -> str:
    """The URL's path in one spelling, whichever escapes the server chose: hrefs from a
    listing and from a multiget answer then compare equal."""
    raw = url.raw_path.split(b"?", 1)[0].decode("ascii", "replace")
    return quote(unquote(raw, errors="replace"), safe=SAFE_PATH)


def _origin(url: httpx.URL) -> str:
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}"


def _path(url: str) -> str:
    return httpx.URL(url).path[:200]
