"""The sliding window behind the per-member, per-client and per-token rate limits, and the key a
client is counted under."""

from __future__ import annotations

import pytest

from mailroom.ratelimit import SlidingWindow
from mailroom.sources.smtp.connections import client_of


def test_limit_within_the_window_and_recovery_after_it() -> None:
    window = SlidingWindow(limit=3, seconds=60)
    assert [window.allow("a", now=t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert window.allow("b", now=3)  # another sender has its own budget
    assert not window.allow("a", now=59.9)
    assert window.allow("a", now=60.5)


def test_asking_counts_nothing_and_keeps_nothing() -> None:
    window = SlidingWindow(limit=2, seconds=60)
    assert all(window.permits(f"stranger-{n}", now=0) for n in range(1000))
    assert len(window) == 0
    window.record("a", now=1)
    window.record("a", now=2)
    assert not window.permits("a", now=3) and window.permits("a", now=61.5)


def test_idle_keys_are_forgotten() -> None:
    window = SlidingWindow(limit=5, seconds=60)
    for n in range(1000):
        window.record(f"k{n}", now=n / 100)  # all within ten seconds
    assert len(window) == 1000
    window.record("late", now=200)
    assert len(window) == 1


def test_keys_are_bounded_even_when_all_are_active() -> None:
    window = SlidingWindow(limit=5, seconds=60, max_keys=100)
    for n in range(10_000):
        window.record(f"k{n}", now=0)
    assert len(window) == 100


@pytest.mark.parametrize(
    ("peer", "key"),
    [
        (("192.0.2.7", 25), "192.0.2.7"),
        (("2001:db8:1:2:aaaa::1", 25, 0, 0), "2001:db8:1:2::/64"),
        (("2001:db8:1:2:bbbb::9", 25, 0, 0), "2001:db8:1:2::/64"),
        (("::ffff:192.0.2.7", 25, 0, 0), "192.0.2.7"),
        (("fe80::1%eth0", 25, 0, 2), "fe80::/64"),
        (None, "unknown"),
    ],
)
def test_a_client_is_its_ipv4_address_or_its_ipv6_64(peer: object, key: str) -> None:
    assert client_of(peer) == key
