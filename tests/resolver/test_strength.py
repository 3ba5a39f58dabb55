"""Connection strength: the weights, the decay and the levels, on histories a salesperson
would recognise. README.md's table of histories is this one; change both together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailroom.models import Exchange
from mailroom.resolver.strength import (
    WEIGHTS,
    Level,
    Thresholds,
    decayed,
    score_now,
    size_factor,
    stored,
    stored_floor,
)

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
DAY = timedelta(days=1)


def every(days: int, times: int, *exchanges: Exchange, people: int = 2, quiet: int = 0):
    """`times` interactions, one every `days` days, the last `quiet` days ago."""
    return [
        (NOW - timedelta(days=quiet + days * k), exchange, people)
        for k in range(times)
        for exchange in exchanges
    ]


EXCHANGE = (Exchange.SENT, Exchange.RECEIVED, Exchange.ANSWERED)  # wrote, and answered a reply

HISTORIES = [
    ("nothing", [], Level.NONE),
    ("one email sent two years ago", every(1, 1, Exchange.SENT, quiet=730), Level.NONE),
    (
        "one email received last week, unanswered",
        every(1, 1, Exchange.RECEIVED, quiet=7),
        Level.VERY_WEAK,
    ),
    ("one email sent yesterday", every(1, 1, Exchange.SENT, quiet=1), Level.VERY_WEAK),
    (
        "a newsletter-like sender: 100 unanswered emails, one a week",
        every(7, 100, Exchange.RECEIVED),
        Level.WEAK,
    ),
    ("one 1:1 meeting yesterday", every(1, 1, Exchange.MET, quiet=1), Level.WEAK),
    (
        "an all-hands of 40 people, weekly for a year",
        every(7, 52, Exchange.MET, people=40),
        Level.WEAK,
    ),
    ("a monthly exchange for a year", every(30, 12, *EXCHANGE), Level.MODERATE),
    ("a 1:1 meeting every two weeks for a quarter", every(14, 7, Exchange.MET), Level.STRONG),
    ("a weekly exchange for six months", every(7, 26, *EXCHANGE), Level.VERY_STRONG),
    ("the same, quiet for the last 60 days", every(7, 26, *EXCHANGE, quiet=60), Level.STRONG),
    ("the same, quiet for the last 180 days", every(7, 26, *EXCHANGE, quiet=180), Level.WEAK),
]


def _score(history) -> float:
    total = sum(stored(WEIGHTS[e] * size_factor(people), at) for at, e, people in history)
    return score_now(total, NOW)


@pytest.mark.parametrize(
    ("history", "level"), [(h, lv) for _, h, lv in HISTORIES], ids=[n for n, _, _ in HISTORIES]
)
def test_each_history_has_its_level(history, level) -> None:
    assert Thresholds().level(_score(history)) is level


def test_the_stored_form_reads_back_as_the_decayed_sum() -> None:
    history = every(3, 200, *EXCHANGE) + every(11, 30, Exchange.MET, people=5)
    direct = sum(decayed(WEIGHTS[e] * size_factor(p), at, NOW) for at, e, p in history)
    assert _score(history) == pytest.approx(direct, rel=1e-9)


def test_a_relationship_halves_every_sixty_days_of_quiet() -> None:
    history = every(7, 26, *EXCHANGE)
    later = sum(stored(WEIGHTS[e] * size_factor(p), at) for at, e, p in history)
    assert score_now(later, NOW + 60 * DAY) == pytest.approx(_score(history) / 2, rel=1e-9)


def test_stored_sums_order_as_scores_do_at_any_moment() -> None:
    steady = sum(stored(1.0, NOW - timedelta(days=7 * k)) for k in range(26))
    burst_long_ago = sum(stored(1.0, NOW - timedelta(days=400 + k)) for k in range(200))
    for moment in (NOW, NOW + 30 * DAY, NOW + 400 * DAY):
        assert (score_now(steady, moment) > score_now(burst_long_ago, moment)) is (
            steady > burst_long_ago
        )


def test_a_level_filter_is_a_range_of_stored_sums() -> None:
    thresholds = Thresholds()
    low, high = thresholds.range_of(Level.STRONG)
    assert (low, high) == (thresholds.strong, thresholds.very_strong)
    assert thresholds.level(score_now(stored_floor(low, NOW), NOW)) is Level.STRONG
    assert thresholds.range_of(Level.VERY_STRONG)[1] is None
    assert thresholds.range_of(Level.NONE) == (0.0, thresholds.very_weak)


def test_dates_far_ahead_or_far_back_neither_overflow_nor_count() -> None:
    assert stored(1.0, datetime(9999, 12, 31, tzinfo=UTC)) < float("inf")
    assert stored(1.0, datetime(1, 1, 1, tzinfo=UTC)) == 0.0
    assert score_now(0.0, NOW) == 0.0


def test_crowds_count_for_less() -> None:
    assert size_factor(1) == size_factor(2) == 1.0
    assert size_factor(4) == 0.5
    assert size_factor(40) == pytest.approx(0.05)
