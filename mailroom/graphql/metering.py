"""API requests counted and timed for /metrics, by operation type, top-level field and outcome.

`Metering` (a schema extension) notes what a valid request runs, in the request's ASGI state;
`Metered` (around the /graphql endpoint) times every POST, whatever answers it (a refusal for
the token, the rate limit or the size, an invalid document, the time budget), and counts it.
Label values come from the schema, never from the request: a top-level field is one the schema
has, or `other`, so no client can make new series.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from graphql import FieldNode, GraphQLSchema, OperationDefinitionNode
from graphql.utilities import get_operation_ast
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from mailroom.metrics import API_REQUESTS, API_SECONDS

OPERATION = "mailroom.operation"  # (type, field), in the request's ASGI state
FAILED = "mailroom.operation_failed"  # whether the result had errors
_REFUSALS = {400: "bad_request", 401: "unauthorized", 413: "too_large", 429: "rate_limited"}


class Metering(SchemaExtension):
    """Notes a valid request's operation type and top-level field, and whether it failed."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        request = getattr(context.context, "request", None)
        if request is None:  # run without HTTP (schema.execute): nothing to note it for
            yield
            return
        state: dict[str, Any] = request.scope.setdefault("state", {})
        state[OPERATION] = operation(context)
        yield
        result = context.result
        state[FAILED] = result is None or bool(result.errors)


def operation(context: ExecutionContext) -> tuple[str, str]:
    """(query or mutation, the first top-level field's name or `other`)."""
    document = context.graphql_document
    chosen = get_operation_ast(document, context.operation_name) if document else None
    if chosen is None:
        return "none", "none"
    return chosen.operation.value, _field(context.schema._schema, chosen)


def _field(schema: GraphQLSchema, chosen: OperationDefinitionNode) -> str:
    root = schema.get_root_type(chosen.operation)
    selections = chosen.selection_set.selections
    first = selections[0] if selections else None
    if root is None or not isinstance(first, FieldNode) or first.name.value not in root.fields:
        return "other"
    return first.name.value


class Metered:
    """The /graphql endpoint, each POST counted and timed."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            state = scope.get("state") or {}
            kind, field = state.get(OPERATION, ("none", "none"))
            API_SECONDS.labels(kind, field).observe(time.perf_counter() - started)
            API_REQUESTS.labels(kind, field, _outcome(status, state)).inc()


def _outcome(status: int, state: dict[str, Any]) -> str:
    if status != 200:
        return _REFUSALS.get(status, "other")
    if OPERATION not in state:
        return "invalid"  # not parsed, or not valid: nothing ran
    return "error" if state.get(FAILED, True) else "ok"
