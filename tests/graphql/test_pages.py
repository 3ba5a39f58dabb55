"""An email page reads its participants with the page (`types.seen`): whichever way a document
reaches them (nodes or edges, fragments, aliases with their own `first`, directives, a thread's
emails, an interaction's email, the `emails` root), each email shows the same participants, with
their people when asked for, and a participant of the team shows none."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from mailroom.intake import Intake
from mailroom.intake.port import Incoming
from mailroom.models import Participant, Person
from tests.graphql.conftest import Api, QueryCounter, Team, make_team
from tests.helpers import message

FULL = [
    {"address": "alice@acme.com", "role": "FROM", "person": None},
    {"address": "jane@globex.com", "role": "TO", "person": "jane"},
    {"address": "raj@globex.com", "role": "CC", "person": "raj"},
]
SHAPES = {
    "nodes": "person(id: $p) { messages { nodes { participants { address role person { id } } } } }",
    "edges": "person(id: $p) { messages { edges { node { participants { address role person { id } } } } } }",
    "fragment": "person(id: $p) { messages { nodes { ...E } } } } fragment E on Email { participants { address role person { id } }",
    "inline": "person(id: $p) { messages { nodes { ... on Email { participants { address role person { id } } } } } }",
    "emails root": "emails(filter: {person: $p}) { nodes { participants { address role person { id } } } }",
    "company": "person(id: $p) { company { emails { nodes { participants { address role person { id } } } } } }",
    "thread": "person(id: $p) { messages { nodes { thread { emails { nodes { participants { address role person { id } } } } } } } }",
    "interaction": "person(id: $p) { lastEmailInteraction { email { participants { address role person { id } } } } }",
}

# A statement that reads the participants of given messages, by Tortoise or by hand.
READS_PARTICIPANTS = re.compile(r'FROM "?participant"?\b[^()]*\bmessage_id"? IN \(')


def _lists(data: Any) -> list[list[dict[str, Any]]]:
    """Every `participants` list in an answer."""
    if isinstance(data, dict):
        found = [data["participants"]] if "participants" in data else []
        return found + [p for k, v in data.items() if k != "participants" for p in _lists(v)]
    if isinstance(data, list):
        return [p for item in data for p in _lists(item)]
    return []


@pytest.fixture
async def jane(api: Api, team: Team) -> dict[str, str]:
    await Intake().ingest(
        team.alice_box,
        [
            Incoming(
                message(sender="alice@acme.com", to="Jane <jane@globex.com>", cc="raj@globex.com")
            )
        ],
    )
    found = await api.data(
        team.alice_token, '{ people(filter: {domain: "globex.com"}) { nodes { id emails } } }'
    )
    return {p["emails"][0].partition("@")[0]: p["id"] for p in found["people"]["nodes"]}


@pytest.mark.parametrize("shape", SHAPES)
async def test_every_way_to_an_email_shows_its_participants(
    api: Api, team: Team, jane: dict[str, str], shape: str
) -> None:
    data = await api.data(
        team.alice_token, f"query($p: ID!) {{ {SHAPES[shape]} }}", {"p": jane["jane"]}
    )
    lists = _lists(data)
    assert lists, data
    people = {v: k for k, v in jane.items()}
    for participants in lists:
        shown = [
            {**p, "person": people[p["person"]["id"]] if p["person"] else None}
            for p in participants
        ]
        assert shown == FULL


async def test_aliases_and_directives_ask_for_their_own(
    api: Api, team: Team, jane: dict[str, str]
) -> None:
    query = """query($p: ID!, $with: Boolean!) { person(id: $p) { messages { nodes {
      first: participants(first: 1) { address }
      named: participants { person { name } }
      maybe: participants @include(if: $with) { address }
      none: participants @skip(if: true) { address }
    } } } }"""
    for asked in (True, False):
        data = await api.data(team.alice_token, query, {"p": jane["jane"], "with": asked})
        [email] = data["person"]["messages"]["nodes"]
        assert email["first"] == [{"address": "alice@acme.com"}]
        assert email["named"] == [
            {"person": None},
            {"person": {"name": "Jane"}},
            {"person": {"name": "Raj"}},
        ]
        assert ("maybe" in email) is asked and "none" not in email
        if asked:
            assert [p["address"] for p in email["maybe"]] == [p["address"] for p in FULL]


async def test_a_page_without_participants_reads_none(
    api: Api, team: Team, jane: dict[str, str], counter: QueryCounter
) -> None:
    query = "query($p: ID!) { person(id: $p) { messages { nodes { subject } } } }"
    await api.data(team.alice_token, query, {"p": jane["jane"]})
    counter.statements.clear()
    await api.data(team.alice_token, query, {"p": jane["jane"]})
    reads = [s for s in counter.statements if READS_PARTICIPANTS.search(s)]
    assert not reads, reads
    # The same pattern finds them when they are asked for.
    query = "query($p: ID!) { person(id: $p) { messages { nodes { participants { address } } } } }"
    counter.statements.clear()
    await api.data(team.alice_token, query, {"p": jane["jane"]})
    assert len([s for s in counter.statements if READS_PARTICIPANTS.search(s)]) == 1


async def test_a_participant_pointing_at_another_workspaces_person_shows_none(
    api: Api, team: Team, jane: dict[str, str]
) -> None:
    """A participant row naming a person of another workspace (a hostile or broken row: ingest
    never writes one) shows no person, however the page reads its people."""
    other = await make_team("initech")
    await Intake().ingest(
        other.alice_box, [Incoming(message(sender="alice@initech.com", to="Secret <s@hooli.com>"))]
    )
    secret = await Person.get(workspace_id=other.workspace.id, name="Secret")
    await Participant.filter(workspace_id=team.workspace.id, address="jane@globex.com").update(
        person_id=secret.id
    )
    for query in (
        "query($p: ID!) { person(id: $p) { messages { nodes { participants { address person { id name } } } } } }",
        "query($p: ID!) { emails(filter: {person: $p}) { nodes { participants { address person { name } } } } }",
    ):
        data = await api.data(team.alice_token, query, {"p": jane["raj"]})
        shown = {p["address"]: p["person"] for ps in _lists(data) for p in ps}
        assert shown["jane@globex.com"] is None, shown
        assert shown["raj@globex.com"]["name"] == "Raj"
        assert "Secret" not in str(data)


SCORE = base64.urlsafe_b64encode(b'[1.5, "00000000-0000-0000-0000-000000000000"]').decode()


@pytest.mark.parametrize(
    "cursor", [SCORE, "%%%", base64.urlsafe_b64encode(b"[" * 100_000).decode()]
)
@pytest.mark.parametrize(
    "page",
    [
        "person(id: $p) { messages(after: $c) { nodes { id } } }",
        "person(id: $p) { company { emails(after: $c) { nodes { id } } } }",
        "person(id: $p) { company { people(after: $c) { nodes { id } } } }",
        "emails(after: $c, filter: {person: $p}) { nodes { id } }",
    ],
)
async def test_a_cursor_a_page_did_not_write_is_invalid_input(
    api: Api, team: Team, jane: dict[str, str], page: str, cursor: str
) -> None:
    """The pages read by statements of our own take a cursor of their own kind (a time) and
    nothing else: a score's cursor, garbage or a deeply nested one is `invalid cursor`."""
    body = await api.query(
        team.alice_token,
        f"query($p: ID!, $c: String) {{ {page} }}",
        {"p": jane["jane"], "c": cursor},
    )
    assert [e["message"] for e in body["errors"]] == ["invalid cursor"], body
