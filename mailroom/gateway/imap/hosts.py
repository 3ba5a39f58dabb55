"""Which IMAP hosts a workspace may connect to.

Admins set the host over the API, so Mailroom would otherwise connect wherever they point it:
to the operator's own network, or a cloud metadata service. Hosts that resolve to anything but
public addresses (loopback, private, link-local, shared, reserved) are refused unless settings
allow private hosts, as for a local bridge or a test server.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from mailroom.errors import InvalidInputError


async def check_host(host: str, port: int, *, allow_private: bool) -> None:
    """Raise InvalidInputError if `host` cannot be resolved, or resolves to a non-public
    address that settings do not allow."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise InvalidInputError(f"IMAP host {host!r} cannot be resolved: {error}") from error
    if allow_private:
        return
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0])
        if not address.is_global:
            raise InvalidInputError(
                f"IMAP host {host!r} resolves to {address}, which is not a public address "
                "(set MAILROOM_IMAP_ALLOW_PRIVATE_HOSTS=true to allow private hosts)"
            )
