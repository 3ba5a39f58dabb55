"""/graphql over HTTP: the bearer token decides who asks (and in which workspace), a per-token
rate limit and a cap on the request's size come before any work, a time budget bounds the
rest, and Strawberry does it. With GraphiQL on, a GET is its page (`graphiql`), which needs no
token."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from graphql import GraphQLError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Message, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.types import ExecutionResult

from mailroom.graphql.context import Context
from mailroom.graphql.graphiql import GraphiQLPage
from mailroom.graphql.schema import build_schema
from mailroom.ratelimit import SlidingWindow
from mailroom.settings import Settings
from mailroom.workspace import hash_token, token_holder


class _GraphQL(GraphQL[Context, None]):
    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide=None,  # Mailroom serves its own (graphiql.py)
            allow_queries_via_get=False,
        )
        self.settings = settings

    def encode_json(self, data: object) -> bytes:
        # orjson: a page's answer is a thousand values, and the standard library's encoder
        # took a twentieth of its time.
        return orjson.dumps(data)

    async def get_context(self, request: Any, response: Any) -> Context:
        state = request.scope["state"]
        return Context(request, response, self.settings, state["member"], state["workspace"])

    async def execute_single(self, *args: Any, **kwargs: Any) -> ExecutionResult:
        """One operation, within the time budget. A request past it is stopped where it waits
        (on the database, mostly) and answered with an error, so that one client cannot hold
        the server's connections for others; the cost limits keep the work between waits
        small."""
        budget = self.settings.api_request_timeout
        try:
            async with asyncio.timeout(budget):
                return await super().execute_single(*args, **kwargs)
        except TimeoutError:
            message = f"the request took longer than {budget:g} s and was stopped; ask for less"
            return ExecutionResult(data=None, errors=[GraphQLError(message)])


class GraphQLEndpoint:
    """The endpoint of one of `processes` processes that serve the API on one port.

    Each process counts the requests it answers itself, so each allows its share of the
    per-token limit: N processes that each allowed all of it would let a token make N times
    as many requests. A client whose requests all reach one process (one keep-alive
    connection) meets its share sooner; the limit is never looser than the setting."""

    def __init__(self, settings: Settings, processes: int = 1) -> None:
        self.graphql = _GraphQL(settings)
        self.settings = settings
        self.graphiql = GraphiQLPage() if settings.graphiql else None
        self.requests = SlidingWindow(max(1, settings.api_requests_per_minute // processes))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method == "GET" and self.graphiql is not None:
            # The GraphiQL page, which needs no token (its queries are POSTs that do).
            await self.graphiql.page()(scope, receive, send)
            return
        token = _bearer(request)
        found = await token_holder(token) if token else None
        if found is None:
            await _error(401, "a valid API token is needed: Authorization: Bearer <token>")(
                scope, receive, send
            )
            return
        if not self.requests.allow(hash_token(token or "")):
            limit = self.settings.api_requests_per_minute
            response = _error(429, f"rate limit: at most {limit} requests a minute per token")
            response.headers["Retry-After"] = "60"
            await response(scope, receive, send)
            return
        body = await _read_body(request, self.settings.api_max_request_bytes)
        if body is None:
            limit = self.settings.api_max_request_bytes
            await _error(413, f"the request is larger than {limit} bytes")(scope, receive, send)
            return
        member, workspace = found
        scope.setdefault("state", {}).update(member=member, workspace=workspace)
        await self.graphql(scope, _replay(body, receive), send)

    async def static(self, request: Request) -> Response:
        """GET /graphql/static/{path}: a file the GraphiQL page loads (none when it is off)."""
        if self.graphiql is None:
            return _error(404, "GraphiQL is off (MAILROOM_GRAPHIQL)")
        return self.graphiql.asset(request)


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is over `limit` (read no further): Starlette would read
    it all into memory, however large."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that gives the body already read, then waits on the real one (for a
    disconnect)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _error(status: int, message: str) -> Response:
    return JSONResponse({"errors": [{"message": message}]}, status_code=status)
