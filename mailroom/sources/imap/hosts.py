"""Which IMAP (and CalDAV) hosts a workspace may connect to, and the addresses to connect to.

Members set the host, so Mailroom would otherwise connect wherever they point it: to the
operator's own network, or a cloud metadata service. A host is resolved once per connection and
every address it resolves to is vetted; the connection then goes to a vetted address itself,
never to the name, which a second lookup could answer differently (DNS rebinding). Addresses
that are not public (loopback, private, link-local, shared, reserved, multicast), tunnel and
translation forms that lead to them (IPv4-mapped, NAT64, 6to4: the IPv4 address they embed is
vetted), and forms with no public use (IPv4-compatible, local NAT64, Teredo, site-local) are
refused unless settings allow private hosts, as for a local bridge or a test server.
"""

from __future__ import annotations

import asyncio
import socket
from ipaddress import IPv4Address, IPv6Address, IPv6Network, ip_address

from mailroom.sources.imap.errors import HostRefusedError, TransientError

ALLOW_PRIVATE = "set MAILROOM_IMAP_ALLOW_PRIVATE_HOSTS=true to allow private hosts"
# NAT64's well-known prefix (RFC 6052): the last 32 bits are the IPv4 address reached.
NAT64 = IPv6Network("64:ff9b::/96")
REFUSED_IPV6 = {
    IPv6Network("::/96"): "an IPv4-compatible address (a deprecated form)",
    IPv6Network("::ffff:0:0:0/96"): "an IPv4-translated address",
    IPv6Network("64:ff9b:1::/48"): "a local-use NAT64 address",
    IPv6Network("2001::/32"): "a Teredo tunnel address",
    IPv6Network("fec0::/10"): "a site-local address",
}


async def resolve(
    host: str,
    port: int,
    *,
    allow_private: bool,
    timeout: float,
    service: str = "IMAP",
    hint: str = ALLOW_PRIVATE,
) -> list[str]:
    """The addresses of `host` to connect to, each one vetted (unless `allow_private`), in
    the resolver's order. Connect to these, never to `host` again. `service` names the host in
    errors (IMAP, CalDAV), `hint` says how private hosts are allowed."""
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), timeout
        )
    except TimeoutError as error:
        raise TransientError(
            f"{service} host {host!r} was not resolved within {timeout:g} s"
        ) from error
    except socket.gaierror as error:
        if error.errno == socket.EAI_AGAIN:
            raise TransientError(
                f"{service} host {host!r} cannot be resolved now: {error}"
            ) from error
        raise HostRefusedError(f"{service} host {host!r} cannot be resolved: {error}") from error
    except UnicodeError as error:
        raise HostRefusedError(f"{service} host {host!r} is not a valid host name") from error
    addresses = list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in infos))
    if not allow_private:
        for address in addresses:
            reason = refusal(ip_address(address.partition("%")[0]))
            if reason is not None:
                raise HostRefusedError(
                    f"{service} host {host!r} resolves to {address}, {reason} ({hint})"
                )
    return addresses


def refusal(address: IPv4Address | IPv6Address) -> str | None:
    """Why Mailroom may not connect to `address` (a phrase), or None if it may."""
    if isinstance(address, IPv6Address) and (embedded := embedded_ipv4(address)) is not None:
        reason = refusal(embedded)
        return f"which leads to {embedded}, {reason}" if reason else None
    if address.is_multicast:
        return "a multicast address, which is not a public address"
    if not address.is_global:
        return "which is not a public address"
    if isinstance(address, IPv6Address):
        for network, kind in REFUSED_IPV6.items():
            if address in network:
                return f"{kind}, which is not a public address"
    return None


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv4-mapped, NAT64 or 6to4 address reaches, if it is one."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in NAT64:
        return IPv4Address(int(address) & 0xFFFF_FFFF)
    return address.sixtofour
