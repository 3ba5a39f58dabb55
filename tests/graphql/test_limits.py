"""The abuse limits, each hit and answered with a clear error; and a page of people with their
companies and latest emails costs the same number of database queries at 10 as at 50 rows."""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from mailroom.graphql import loaders
from mailroom.graphql.endpoint import GraphQLEndpoint
from mailroom.graphql.schema import schema_sdl
from mailroom.intake import Intake
from mailroom.intake.port import Incoming
from mailroom.logs import JsonFormatter, TextFormatter, record_fields
from mailroom.settings import Settings
from tests.graphql.conftest import Api, QueryCounter, Team, api_settings
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
    # Fragments count where they are spread, and a page size in a variable counts as its value.
    spread = """query($n: Int) { people(first: $n) { nodes { ...P } } }
        fragment P on Person { messages(first: 30) { nodes { id subject } } }"""
    assert "query too expensive" in _error(await strict.query(token, spread, {"n": 100}))
    assert "errors" not in await strict.query(token, spread, {"n": 10})
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
    await Intake().ingest(team.alice_box, [Incoming(message(sender="alice@acme.com"))])

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
    await Intake().ingest(team.alice_box, [Incoming(raw) for raw in raws])

    # A token's first use of the minute records when it was used: not a cost of the page.
    await api.data(team.bob_token, "{ me { email } }")
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


READS_PEOPLE = re.compile(r"(FROM|JOIN) \"?person\"?(\s|$)")


async def test_participants_people_are_read_only_when_asked_for(
    api: Api, team: Team, counter: QueryCounter
) -> None:
    """A page of emails names hundreds of participants: their people are read in one statement
    when the query asks for them (directly, or through an inline or a named fragment), and not
    at all when it does not."""
    raws = [
        message(
            sender="alice@acme.com",
            to=f"Contact {n} <c{n}@co{n}.com>",
            subject=f"Note {n}",
            message_id=f"<p{n}@acme.com>",
            date=BASE_DATE.replace(hour=n),
        )
        for n in range(5)
    ]
    await Intake().ingest(team.alice_box, [Incoming(raw) for raw in raws])
    await api.data(team.alice_token, "{ me { email } }")
    shapes = {
        "none": "participants { address }",
        "direct": "participants { address person { id name } }",
        "inline": "participants { address ... on Participant { person { id name } } }",
        "named": "participants { ...P }",
    }
    counts, people = {}, {}
    for shape, selection in shapes.items():
        fragment = " fragment P on Participant { address person { id name } }"
        query = f"{{ emails(first: 10) {{ nodes {{ {selection} }} }} }}"
        counter.statements.clear()
        data = await api.data(team.alice_token, query + (fragment if shape == "named" else ""))
        counts[shape] = sum(bool(READS_PEOPLE.search(s)) for s in counter.statements)
        people[shape] = sorted(
            p["person"]["name"]
            for e in data["emails"]["nodes"]
            for p in e["participants"]
            if p.get("person")
        )
    assert counts == {"none": 0, "direct": 1, "inline": 1, "named": 1}, counter.statements
    assert people["direct"] == people["inline"] == people["named"]
    assert people["direct"] == [f"Contact {n}" for n in range(5)]
    # The answer is kept per field of the query: two aliases of the same list, one asking for
    # people and one not, each get what they asked for, in either order.
    for first, second in (("bare", "full"), ("full", "bare")):
        selections = {
            "bare": "participants { address }",
            "full": "participants { address person { name } }",
        }
        query = (
            f"{{ {first}: emails(first: 10) {{ nodes {{ {selections[first]} }} }}"
            f" {second}: emails(first: 10) {{ nodes {{ {selections[second]} }} }} }}"
        )
        data = await api.data(team.alice_token, query)
        named = sorted(
            p["person"]["name"]
            for e in data["full"]["nodes"]
            for p in e["participants"]
            if p.get("person")
        )
        assert named == people["direct"]
        assert all("person" not in p for e in data["bare"]["nodes"] for p in e["participants"])


