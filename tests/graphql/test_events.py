"""Meetings through the API: the events query and an event, a person's and a company's
meetings, what everyone sees of a meeting and what only its calendars' sharing shows."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from mailroom.envelope import Attendee, AttendeeKind, CalendarEvent, Response
from mailroom.intake.events import EventItem, apply_events
from mailroom.models import Person, Sharing
from mailroom.workspace import set_mailbox_sharing
from mailroom.workspace.actors import OPERATOR, Actor
from tests.graphql.conftest import Api, QueryCounter, Team, make_team

NEW_YORK = timezone(timedelta(hours=-5))
START = datetime(2026, 3, 10, 9, 0, tzinfo=NEW_YORK)

EVENT = """
fragment V on Event {
  id title startsAt endsAt allDay status location uid recurrenceId visibility description
  conference attendeeCount
  organizer { address name response }
  attendees { address name response kind organizer optional person { id } }
}
"""


def meeting(uid: str, start: datetime = START, **extra: object) -> CalendarEvent:
    event = CalendarEvent(
        uid=uid,
        recurrence_id=None,
        start=start,
        end=start + timedelta(minutes=30),
        summary=f"Call {uid}",
        description="Secret agenda",
        conference="https://meet.example/abc",
        location="Zoom",
        organizer=Attendee("alice@acme.com", "Alice", Response.ACCEPTED),
        attendees=(
            Attendee("jo@initech.com", "Jo Lee", Response.ACCEPTED),
            Attendee("sam@initech.com", "Sam", Response.DECLINED, optional=True),
            Attendee("board@acme.com", "Board room", Response.ACCEPTED, AttendeeKind.ROOM),
        ),
    )
    return replace(event, **extra)  # type: ignore[arg-type]


async def test_an_event_as_the_team_sees_it(api: Api, team: Team) -> None:
    await apply_events(team.alice_box, "primary", [EventItem("e1", meeting("one"))])
    data = await api.data(team.bob_token, EVENT + "{ events { nodes { ...V } } }")
    [event] = data["events"]["nodes"]
    assert event["title"] == "Call one"
    assert event["startsAt"] == "2026-03-10T09:00:00-05:00"
    assert event["endsAt"] == "2026-03-10T09:30:00-05:00"
    assert event["status"] == "CONFIRMED" and event["allDay"] is False
    assert event["organizer"] == {
        "address": "alice@acme.com",
        "name": "Alice",
        "response": "ACCEPTED",
    }
    assert [a["address"] for a in event["attendees"]] == [
        "alice@acme.com",
        "jo@initech.com",
        "sam@initech.com",
        "board@acme.com",
    ]
    sam = event["attendees"][2]
    assert sam["response"] == "DECLINED" and sam["optional"] is True
    assert event["attendees"][3]["kind"] == "ROOM" and event["attendees"][3]["person"] is None
    jo = await Person.get(emails__address="jo@initech.com")
    assert event["attendees"][1]["person"] == {"id": str(jo.id)}
    # Bob does not hold it and Alice shares METADATA by default: no description, no link.
    assert event["visibility"] == "SUBJECT"
    assert event["description"] is None and event["conference"] is None

    mine = await api.data(team.alice_token, EVENT + "{ events { nodes { ...V } } }")
    assert mine["events"]["nodes"][0]["description"] == "Secret agenda"
    assert mine["events"]["nodes"][0]["conference"] == "https://meet.example/abc"

    await set_mailbox_sharing(Actor(team.alice), team.alice_box, Sharing.FULL)
    shared = await api.data(team.bob_token, EVENT + "{ events { nodes { ...V } } }")
    assert shared["events"]["nodes"][0]["visibility"] == "FULL"
    assert shared["events"]["nodes"][0]["description"] == "Secret agenda"


async def test_a_blocklisted_attendee_hides_the_details_from_all_but_the_owner(
    api: Api, team: Team
) -> None:
    from mailroom.workspace import add_blocklist_entry

    await set_mailbox_sharing(Actor(team.alice), team.alice_box, Sharing.FULL)
    await apply_events(team.alice_box, "primary", [EventItem("e1", meeting("one"))])
    await add_blocklist_entry(OPERATOR, team.workspace, "initech.com")
    data = await api.data(team.bob_token, EVENT + "{ events { nodes { ...V } } }")
    assert data["events"]["nodes"][0]["description"] is None
    owner = await api.data(team.alice_token, EVENT + "{ events { nodes { ...V } } }")
    assert owner["events"]["nodes"][0]["description"] == "Secret agenda"


async def test_pages_filters_and_the_meetings_of_people_and_companies(api: Api, team: Team) -> None:
    items = [EventItem(f"e{i}", meeting(f"m{i}", START + timedelta(days=i))) for i in range(5)]
    other = meeting("other", START, attendees=(Attendee("kim@hooli.com", "Kim"),))
    await apply_events(team.alice_box, "primary", [*items, EventItem("x", other)])
    page = await api.data(
        team.bob_token, "{ events(first: 2) { nodes { uid } pageInfo { endCursor hasNextPage } } }"
    )
    # Time order, then the order they were stored in.
    assert [n["uid"] for n in page["events"]["nodes"]] == ["m0", "other"]
    after = page["events"]["pageInfo"]["endCursor"]
    rest = await api.data(
        team.bob_token,
        "query($a: String) { events(first: 10, after: $a) { nodes { uid } } }",
        {"a": after},
    )
    assert [n["uid"] for n in rest["events"]["nodes"]] == ["m1", "m2", "m3", "m4"]

    jo = await Person.get(emails__address="jo@initech.com")
    window = {
        "p": str(jo.id),
        "f": (START + timedelta(days=1)).isoformat(),
        "t": (START + timedelta(days=3)).isoformat(),
    }
    found = await api.data(
        team.bob_token,
        "query($p: ID, $f: DateTime, $t: DateTime) {"
        " events(filter: {person: $p, from: $f, to: $t}) { nodes { uid } } }",
        window,
    )
    assert [n["uid"] for n in found["events"]["nodes"]] == ["m1", "m2"]

    person = await api.data(
        team.bob_token, f'{{ person(id: "{jo.id}") {{ events(first: 3) {{ nodes {{ uid }} }} }} }}'
    )
    assert [n["uid"] for n in person["person"]["events"]["nodes"]] == ["m0", "m1", "m2"]
    assert jo.company_id is not None
    company = await api.data(
        team.bob_token,
        f'{{ company(id: "{jo.company_id}") {{ events(first: 10) {{ nodes {{ uid }} }} }} }}',
    )
    assert [n["uid"] for n in company["company"]["events"]["nodes"]] == [f"m{i}" for i in range(5)]
    by_company = await api.data(
        team.bob_token,
        f'{{ events(first: 10, filter: {{company: "{jo.company_id}"}}) {{ nodes {{ uid }} }} }}',
    )
    assert len(by_company["events"]["nodes"]) == 5


async def test_no_workspace_sees_another_workspaces_meetings(api: Api, team: Team) -> None:
    await apply_events(team.alice_box, "primary", [EventItem("e1", meeting("one"))])
    data = await api.data(team.alice_token, "{ events { nodes { id } } }")
    event_id = data["events"]["nodes"][0]["id"]
    other = await make_team("globex")
    seen = await api.data(
        other.alice_token, f'{{ events {{ nodes {{ id }} }} event(id: "{event_id}") {{ id }} }}'
    )
    assert seen == {"events": {"nodes": []}, "event": None}
    # A malformed id is an id that matches nothing.
    assert await api.data(other.alice_token, '{ event(id: "nope") { id } }') == {"event": None}


async def test_event_times_keep_their_offset_and_all_day_events_their_dates(
    api: Api, team: Team
) -> None:
    day = datetime(2026, 7, 4, tzinfo=UTC)
    holiday = replace(meeting("holiday", day, all_day=True), end=day + timedelta(days=1))
    await apply_events(team.alice_box, "primary", [EventItem("h", holiday)])
    data = await api.data(team.alice_token, "{ events { nodes { allDay startsAt endsAt } } }")
    assert data["events"]["nodes"] == [
        {
            "allDay": True,
            "startsAt": "2026-07-04T00:00:00+00:00",
            "endsAt": "2026-07-05T00:00:00+00:00",
        }
    ]
    assert datetime.fromisoformat(data["events"]["nodes"][0]["startsAt"]).tzinfo is not None


EVENTS_PAGE = """query($n: Int) { events(first: $n) { nodes {
  title startsAt visibility description organizer { address }
  attendees { address response person { id name company { name } } } } } }"""


async def test_a_page_of_events_costs_the_same_statements_at_any_size(
    api: Api, team: Team, counter: QueryCounter
) -> None:
    items = [
        EventItem(
            f"e{i}",
            replace(
                meeting(f"m{i}", START + timedelta(days=i)),
                attendees=(Attendee(f"guest{i}@initech.com", f"Guest {i}", Response.ACCEPTED),),
            ),
        )
        for i in range(60)
    ]
    await apply_events(team.alice_box, "primary", items)
    await api.data(team.bob_token, "{ me { email } }")
    counts = {}
    for size in (10, 50):
        counter.statements.clear()
        data = await api.data(team.bob_token, EVENTS_PAGE, {"n": size})
        counts[size] = len(counter.statements)
        assert len(data["events"]["nodes"]) == size
        assert all(n["attendees"][1]["person"]["company"] for n in data["events"]["nodes"])
    assert counts[10] == counts[50], counts
    assert counts[50] < 15, counter.statements
