"""Who a client is, for limits, and the open connections counted per client and in all."""

from __future__ import annotations

import functools
import ipaddress
from collections import Counter
from typing import Any

from mailroom.sources.smtp.replies import Reply


def client_of(peer: Any) -> str:
    """The key a connecting host is counted under: its IPv4 address, or its IPv6 /64. A host
    is given a whole /64 (RFC 6177), so counting its addresses one by one would let it past
    every per-client limit by changing address."""
    return _key(str(peer[0]) if peer else "unknown")


# Asked for every message (MAIL and its acceptance count the client), with the few hosts that
# send most of them: a bounded cache saves parsing the address each time.
@functools.lru_cache(maxsize=4096)
def _key(host: str) -> str:
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return host


class Connections:
    """Open connections; a client's entry goes with its last connection, so there are never
    more entries than connections."""

    def __init__(self, per_client: int, total: int) -> None:
        self.per_client = per_client
        self.total = total
        self._open: Counter[str] = Counter()
        self._count = 0

    def open(self, client: str) -> Reply | None:
        """Count a new connection, or say why it is refused (counting nothing)."""
        if self._count >= self.total:
            return Reply.TOO_BUSY
        if self._open[client] >= self.per_client:
            return Reply.TOO_MANY_CONNECTIONS
        self._open[client] += 1
        self._count += 1
        return None

    def close(self, client: str) -> None:
        self._count -= 1
        self._open[client] -= 1
        if self._open[client] <= 0:
            del self._open[client]
