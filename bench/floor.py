"""What a GraphQL answer costs to execute with nothing else to do: the floor under the API's
pages, which no change to Mailroom's data access can go below.

`execution_ms` runs graphql-core (the executor under Strawberry) over Mailroom's own schema
(schema.graphql), for the same document and variables, on the answer the server gave, held in
memory as plain dicts: every field is resolved and completed (lists walked, scalars and enums
serialized, nulls checked), and nothing is read from a database, no token is checked, no
loader runs and no HTTP is spoken. Strawberry adds its own wrapper to each field on top of this.
"""

from __future__ import annotations

import statistics
import time
from functools import cache
from pathlib import Path
from typing import Any

from graphql import ExecutionResult, GraphQLSchema, build_schema, execute, parse

SCHEMA = Path(__file__).resolve().parents[1] / "schema.graphql"


@cache
def schema() -> GraphQLSchema:
    """Mailroom's schema from its SDL, with graphql-core's default resolvers, which read a
    dict's keys: an answer's data, fed back as the root, resolves to itself. Its interfaces
    (Contact) need no type resolution here: the answers measured select no abstract field."""
    return build_schema(SCHEMA.read_text())


def count_fields(data: Any) -> int:
    """The values in an answer: each key of each object, lists' items counted as their own."""
    if isinstance(data, dict):
        return sum(1 + count_fields(v) for v in data.values())
    if isinstance(data, list):
        return sum(count_fields(v) for v in data)
    return 0


def execution_ms(document: str, variables: dict[str, Any], data: dict[str, Any]) -> float:
    """The median time, in ms, graphql-core takes to execute `document` over `data` (at
    least 50 runs and half a second)."""
    ast = parse(document)
    times: list[float] = []
    stop = time.perf_counter() + 0.5
    while len(times) < 50 or time.perf_counter() < stop:
        start = time.perf_counter()
        result = execute(schema(), ast, root_value=data, variable_values=variables)
        times.append(time.perf_counter() - start)
        # Synchronous: every value is at hand, nothing is awaited.
        assert isinstance(result, ExecutionResult)
        if result.errors:
            raise RuntimeError(f"the floor's execution failed: {result.errors}")
    return statistics.median(times) * 1000