async def test_every_list_is_paged_and_costed(api: Api, strict: Api, team: Team) -> None:
    """A thread's emails once had no page size, so the estimate never counted them: this ran
    for two minutes on a thread of 40 and answered 113 MB."""
    token = team.alice_token
    await Intake().ingest(team.alice_box, [Incoming(message(sender="alice@acme.com"))])
    nested = "{ emails(first: 40) { nodes { thread { emails { nodes { thread { emails { nodes { thread { emails { nodes { id } } } } } } } } } } } }"
    assert "query too expensive" in _error(await api.query(token, nested))
    too_big = "{ emails { nodes { thread { emails(first: 101) { nodes { id } } } } } }"
    body = await api.query(token, too_big)
    assert "first must be between 0 and 100" in body["errors"][0]["message"]
    # Plain lists count too: participants of 100 emails of 100 people.
    lists = "{ people(first: 100) { nodes { messages(first: 5) { nodes { participants { person { emails } } } } } } }"
    assert "query too expensive" in _error(await strict.query(token, lists))


def _fragment_bomb(levels: int) -> str:
    fragments = [f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(levels)]
    fragments.append(f"fragment F{levels} on Query {{ me {{ email }} }}")
    return "query { ...F0 } " + " ".join(fragments)


@pytest.mark.timeout(60)
async def test_a_fragment_bomb_is_refused_before_it_expands(api: Api, team: Team) -> None:
    """40 fragments each spreading the next twice: 1.6 kB that expands to a trillion fields.
    Expanding it (as the depth and alias limiters did) would take longer than the universe
    has left; the measure is linear in the document."""
    bomb = _fragment_bomb(40)
    assert len(bomb) < 2000
    message = _error(await api.query(team.alice_token, bomb))
    assert "is too large" in message and "fields once its fragments are spread" in message
    # The server is still there for everyone else.
    assert await api.data(team.bob_token, "{ me { email } }") == {"me": {"email": "bob@acme.com"}}
    # Fragments within the limits work as before.
    assert "errors" not in await api.query(team.alice_token, _fragment_bomb(3))


