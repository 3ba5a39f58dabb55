"""Relationship figures through the API: first, last and next interactions with the member and
the email or meeting (as the viewer may see it), each member's connection strength and what it
is made of, the strongest connection, and people and companies ordered and filtered by them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mailroom.envelope import Attendee, CalendarEvent, Response
from mailroom.intake.events import EventItem, apply_events
from mailroom.models import Person
from tests.graphql.conftest import Api, QueryCounter, Team, make_team
from tests.helpers import ingest, message

NOW = datetime.now(UTC).replace(microsecond=0)

FIGURES = """
fragment F on Interaction { at member { email } email { subject visibility } event { title } }
fragment C on Contact {
  firstInteraction { ...F } lastInteraction { ...F }
  firstEmailInteraction { ...F } lastEmailInteraction { ...F }
  firstCalendarInteraction { ...F } lastCalendarInteraction { ...F }
  nextCalendarInteraction { ...F }
  strongestConnection { member { email } level }
  connections { member { email } level score interactions }
  connectionStrength { level score explanation { kind count lastAt contribution } }
}
"""


def meeting(uid: str, start: datetime, *people: str) -> CalendarEvent:
    return CalendarEvent(
        uid=uid,
        recurrence_id=None,
        start=start,
        end=start + timedelta(minutes=30),
        summary=f"Call {uid}",
        organizer=Attendee("alice@acme.com", "Alice", Response.ACCEPTED),
        attendees=tuple(Attendee(p, None, Response.ACCEPTED) for p in people),
    )


async def _history(team: Team) -> None:
    """Alice writes to Jane, Jane answers, Alice replies; a meeting last week, one ahead."""
    await ingest(
        team.alice_box,
        message(
            sender="alice@acme.com",
            to="jane@globex.com",
            subject="Pricing",
            message_id="<p1@acme.com>",
            date=NOW - timedelta(days=30),
        ),
        message(
            sender="jane@globex.com",
            to="alice@acme.com",
            subject="Re: Pricing",
            message_id="<p2@globex.com>",
            in_reply_to="<p1@acme.com>",
            date=NOW - timedelta(days=20),
        ),
        message(
            sender="alice@acme.com",
            to="jane@globex.com",
            subject="Re: Pricing",
            message_id="<p3@acme.com>",
            in_reply_to="<p2@globex.com>",
            date=NOW - timedelta(days=10),
        ),
    )
    await apply_events(
        team.alice_box,
        "primary",
        [
            EventItem("past", meeting("past", NOW - timedelta(days=7), "jane@globex.com")),
            EventItem("ahead", meeting("ahead", NOW + timedelta(days=3), "jane@globex.com")),
        ],
    )


async def test_a_persons_figures_name_the_member_and_the_item(api: Api, team: Team) -> None:
    await _history(team)
    jane = await Person.get(emails__address="jane@globex.com")
    data = await api.data(
        team.alice_token,
        FIGURES + "query($id: ID!) { person(id: $id) { ...C } }",
        {"id": str(jane.id)},
    )
    person = data["person"]
    first, last = person["firstInteraction"], person["lastInteraction"]
    assert first["email"]["subject"] == "Pricing" and first["member"]["email"] == "alice@acme.com"
    assert datetime.fromisoformat(first["at"]) == NOW - timedelta(days=30)
    # The meeting last week is the latest that happened; the one ahead is the next.
    assert last["event"]["title"] == "Call past" and last["email"] is None
    assert person["lastEmailInteraction"]["email"]["subject"] == "Re: Pricing"
    assert datetime.fromisoformat(person["lastEmailInteraction"]["at"]) == NOW - timedelta(days=10)
    assert person["firstCalendarInteraction"] == person["lastCalendarInteraction"]
    assert person["nextCalendarInteraction"]["event"]["title"] == "Call ahead"
    assert datetime.fromisoformat(person["nextCalendarInteraction"]["at"]) == NOW + timedelta(
        days=3
    )

    strength = person["connectionStrength"]
    kinds = {p["kind"]: p for p in strength["explanation"]}
    assert set(kinds) == {"SENT", "RECEIVED", "ANSWERED", "MET"}
    assert kinds["SENT"]["count"] == 2 and kinds["MET"]["count"] == 1
    assert kinds["ANSWERED"]["count"] == kinds["RECEIVED"]["count"] == 1
    assert sum(p["contribution"] for p in strength["explanation"]) == pytest.approx(1.0, abs=1e-3)
    # Two emails sent, one answered, a meeting, all within a month: a moderate relationship.
    assert strength["level"] == "MODERATE" and 3 <= strength["score"] < 8
    assert person["strongestConnection"] == {
        "member": {"email": "alice@acme.com"},
        "level": "MODERATE",
    }
    assert [c["member"]["email"] for c in person["connections"]] == ["alice@acme.com"]


async def test_other_members_see_times_and_members_and_the_email_as_shared(
    api: Api, team: Team
) -> None:
    await _history(team)
    jane = await Person.get(emails__address="jane@globex.com")
    data = await api.data(
        team.bob_token,
        FIGURES + "query($id: ID!) { person(id: $id) { ...C } }",
        {"id": str(jane.id)},
    )
    person = data["person"]
    # Alice's mailbox shares metadata: Bob sees when and who, not what was written.
    first = person["firstInteraction"]
    assert first["member"]["email"] == "alice@acme.com"
    assert first["email"] == {"subject": None, "visibility": "METADATA"}
    # Bob's own connection with Jane: none.
    assert person["connectionStrength"]["level"] == "NONE"
    assert person["connectionStrength"]["explanation"] == []
    # Any member's connection can be asked for by member.
    asked = await api.data(
        team.bob_token,
        "query($id: ID!, $m: ID!) { person(id: $id) { connectionStrength(member: $m) { level } } }",
        {"id": str(jane.id), "m": str(team.alice.id)},
    )
    assert asked["person"]["connectionStrength"]["level"] == "MODERATE"


async def test_another_workspace_sees_none_of_it(api: Api, team: Team) -> None:
    await _history(team)
    other = await make_team("umbrella")
    jane = await Person.get(emails__address="jane@globex.com")
    body = await api.query(
        other.alice_token,
        FIGURES + "query($id: ID!) { person(id: $id) { ...C } }",
        {"id": str(jane.id)},
    )
    assert body["data"]["person"] is None
    # Naming the other workspace's member changes nothing either.
    asked = await api.data(
        other.alice_token,
        "{ people(orderBy: CONNECTION_STRENGTH) { nodes { id } } }",
    )
    assert asked["people"]["nodes"] == []


async def test_people_by_strength_and_gone_quiet(api: Api, team: Team) -> None:
    await _history(team)
    # Kim: one email, a year ago. Lee: weekly exchanges until two months ago.
    await ingest(
        team.alice_box,
        message(
            sender="alice@acme.com",
            to="kim@hooli.com",
            message_id="<k1@acme.com>",
            date=NOW - timedelta(days=365),
        ),
    )
    weekly = []
    for week in range(30):
        at = NOW - timedelta(days=60 + 7 * week)
        weekly += [
            message(
                sender="lee@initech.com",
                to="alice@acme.com",
                message_id=f"<l{week}@initech.com>",
                date=at,
            ),
            message(
                sender="alice@acme.com",
                to="lee@initech.com",
                message_id=f"<r{week}@acme.com>",
                in_reply_to=f"<l{week}@initech.com>",
                date=at + timedelta(hours=2),
            ),
        ]
    await ingest(team.alice_box, *weekly)

    def emails(data: dict) -> list[str]:
        return [n["emails"][0] for n in data["people"]["nodes"]]

    by_strength = await api.data(
        team.bob_token,
        "{ people(orderBy: CONNECTION_STRENGTH) { nodes { emails } } }",
    )
    assert emails(by_strength) == ["lee@initech.com", "jane@globex.com", "kim@hooli.com"]
    latest = await api.data(
        team.bob_token, "{ people(orderBy: LAST_INTERACTION) { nodes { emails } } }"
    )
    assert emails(latest) == ["jane@globex.com", "lee@initech.com", "kim@hooli.com"]
    quiet = await api.data(
        team.bob_token,
        "query($t: DateTime!) { people(orderBy: CONNECTION_STRENGTH, "
        "filter: {strength: STRONG, lastInteractionBefore: $t}) { nodes { emails } } }",
        {"t": (NOW - timedelta(days=59)).isoformat()},
    )
    assert emails(quiet) == ["lee@initech.com"]
    weak = await api.data(
        team.bob_token, "{ people(filter: {strength: NONE}) { nodes { emails } } }"
    )
    assert emails(weak) == ["kim@hooli.com"]

    # Pages follow the order; a cursor of one order is refused by another.
    first = await api.data(
        team.bob_token,
        "{ people(orderBy: CONNECTION_STRENGTH, first: 1) { nodes { emails }"
        " pageInfo { endCursor } } }",
    )
    cursor = first["people"]["pageInfo"]["endCursor"]
    rest = await api.data(
        team.bob_token,
        "query($c: String!) { people(orderBy: CONNECTION_STRENGTH, after: $c) "
        "{ nodes { emails } } }",
        {"c": cursor},
    )
    assert emails(rest) == ["jane@globex.com", "kim@hooli.com"]
    refused = await api.query(
        team.bob_token,
        "query($c: String!) { people(orderBy: LAST_INTERACTION, after: $c) { nodes { id } } }",
        {"c": cursor},
    )
    assert refused["errors"][0]["message"] == "invalid cursor"


async def test_a_companys_figures_count_mail_of_its_domain_without_people(
    api: Api, team: Team
) -> None:
    # SELECTIVE: Sam only wrote in, so no person; Globex is a company through Jane.
    await _history(team)
    await ingest(
        team.alice_box,
        message(
            sender="sam@globex.com",
            to="alice@acme.com",
            message_id="<s1@globex.com>",
            date=NOW - timedelta(days=2),
        ),
    )
    assert not await Person.filter(emails__address="sam@globex.com").exists()
    data = await api.data(
        team.alice_token,
        FIGURES + '{ companies(filter: {domain: "globex.com"}) { nodes { name ...C } } }',
    )
    [globex] = data["companies"]["nodes"]
    assert datetime.fromisoformat(globex["lastEmailInteraction"]["at"]) == NOW - timedelta(days=2)
    kinds = {p["kind"]: p["count"] for p in globex["connectionStrength"]["explanation"]}
    assert kinds["RECEIVED"] == 2  # Jane's answer and Sam's email


async def test_a_page_of_people_with_figures_costs_the_same_statements_at_any_size(
    api: Api, team: Team, counter: QueryCounter
) -> None:
    raws = [
        message(
            sender="alice@acme.com",
            to=f"guest{i}@initech{i}.com",
            message_id=f"<g{i}@acme.com>",
            date=NOW - timedelta(days=i + 1),
        )
        for i in range(40)
    ]
    await ingest(team.alice_box, *raws)
    items = [
        EventItem(
            f"e{i}", meeting(f"m{i}", NOW + timedelta(days=i + 1), f"guest{i}@initech{i}.com")
        )
        for i in range(40)
    ]
    await apply_events(team.alice_box, "primary", items)
    page = (
        FIGURES
        + "query($n: Int!) { people(first: $n, orderBy: CONNECTION_STRENGTH) { nodes { ...C } } }"
    )
    await api.data(team.bob_token, "{ me { email } }")
    counts = {}
    for size in (5, 30):
        counter.statements.clear()
        data = await api.data(team.bob_token, page, {"n": size})
        counts[size] = len(counter.statements)
        assert len(data["people"]["nodes"]) == size
        assert all(n["nextCalendarInteraction"] for n in data["people"]["nodes"])
    assert counts[5] == counts[30], counts
