"""One HTTP exchange with a provider's API (Gmail, Microsoft Graph), bounded: in time
(httpx's timeouts for each phase, and a wall clock for the whole that grants a second per
64 KiB of the allowed size, so a server dripping bytes cannot hold a sync), and in size (a
declared length over the bound is refused at once, a streamed body as soon as it passes it).
Redirects are never followed: neither API redirects the calls Mailroom makes, and following
one would send the bearer token elsewhere.

httpx's errors are translated here, once, into the sync errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

import httpx

from mailroom.errors import ProtocolError, TransientError

Params = Sequence[tuple[str, str]]
BYTES_PER_SECOND_GRANTED = 64 * 1024


class Closing:
    """A client used as `async with client:`, closed (its HTTP connections with it) on the way
    out, however the block ends."""

    async def aclose(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class TooLargeError(ProtocolError):
    """A response larger than any answer to its request may be; not read past the bound."""


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # lower-case names
    body: bytes


async def exchange(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    token: str,
    limit: int,
    timeout: float,
    service: str = "Gmail",
    params: Params = (),
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """Send one request and read its answer, at most `limit` bytes of body."""
    sent = {"authorization": f"Bearer {token}", **(headers or {})}
    try:
        async with asyncio.timeout(timeout + limit / BYTES_PER_SECOND_GRANTED):
            # No params at all: an empty list would drop the query a link already carries.
            request = http.build_request(method, url, params=list(params) or None, content=content)
            request.headers.update(sent)
            response = await http.send(request, stream=True, follow_redirects=False)
            try:
                return await _read(response, limit, service)
            finally:
                await response.aclose()
    except TimeoutError as error:
        raise TransientError(f"{service} did not answer {method} {_path(url)} in time") from error
    except httpx.TimeoutException as error:
        raise TransientError(f"{service} did not answer {method} {_path(url)} in time") from error
    except httpx.TransportError as error:
        raise TransientError(f"network error talking to {service}: {error!r}") from error
    except httpx.HTTPError as error:
        raise ProtocolError(f"{service}'s answer could not be read: {error!r}") from error


async def _read(response: httpx.Response, limit: int, service: str) -> Reply:
    if response.is_redirect or 300 <= response.status_code < 400:
        where = response.headers.get("location", "nowhere")[:200]
        raise ProtocolError(
            f"{service} answered {response.status_code} redirecting to {where}; not followed"
        )
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLargeError(f"{service}'s answer declares {declared} bytes, over {limit}")
    body = bytearray()
    # aiter_bytes counts bytes after content decoding, so a compressed bomb is bounded too.
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise TooLargeError(f"{service}'s answer runs past {limit} bytes")
    headers = {name.lower(): value for name, value in response.headers.items()}
    return Reply(response.status_code, headers, bytes(body))


def _path(url: str) -> str:
    return httpx.URL(url).path
