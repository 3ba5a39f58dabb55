"""/graphql over HTTP: the bearer token decides who asks (and in which workspace), a per-token
rate limit comes before any work, and Strawberry does the rest."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL

from mailroom.gateway.smtp.ratelimit import SlidingWindow
from mailroom.graphql.context import Context
from mailroom.graphql.schema import build_schema
from mailroom.models import ApiToken, Member, Workspace
from mailroom.settings import Settings
from mailroom.workspaces import hash_token


class _GraphQL(GraphQL[Context, None]):
    def __init__(self, settings: Settings) -> None:
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphiql else None,
            allow_queries_via_get=False,
        )
        self.settings = settings

    async def get_context(self, request: Any, response: Any) -> Context:
        state = request.scope["state"]
        return Context(request, response, self.settings, state["member"], state["workspace"])


class GraphQLEndpoint:
    def __init__(self, settings: Settings) -> None:
        self.graphql = _GraphQL(settings)
        self.settings = settings
        self.requests = SlidingWindow(settings.api_requests_per_minute)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        if request.method == "GET" and self.settings.graphiql:
            # The GraphiQL page, which needs no token (its queries are POSTs that do).
            page = await self.graphql.render_graphql_ide(request)
            await page(scope, receive, send)
            return
        token = _bearer(request)
        found = await _authenticate(token) if token else None
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
        member, workspace = found
        scope.setdefault("state", {}).update(member=member, workspace=workspace)
        await self.graphql(scope, receive, send)


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


async def _authenticate(token: str) -> tuple[Member, Workspace] | None:
    """The token's member and workspace, read afresh on every request (one query), so that a
    revoked token or a changed role counts at once."""
    row = (
        await ApiToken.filter(token_hash=hash_token(token), revoked_at=None)
        .select_related("member__workspace")
        .first()
    )
    if row is None:
        return None
    member: Member = row.member
    workspace: Workspace = member.workspace
    return member, workspace


def _error(status: int, message: str) -> Response:
    return JSONResponse({"errors": [{"message": message}]}, status_code=status)
