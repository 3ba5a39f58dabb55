"""The executor's short path for plain leaf fields (mailroom/graphql/execution.py) answers
exactly as graphql-core's own path: the same data and the same errors, for values of every
scalar kind, nulls where they are allowed and where they are not, values a type cannot
serialize, and fields under lists, fragments and aliases."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from mailroom.graphql.execution import Execution


@strawberry.enum
class Colour(enum.Enum):
    RED = "RED"
    BLUE = "BLUE"


@strawberry.type
class Leaf:
    name: str
    nickname: str | None
    count: int
    ratio: float | None
    ok: bool
    id: strawberry.ID
    at: datetime | None
    colour: Colour | None

    @strawberry.field
    def shout(self, times: int = 1) -> str:
        return self.name.upper() * times


@strawberry.type
class Branch:
    label: str
    leaves: list[Leaf]
    first: Leaf | None
    required: Leaf


@dataclass
class Raw:
    """What a resolver may hand over, whatever its declared type says."""

    name: Any = "fig"
    nickname: Any = None
    count: Any = 3
    ratio: Any = 0.5
    ok: Any = True
    id: Any = "f1"
    at: Any = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    colour: Any = Colour.RED


GOOD = Raw()
BROKEN = [
    Raw(name=None),  # null where the type says it cannot be
    Raw(count="three"),  # not an Int
    Raw(count=2**40),  # an Int out of range
    Raw(ratio="half"),  # not a Float
    Raw(colour="GREEN"),  # not one of the enum's values
    Raw(at="yesterday"),  # not a datetime
    Raw(ok=None),
]


def _as_leaf(raw: Raw) -> Leaf:
    return cast(Leaf, raw)


@strawberry.type
class Query:
    @strawberry.field
    def branch(self, which: int) -> Branch | None:
        leaves = [_as_leaf(r) for r in ([GOOD, *BROKEN] if which < 0 else [GOOD, BROKEN[which]])]
        return Branch(label="b", leaves=leaves, first=leaves[-1], required=leaves[-1])

    @strawberry.field
    def good(self) -> Leaf:
        return _as_leaf(GOOD)

    @strawberry.field
    def strict(self, which: int) -> Branch:
        broken = _as_leaf(BROKEN[which])
        return Branch(label="s", leaves=[broken], first=None, required=broken)


DOCUMENT = """
fragment L on Leaf { name nickname count ratio ok id at colour }
query($which: Int!) {
  branch(which: $which) {
    label
    leaves { ...L alias: name again: name shout(times: 2) }
    first { ... on Leaf { name count } nickname }
    required { name }
  }
  strict(which: $which) { label required { count colour } }
}
"""


def _run(
    context_class: type[StrawberryGraphQLCoreExecutionContext],
    which: int,
    document: str = DOCUMENT,
) -> Any:
    schema = strawberry.Schema(query=Query, execution_context_class=context_class)
    result = schema.execute_sync(
        document, variable_values={"which": which} if "$which" in document else None
    )
    errors = [(e.message, e.path, e.locations) for e in result.errors or []]
    return result.data, sorted(errors, key=str)


@pytest.mark.parametrize("which", [-1, *range(len(BROKEN))])
def test_plain_fields_answer_as_graphql_core_does(which: int) -> None:
    ours = _run(Execution, which)
    assert ours == _run(StrawberryGraphQLCoreExecutionContext, which)
    data, errors = ours
    assert errors  # each broken value is an error, located where it is
    assert data is None or data["branch"] is None or data["branch"]["label"] == "b"


def test_good_values_are_serialized_by_their_types() -> None:
    document = "fragment L on Leaf { name nickname count ratio ok id at colour }\n"
    document += "{ good { ...L alias: name again: name shout(times: 2) } }"
    assert _run(Execution, 0, document) == (
        {
            "good": {
                "name": "fig",
                "nickname": None,
                "count": 3,
                "ratio": 0.5,
                "ok": True,
                "id": "f1",
                "at": "2026-12-01T09:30:00+00:00",
                "colour": "RED",
                "alias": "fig",
                "again": "fig",
                "shout": "FIGFIG",
            }
        },
        [],
    )
