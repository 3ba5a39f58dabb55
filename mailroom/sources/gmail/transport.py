"""One HTTP exchange with Google, bounded: in time (httpx's timeouts for each phase, and a
wall clock for the whole that grants a second per 64 KiB of the allowed size, so a server
dripping bytes cannot hold a sync), and in size (a declared length over the bound is refused
at once, a streamed body as soon as it passes it). Redirects are never followed: Google's API
does not redirect, and following one would send the bearer token elsewhere.

httpx's errors are translated here, once, into the sync errors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import httpx

from mailroom.sources.gmail.errors import ProtocolError, TooLargeError, TransientError

Params = Sequence[tuple[str, str]]
BYTES_PER_SECOND_GRANTED = 64 * 1024


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
    params: Params = (),
    content: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Reply:
    """Send one request and read its answer, at most `limit` bytes of body."""
    sent = {"authorization": f"Bearer {token}", **(headers or {})}
    try:
        async with asyncio.timeout(timeout + limit / BYTES_PER_SECOND_GRANTED):
            request = http.build_request(method, url, params=list(params), content=content)
            request.headers.update(sent)
            response = await http.send(request, stream=True, follow_redirects=False)
            try:
                return await _read(response, limit)
            finally:
                await response.aclose()
    except TimeoutError as error:
        raise TransientError(f"Gmail did not answer {method} {_path(url)} in time") from error
    except httpx.TimeoutException as error:
        raise TransientError(f"Gmail did not answer {method} {_path(url)} in time") from error
    except httpx.TransportError as error:
        raise TransientError(f"network error talking to Gmail: {error!r}") from error
    except httpx.HTTPError as error:
        raise ProtocolError(f"Gmail's answer could not be read: {error!r}") from error


async def _read(response: httpx.Response, limit: int) -> Reply:
    if response.is_redirect or 300 <= response.status_code < 400:
        where = response.headers.get("location", "nowhere")[:200]
        raise ProtocolError(
            f"Gmail answered {response.status_code} redirecting to {where}; not followed"
        )
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLargeError(f"Gmail's answer declares {declared} bytes, over {limit}")
    body = bytearray()
    # aiter_bytes counts bytes after content decoding, so a compressed bomb is bounded too.
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) > limit:
            raise TooLargeError(f"Gmail's answer runs past {limit} bytes")
    headers = {name.lower(): value for name, value in response.headers.items()}
    return Reply(response.status_code, headers, bytes(body))


def _path(url: str) -> str:
    return httpx.URL(url).path
