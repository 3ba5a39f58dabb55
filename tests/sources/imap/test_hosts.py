"""Which addresses a mailbox's host may lead to: every range that is not public is refused, in
each form that reaches it (IPv4, IPv6, IPv4-mapped, NAT64, 6to4), as are the forms with no
public use; public addresses are allowed, in those forms too."""

from __future__ import annotations

from ipaddress import ip_address

import pytest

from mailroom.errors import InvalidInputError
from mailroom.sources.imap.errors import HostRefusedError, SyncError
from mailroom.sources.imap.hosts import refusal, resolve

REFUSED = [
    "127.0.0.1",
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared (carrier-grade NAT)
    "0.0.0.0",
    "255.255.255.255",
    "192.0.2.1",
    "240.0.0.1",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",  # site-local
    "ff02::1",  # multicast, link and global scope
    "ff0e::1",
    "2001:db8::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
    "::ffff:224.0.0.1",
    "::127.0.0.1",  # IPv4-compatible, public or not
    "::8.8.8.8",
    "::ffff:0:7f00:1",  # IPv4-translated
    "64:ff9b::7f00:1",  # NAT64 to the loopback, the metadata service, a private network
    "64:ff9b::a9fe:a9fe",
    "64:ff9b::a00:1",
    "64:ff9b::e000:1",
    "64:ff9b:1::808:808",  # local-use NAT64
    "2002:7f00:1::1",  # 6to4 around a private address
    "2002:a9fe:a9fe::1",
    "2002:c0a8:101::1",
    "2001::1",  # Teredo
    "2001:0:4136:e378:8000:63bf:3f57:fdf2",
]
ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",
]


@pytest.mark.parametrize("address", REFUSED)
def test_addresses_that_are_not_public_are_refused(address: str) -> None:
    assert refusal(ip_address(address)) is not None


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(ip_address(address)) is None


def test_a_refusal_names_the_address_reached() -> None:
    assert refusal(ip_address("64:ff9b::7f00:1")) == (
        "which leads to 127.0.0.1, which is not a public address"
    )
    assert refusal(ip_address("ff0e::1")) == "a multicast address, which is not a public address"


async def test_a_host_resolving_to_the_loopback_is_refused_unless_private_hosts_are_allowed() -> (
    None
):
    with pytest.raises(HostRefusedError, match="'localhost' resolves to .*not a public") as refused:
        await resolve("localhost", 993, allow_private=False, timeout=5)
    # The member's input when a mailbox is connected; a sync failure after.
    assert isinstance(refused.value, InvalidInputError) and isinstance(refused.value, SyncError)
    assert "127.0.0.1" in await resolve("localhost", 993, allow_private=True, timeout=5)