async def test_request_bodies_are_bounded(db: Settings, team: Team) -> None:
    settings = api_settings(db, api_max_request_bytes=10_000)
    async with _api(settings) as client:
        headers = {"Authorization": f"Bearer {team.alice_token}"}
        padded = {"query": "{ me { email } }", "variables": {"pad": "x" * 20_000}}
        refused = await client.post("/graphql", json=padded, headers=headers)
        assert refused.status_code == 413 and "larger than 10000 bytes" in refused.text

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: chunked
            yield b'{"query": "{ me { email } }", "variables": {"pad": "'
            for _ in range(100):
                yield b"x" * 1000
            yield b'"}}'

        streamed = await client.post(
            "/graphql", content=chunks(), headers={**headers, "Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        fine = await client.post("/graphql", json={"query": "{ me { email } }"}, headers=headers)
        assert fine.json() == {"data": {"me": {"email": "alice@acme.com"}}}


async def test_a_request_has_a_time_budget(
    db: Settings, team: Team, monkeypatch: pytest.MonkeyPatch
) -> None:
    await Intake().ingest(team.alice_box, [Incoming(message(sender="alice@acme.com"))])

    async def stuck(self: object, ids: object) -> None:
        await asyncio.sleep(3600)  # a database that does not answer

    monkeypatch.setattr(loaders.Loaders, "_participants", stuck)
    settings = api_settings(db, api_request_timeout=0.5)
    async with _api(settings) as client:
        api = Api(client, settings)
        body = await api.query(
            team.alice_token, "{ emails { nodes { participants { address } } } }"
        )
        assert "took longer than 0.5 s" in _error(body)


async def test_a_response_carries_a_bounded_amount_of_bodies(db: Settings, team: Team) -> None:
    big = "x" * 4000 + "\n"
    raws = [
        message(sender="alice@acme.com", message_id=f"<b{n}@acme.com>", body=big,
                date=BASE_DATE.replace(hour=n))
        for n in range(5)
    ]  # fmt: skip
    await Intake().ingest(team.alice_box, [Incoming(raw) for raw in raws])
    settings = api_settings(db, api_max_response_body_bytes=10_000)
    async with _api(settings) as client:
        api = Api(client, settings)
        body = await api.query(team.alice_token, "{ emails { nodes { snippet text } } }")
        texts = [n["text"] for n in body["data"]["emails"]["nodes"]]
        assert [t is not None for t in texts] == [True, True, False, False, False]
        assert "ask for fewer emails" in body["errors"][0]["message"]
        # Snippets are not bodies: every one is there.
        assert all(n["snippet"] for n in body["data"]["emails"]["nodes"])


async def test_nul_characters_are_invalid_input(api: Api, team: Team) -> None:
    create = 'mutation { createPerson(input: {name: "Eve\\u0000"}) { __typename } }'
    literal = await api.query(team.alice_token, create)
    assert literal["errors"][0]["message"] == "invalid input: text must not contain NUL characters"
    by_variable = await api.query(
        team.alice_token,
        "query($f: PersonFilter) { people(filter: $f) { nodes { id } } }",
        {"f": {"name": "a\x00b"}},
    )
    assert "must not contain NUL" in by_variable["errors"][0]["message"]
    assert await api.data(team.alice_token, "{ people { nodes { id } } }") == {
        "people": {"nodes": []}
    }


@pytest.mark.parametrize(
    "cursor",
    [
        base64.urlsafe_b64encode(b'["not a date", "00000000-0000-0000-0000-000000000000"]'),
        base64.urlsafe_b64encode(b"[1, 2]"),
        base64.urlsafe_b64encode(
            b'["2026-03-02T09:30:00", "00000000-0000-0000-0000-000000000000"]'
        ),
        base64.urlsafe_b64encode(b"[" * 100_000),
        b"%%%",
    ],
)
async def test_a_bad_cursor_is_invalid_input(api: Api, team: Team, cursor: bytes) -> None:
    for query in (
        "query($c: String) { emails(after: $c) { nodes { id } } }",
        "query($c: String) { people(after: $c) { nodes { id } } }",
    ):
        body = await api.query(team.alice_token, query, {"c": cursor.decode()})
        assert body["errors"][0]["message"] == "invalid cursor", body


async def test_query_text_never_reaches_the_log(
    api: Api, team: Team, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "correct-horse-battery-staple"
    caplog.set_level(logging.DEBUG)
    wrong_type = (
        f'mutation {{ connectImapMailbox(input: {{host: "imap.example.com", port: "993", '
        f'username: "alice", password: "{secret}"}}) {{ __typename }} }}'
    )
    body = await api.query(team.alice_token, wrong_type)
    assert body["errors"]
    unknown = f'{{ people(filter: {{name: "{secret}"}}) {{ nodes {{ nope }} }} }}'
    assert (await api.query(team.alice_token, unknown))["errors"]
    assert secret not in caplog.text


async def test_a_clients_bad_query_is_one_line_at_info_without_a_traceback(
    api: Api, team: Team, caplog: pytest.LogCaptureFixture
) -> None:
    """A client's mistake is the client's to read in the response; the operator sees that one
    happened, where, and whose, and never the query's text (with its literal values)."""
    caplog.set_level(logging.DEBUG)
    secret = "12345678"  # a value a validation error's message would quote
    bad = f"{{ people(filter: {{name: {secret}}}) {{ nodes {{ id }} }} }}"
    assert (await api.query(team.alice_token, bad))["errors"]
    [line] = [r for r in caplog.records if r.name == "mailroom.graphql.schema"]
    assert (line.levelno, line.getMessage(), line.exc_info) == (
        logging.INFO,
        "refused a GraphQL request",
        None,
    )
    assert record_fields(line) == {
        "where": "line 1 column 25",
        "error": "invalid",
        "workspace": "acme",
        "member": "alice@acme.com",
    }
    rendered = JsonFormatter().format(line) + TextFormatter().format(line)
    assert secret not in rendered and secret not in caplog.text


async def test_a_message_naming_thousands_of_addresses_shows_a_page_of_them(
    api: Api, team: Team
) -> None:
    """Whoever writes a message chooses how many addresses it names (tens of thousands fit in
    its headers); an email shows at most a page of each role."""
    many = ", ".join(f"p{n}@globex{n % 7}.com" for n in range(3000))
    await Intake().ingest(
        team.alice_box, [Incoming(message(sender="alice@acme.com", to=many, cc="kim@initech.com"))]
    )
    query = "query($n: Int) { emails { nodes { participants(first: $n) { role address } } } }"
    for first, shown in ((None, 20), (100, 100), (3000, None)):
        body = await api.query(team.alice_token, query, {"n": first})
        if shown is None:
            assert "first must be between 0 and 100" in body["errors"][0]["message"]
            continue
        [email] = body["data"]["emails"]["nodes"]
        roles = [p["role"] for p in email["participants"]]
        assert len(roles) == shown and roles[:2] == ["FROM", "TO"]
    [email] = (await api.data(team.alice_token, query, {"n": 3}))["emails"]["nodes"]
    assert [p["address"] for p in email["participants"]] == [
        "alice@acme.com",
        "p0@globex0.com",
        "p1@globex1.com",
    ]
