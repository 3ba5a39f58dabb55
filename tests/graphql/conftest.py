"""The API over HTTP, through an ASGI client, with real tokens, on each database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from tortoise import connections

import mailroom.db
from mailroom.graphql.endpoint import GraphQLEndpoint
from mailroom.models import Mailbox, Member, Plan, Workspace
from mailroom.settings import Settings
from mailroom.workspace import add_member, create_token, create_workspace, import_mailbox


@dataclass
class Api:
    client: httpx.AsyncClient
    settings: Settings

    async def query(
        self, token: str | None, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        response = await self.post(token, {"query": query, "variables": variables or {}})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    async def data(
        self, token: str | None, query: str, variables: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body = await self.query(token, query, variables)
        assert "errors" not in body, body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    async def post(self, token: str | None, body: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.client.post("/graphql", json=body, headers=headers)


@dataclass
class Team:
    workspace: Workspace
    alice: Member  # admin
    bob: Member
    carol: Member
    alice_token: str
    bob_token: str
    carol_token: str
    alice_box: Mailbox
    bob_box: Mailbox


def api_settings(settings: Settings, **values: Any) -> Settings:
    return settings.model_copy(update={"normalize_workers": 0, **values})


@pytest.fixture
async def api(db: Settings) -> AsyncIterator[Api]:
    settings = api_settings(db)
    app = Starlette(routes=[Route("/graphql", GraphQLEndpoint(settings), methods=["GET", "POST"])])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mailroom.test") as client:
        yield Api(client, settings)


async def make_team(slug: str = "acme") -> Team:
    workspace = await create_workspace(slug, plan=Plan.PRO)
    alice = await add_member(workspace, f"alice@{slug}.com", admin=True)
    bob = await add_member(workspace, f"bob@{slug}.com")
    carol = await add_member(workspace, f"carol@{slug}.com")
    return Team(
        workspace,
        alice,
        bob,
        carol,
        await create_token(alice),
        await create_token(bob),
        await create_token(carol),
        await import_mailbox(alice),
        await import_mailbox(bob),
    )


@pytest.fixture
async def team(api: Api) -> Team:
    return await make_team()


class QueryCounter:
    """Counts the SQL statements the database client runs, and those read at once on SQLite's
    read-only connection (`db.read_now`)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def wrap(self, method: Any) -> Any:
        async def counted(client: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
            self.statements.append(sql)
            return await method(client, sql, *args, **kwargs)

        return counted

    def wrap_now(self, method: Any) -> Any:
        def counted(sql: str, *args: Any, **kwargs: Any) -> Any:
            found = method(sql, *args, **kwargs)
            if found is not None:  # None: not read there (PostgreSQL), but by the client
                self.statements.append(sql)
            return found

        return counted


@pytest.fixture
def counter(db: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[QueryCounter]:
    found = QueryCounter()
    client = type(connections.get("default"))
    for name in ("execute_query", "execute_query_dict", "execute_insert", "execute_many"):
        monkeypatch.setattr(client, name, found.wrap(getattr(client, name)))
    snapshot = mailroom.db._snapshot
    monkeypatch.setattr(snapshot, "read", found.wrap_now(snapshot.read))
    yield found
