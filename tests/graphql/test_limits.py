"""The abuse limits, each hit and answered with a clear error; and a page of people with their
companies and latest emails costs the same number of database queries at 10 as at 50 rows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route
from tortoise import connections

from mailroom.gateway.ingest import Ingestor
from mailroom.gateway.intake import Incoming
from mailroom.graphql import loaders
from mailroom.graphql.endpoint import GraphQLEndpoint
from mailroom.graphql.schema import schema_sdl
from mailroom.settings import Settings
from tests.graphql.conftest import Api, Team, api_settings
from tests.helpers import BASE_DATE, message

ROOT = Path(__file__).resolve().parents[2]


def _api(settings: Settings) -> httpx.AsyncClient:
    app = Starlette(routes=[Route("/graphql", GraphQLEndpoint(settings), methods=["GET", "POST"])])
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://mailroom.test"
    )


@pytest.fixture
async def strict(db: Settings) -> AsyncIterator[Api]:
    """The API with production settings, but for small limits that tests can reach."""
    settings = api_settings(
        db,
        graphql_max_depth=6,
        graphql_max_aliases=3,
        graphql_max_tokens=400,
        graphql_max_cost=2000,
    )
    async with _api(settings) as client:
        yield Api(client, settings)


def _error(body: dict[str, Any]) -> str:
    assert body.get("data") is None, body
    for error in body["errors"]:
        assert "Traceback" not in error["message"] and "extensions" not in error, error
    message: str = body["errors"][0]["message"]
    return message


async def test_depth_aliases_tokens_and_cost(strict: Api, team: Team) -> None:
    token = team.alice_token
    deep = "{ people { nodes { company { people { nodes { company { people { nodes { id } } } } } } } } }"
    assert "exceeds maximum operation depth of 6" in _error(await strict.query(token, deep))
    aliases = "{ " + " ".join(f"a{n}: me {{ email }}" for n in range(4)) + " }"
    assert "4 aliases found. Allowed: 3" in _error(await strict.query(token, aliases))
    long = "{ me { " + "email " * 400 + "} }"
    assert "more than 400 tokens" in _error(await strict.query(token, long))
    costly = "{ people(first: 100) { nodes { messages(first: 100) { nodes { id subject } } } } }"
    assert "query too expensive" in _error(await strict.query(token, costly))
    # Fragments count where they are spread, and a page size in a variable counts as 100.
    spread = """query($n: Int) { people(first: $n) { nodes { ...P } } }
        fragment P on Person { messages(first: 30) { nodes { id subject } } }"""
    assert "query too expensive" in _error(await strict.query(token, spread, {"n": 10}))
    fine = "{ people(first: 10) { nodes { messages(first: 10) { nodes { id subject } } } } }"
    assert "errors" not in await strict.query(token, fine)


async def test_no_introspection_suggestions_or_batching(strict: Api, team: Team) -> None:
    token = team.alice_token
    introspection = await strict.query(token, "{ __schema { types { name } } }")
    assert "introspection has been disabled" in _error(introspection)
    typo = _error(await strict.query(token, "{ peopl { nodes { id } } }"))
    assert "Cannot query field 'peopl'" in typo and "Did you mean" not in typo
    batch = await strict.post(token, [{"query": "{ me { email } }"}] * 2)
    assert batch.status_code == 400
    assert "batch" in batch.text.lower()
    ide = await strict.client.get("/graphql", headers={"Accept": "text/html"})
    assert "graphiql" not in ide.text.lower()


async def test_introspection_and_graphiql_when_enabled(db: Settings, team: Team) -> None:
    settings = api_settings(db, graphiql=True, graphql_introspection=True)
    async with _api(settings) as client:
        api = Api(client, settings)
        body = await api.query(team.alice_token, "{ __schema { queryType { name } } }")
        assert body["data"] == {"__schema": {"queryType": {"name": "Query"}}}
        typo = await api.query(team.alice_token, "{ peopl { nodes { id } } }")
        assert "Did you mean 'people'" in typo["errors"][0]["message"]
        page = await client.get("/graphql", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()


async def test_unexpected_errors_are_masked(
    api: Api, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    await Ingestor().ingest(team.alice_box, [Incoming(message(sender="alice@acme.com"))])

    async def broken(self: object, ids: object) -> None:
        raise RuntimeError('relation "participant" does not exist: SELECT * FROM participant')

    monkeypatch.setattr(loaders.Loaders, "_participants", broken)
    body = await api.query(
        team.alice_token, "{ emails { nodes { subject participants { address } } } }"
    )
    assert [e["message"] for e in body["errors"]] == ["Unexpected error."]
    assert "SELECT" not in str(body) and 'participant"' not in str(body)
    # The rest of the page is still there.
    assert body["data"]["emails"]["nodes"] == [{"subject": "Quarterly plan", "participants": None}]


async def test_rate_limit_per_token(db: Settings, team: Team) -> None:
    settings = api_settings(db, api_requests_per_minute=3)
    async with _api(settings) as client:
        api = Api(client, settings)
        for _ in range(3):
            assert (
                await api.post(team.alice_token, {"query": "{ me { email } }"})
            ).status_code == 200
        refused = await api.post(team.alice_token, {"query": "{ me { email } }"})
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "60"
        assert refused.json()["errors"][0]["message"].startswith("rate limit: at most 3 requests")
        # Another token has its own allowance.
        assert (await api.post(team.bob_token, {"query": "{ me { email } }"})).status_code == 200


def test_schema_graphql_matches_the_code() -> None:
    committed = (ROOT / "schema.graphql").read_text()
    assert committed == schema_sdl(), "the API changed: run `make schema` and commit schema.graphql"


class QueryCounter:
    """Counts the SQL statements the database client runs."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def wrap(self, method: Any) -> Any:
        async def counted(client: Any, sql: str, *args: Any, **kwargs: Any) -> Any:
            self.statements.append(sql)
            return await method(client, sql, *args, **kwargs)

        return counted


@pytest.fixture
def counter(db: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[QueryCounter]:
    found = QueryCounter()
    client = type(connections.get("default"))
    for name in ("execute_query", "execute_query_dict", "execute_insert", "execute_many"):
        monkeypatch.setattr(client, name, found.wrap(getattr(client, name)))
    yield found


PAGE = """query($n: Int) { people(first: $n) { nodes {
  name company { name domains }
  messages(first: 5) { nodes { subject visibility attachments { filename } thread { id subject messageCount }
    participants { address person { id name } } } }
} } }"""


async def test_a_page_of_people_costs_the_same_queries_at_any_size(
    api: Api, team: Team, counter: QueryCounter
) -> None:
    raws = [
        message(
            sender="alice@acme.com",
            to=f"Contact {n} <c{n}@co{n % 7}.com>",
            cc=f"c{(n + 1) % 50}@co{(n + 1) % 7}.com",
            subject=f"Note {k} to {n}",
            message_id=f"<n{n}-{k}@acme.com>",
            date=BASE_DATE.replace(hour=k),
        )
        for n in range(50)
        for k in range(6)
    ]
    await Ingestor().ingest(team.alice_box, [Incoming(raw) for raw in raws])

    counts = {}
    for size in (10, 50):
        counter.statements.clear()
        data = await api.data(team.bob_token, PAGE, {"n": size})
        counts[size] = len(counter.statements)
        people = data["people"]["nodes"]
        assert len(people) == size
        assert all(p["company"] and len(p["messages"]["nodes"]) == 5 for p in people)
    assert counts[10] == counts[50], counts
    assert counts[50] < 25, counter.statements
