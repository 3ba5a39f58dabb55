"""The sliding window behind messages per sender per minute."""

from __future__ import annotations

from mailroom.gateway.smtp.ratelimit import SlidingWindow


def test_limit_within_the_window_and_recovery_after_it() -> None:
    window = SlidingWindow(limit=3, seconds=60)
    assert [window.allow("a", now=t) for t in (0, 1, 2, 3)] == [True, True, True, False]
    assert window.allow("b", now=3)  # another sender has its own budget
    assert not window.allow("a", now=59.9)
    assert window.allow("a", now=60.5)
