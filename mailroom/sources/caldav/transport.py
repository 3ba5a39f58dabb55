"""httpx's transport, connecting only to vetted addresses.

A member names the CalDAV server, so Mailroom would otherwise connect wherever the URL (or a
DNS answer) points: the operator's network, a cloud metadata service. Every connection resolves
the host once, vets each address as IMAP does (`sources.imap.hosts`), then connects to a vetted
address itself, never to the name again (DNS rebinding); TLS still sends and checks the name.
Proxies from the environment are ignored, since a proxy would connect on Mailroom's behalf
to whatever it is asked.
"""

from __future__ import annotations

from collections.abc import Iterable

import httpcore
import httpx

from mailroom.sources.imap.hosts import resolve
from mailroom.tls import http_context

ALLOW_PRIVATE = (
    "pass --allow-private-host, or set MAILROOM_CALDAV_ALLOW_PRIVATE_HOSTS=true, to allow "
    "private hosts"
)


class VettedBackend(httpcore.AsyncNetworkBackend):
    """Resolves and vets the host of each new connection, then connects to its addresses in
    turn."""

    def __init__(self, *, allow_private: bool, timeout: float) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(
            host,
            port,
            allow_private=self.allow_private,
            timeout=self.timeout,
            service="CalDAV",
            hint=ALLOW_PRIVATE,
        )
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        raise failure or httpcore.ConnectError(f"{host!r} has no address")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("CalDAV servers are reached over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class VettedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (its request and error mapping) over a pool that connects
    through `VettedBackend`."""

    def __init__(self, *, allow_private: bool, timeout: float) -> None:
        super().__init__(verify=http_context(), trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=http_context(),
            max_connections=4,
            max_keepalive_connections=2,
            keepalive_expiry=30.0,
            network_backend=VettedBackend(allow_private=allow_private, timeout=timeout),
        )
