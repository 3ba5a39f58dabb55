"""IDs: a row's UUID as text. A malformed id is just an id that matches nothing."""

from __future__ import annotations

from uuid import UUID

# Matches no row: what a malformed id turns into, so that it behaves like an unknown one.
NOWHERE = UUID(int=0)


def parse_id(value: str) -> UUID:
    try:
        return UUID(str(value))
    except ValueError:
        return NOWHERE
