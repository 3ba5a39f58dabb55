"""Connection strength: how much each interaction weighs, how it fades, and the levels.

A member's score with a contact is the sum of their interactions' weights, each halved for every
`HALF_LIFE` since it happened: frequent and recent contact scores high, and a relationship that
goes quiet fades on its own. Stored, each weight is grown from a fixed epoch instead
(`weight * 2 ** ((at - EPOCH) / HALF_LIFE)`): every row then decays by the same factor, so a sum
is kept by adding one value per interaction, rows order by strength at any moment, and the
score for "now" is one multiplication when it is read. No nightly recomputation.

README.md's "Relationship intelligence" has the reasoning behind the weights and the levels,
with a table of histories and the level each gets (tests/resolver/test_strength.py asserts it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from mailroom.models import Exchange

EPOCH = datetime(2025, 1, 1, tzinfo=UTC)
HALF_LIFE = timedelta(days=60)
# A stored value is at most 2**900 times its weight (the year 2173 with this half-life): far
# from a float's overflow, however many are summed. Rows of later dates are stored at this
# bound; moving the epoch forward (a multiplication of every stored value) makes room.
_MAX_EXPONENT = 900.0

WEIGHTS: dict[Exchange, float] = {
    Exchange.SENT: 1.0,
    Exchange.ANSWERED: 0.8,  # with RECEIVED's 0.2, an answered message weighs as one sent
    Exchange.RECEIVED: 0.2,
    Exchange.COPIED: 0.1,
    Exchange.MET: 2.0,
}


class Level(StrEnum):
    NONE = "NONE"
    VERY_WEAK = "VERY_WEAK"
    WEAK = "WEAK"
    MODERATE = "MODERATE"
    STRONG = "STRONG"
    VERY_STRONG = "VERY_STRONG"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The lowest score of each level above NONE (settings `MAILROOM_STRENGTH_*`)."""

    very_weak: float = 0.1
    weak: float = 1.0
    moderate: float = 3.0
    strong: float = 8.0
    very_strong: float = 20.0

    def floors(self) -> list[tuple[Level, float]]:
        """Each level above NONE with its lowest score, strongest first."""
        return [
            (Level.VERY_STRONG, self.very_strong),
            (Level.STRONG, self.strong),
            (Level.MODERATE, self.moderate),
            (Level.WEAK, self.weak),
            (Level.VERY_WEAK, self.very_weak),
        ]

    def level(self, score: float) -> Level:
        for level, floor in self.floors():
            if score >= floor:
                return level
        return Level.NONE

    def range_of(self, level: Level) -> tuple[float, float | None]:
        """The scores of a level: from (inclusive) and below (exclusive; None: no bound)."""
        above: float | None = None
        for candidate, floor in self.floors():
            if candidate is level:
                return floor, above
            above = floor
        return 0.0, self.very_weak


def size_factor(people: int) -> float:
    """A message or meeting between two people counts in full; among more, each of them
    counts for less (2 of 4 people: half), since a crowd is no relationship."""
    return min(1.0, 2.0 / max(people, 1))


def _exponent(at: datetime) -> float:
    return (at - EPOCH) / HALF_LIFE


def stored(weight: float, at: datetime) -> float:
    """The stored form of a weight that happened at `at`."""
    return weight * math.pow(2.0, min(_exponent(at), _MAX_EXPONENT))


def score_now(value: float, now: datetime) -> float:
    """The score at `now` of a stored sum (all of whose parts happened by `now`)."""
    return value * math.pow(2.0, -min(_exponent(now), _MAX_EXPONENT)) if value > 0 else 0.0


def stored_floor(score: float, now: datetime) -> float:
    """The stored sum that has the score `score` at `now`: what filters compare rows with."""
    return stored(score, now)


def decayed(weight: float, at: datetime, now: datetime) -> float:
    """What one interaction of `weight` at `at` adds to a score at `now`."""
    return weight * math.pow(2.0, -max(0.0, (now - at) / HALF_LIFE))
