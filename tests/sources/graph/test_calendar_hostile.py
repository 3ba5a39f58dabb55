"""A Graph calendar that answers what no Graph would: links to another server (the bearer token
never goes there), pages that link on forever or to themselves, expired states without end,
answers of the wrong shape, and events no calendar holds (ids that are no ids, no times, the
year 9999, unknown zones, 100,000 attendees): refused with a ProtocolError, or skipped while
the rest of the page is stored."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mailroom.errors import ProtocolError
from mailroom.intake.events import calendar_cursor
from mailroom.models import Event, EventAttendee, EventCopy, Mailbox, Person
from mailroom.settings import Settings
from mailroom.sources.graph import DeltaExpired, GraphClient
from mailroom.sources.graph.calendar import CALENDAR, GraphCalendarSync
from tests.sources.graph.conftest import FAST
from tests.sources.graph.test_hostile import Fixed, Hostile, serving

PATH = "/v1.0/me/calendarView/delta"
Sync = Callable[..., GraphCalendarSync]


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    yield from serving()


@pytest.fixture
def elsewhere() -> Iterator[Hostile]:
    """Another server, where no request of Mailroom's may go."""
    yield from serving()


@pytest.fixture
async def syncer(mailbox: Mailbox, hostile: Hostile) -> AsyncIterator[Sync]:
    clients: list[GraphClient] = []

    def make(**options: Any) -> GraphCalendarSync:
        max_pages = options.pop("max_pages", 100)
        settings = Settings(graph_api_url=hostile.url, **options)
        client = GraphClient(settings, Fixed(), retry=FAST)
        clients.append(client)
        return GraphCalendarSync(mailbox, client, settings, max_pages=max_pages)

    yield make
    for client in clients:
        await client.aclose()


def page(value: list[dict[str, Any]], **links: str) -> Callable[[Request], Response]:
    return lambda request: JSONResponse({"value": value, **links})


def event(ident: str, **fields: Any) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    return {
        "id": ident,
        "type": "singleInstance",
        "iCalUId": f"uid-{ident}@example.com",
        "subject": f"Meeting {ident}",
        "start": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"},
        "end": {
            "dateTime": (start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.0000000"),
            "timeZone": "UTC",
        },
        "organizer": {"emailAddress": {"name": "Peter", "address": "peter@fabrikam.example"}},
        **fields,
    }


async def test_a_next_link_to_another_server_is_refused_and_not_kept(
    hostile: Hostile, elsewhere: Hostile, syncer: Sync, mailbox: Mailbox
) -> None:
    for link in (
        f"{elsewhere.url}{PATH}?$skiptoken=stolen",
        f"{hostile.url}/v1.0/users/bob@contoso.com/calendarView/delta?$skiptoken=1",
        f"{hostile.url}/beta/me/calendarView/delta?$skiptoken=1",
    ):
        hostile.routes[PATH] = page([event("AAMkAD1")], **{"@odata.nextLink": link})
        with pytest.raises(ProtocolError, match="elsewhere"):
            await syncer().run()
    assert elsewhere.seen == []  # the bearer token went nowhere else
    # Nothing of a refused page is stored, its link least of all.
    assert not await EventCopy.filter(mailbox_id=mailbox.id).exists()
    assert (await calendar_cursor(mailbox.id, CALENDAR)).state == {}


async def test_an_endless_chain_of_next_links_is_bounded(
    hostile: Hostile, syncer: Sync, mailbox: Mailbox
) -> None:
    counter = itertools.count()

    def endless(request: Request) -> Response:
        token = next(counter)
        value = [event(f"AAMkAD{token}")]
        return JSONResponse(
            {"value": value, "@odata.nextLink": f"{hostile.url}{PATH}?$skiptoken={token}"}
        )

    hostile.routes[PATH] = endless
    with pytest.raises(ProtocolError, match="25 pages"):
        await syncer(max_pages=25).run()
    assert len(hostile.seen) == 25
    # What the pages held is stored, and the next pass goes on from there, bounded again.
    assert await EventCopy.filter(mailbox_id=mailbox.id).count() == 25
    assert (await calendar_cursor(mailbox.id, CALENDAR)).state["link"].endswith("=24")
    with pytest.raises(ProtocolError):
        await syncer(max_pages=25).run()
    assert len(hostile.seen) == 50


async def test_a_page_linking_to_itself_is_refused(hostile: Hostile, syncer: Sync) -> None:
    link = f"{hostile.url}{PATH}?$skiptoken=same"
    hostile.routes[PATH] = page([], **{"@odata.nextLink": link})
    with pytest.raises(ProtocolError, match="itself"):
        await syncer().run()
    assert len(hostile.seen) == 2


async def test_a_delta_state_that_is_always_gone_ends_the_pass(
    hostile: Hostile, syncer: Sync
) -> None:
    gone = {"error": {"code": "SyncStateNotFound", "message": "The sync state is not found."}}
    hostile.routes[PATH] = lambda request: JSONResponse(gone, 410)
    with pytest.raises(DeltaExpired):
        await syncer().run()
    assert len(hostile.seen) == 2  # the round, and one round again: no loop


@pytest.mark.parametrize(
    "payload",
    [
        {"value": "nothing", "@odata.deltaLink": "x"},
        {"value": [1, 2], "@odata.deltaLink": "x"},
        {"value": [], "@odata.nextLink": "a", "@odata.deltaLink": "b"},
        {"value": []},
        {"value": [], "@odata.deltaLink": 42},
        [1, 2, 3],
    ],
)
async def test_answers_of_the_wrong_shape_are_refused(
    hostile: Hostile, syncer: Sync, mailbox: Mailbox, payload: Any
) -> None:
    hostile.routes[PATH] = lambda request: Response(json.dumps(payload), 200)
    with pytest.raises(ProtocolError):
        await syncer().run()
    assert (await calendar_cursor(mailbox.id, CALENDAR)).state == {}


async def test_events_no_calendar_holds_are_skipped_and_the_rest_stored(
    hostile: Hostile, syncer: Sync, mailbox: Mailbox
) -> None:
    crowd = [
        {
            "type": "required",
            "status": {"response": "accepted"},
            "emailAddress": {"address": f"person{n}@crowd.example", "name": f"Person {n}"},
        }
        for n in range(100_000)
    ]
    unreadable = [
        event("../../users/bob"),
        {**event("AAMkADa"), "id": 42},
        event("AAMkADb", start=None),
        event("AAMkADc", start="yesterday"),
        event("AAMkADd", start={"dateTime": "9999-12-31T23:59:59", "timeZone": "UTC"}),
        event("AAMkADe", start={"dateTime": "2026-01-01T10:00:00", "timeZone": "Mars/Olympus"}),
        event("AAMkADf", start={"dateTime": "2026-01-01T10:00:00", "timeZone": "../../etc"}),
        event("AAMkADg", type="seriesMaster"),
        event("AAMkADh", type="exception", originalStart="soon"),
    ]
    readable = [
        event("AAMkADgood"),
        event("AAMkADcrowd", attendees=crowd),
        event(
            "AAMkADodd",
            subject=["not", "text"],
            iCalUId={"no": "uid"},
            attendees="everyone",
            organizer={"emailAddress": {"address": "/O=EXCHANGELABS/OU=EXCHANGE/CN=PETER"}},
            end={"dateTime": "2000-01-01T00:00:00", "timeZone": "UTC"},
            body=12,
            onlineMeeting={"joinUrl": "javascript:alert(1)"},
        ),
    ]
    hostile.routes[PATH] = page(
        [*unreadable, *readable], **{"@odata.deltaLink": f"{hostile.url}{PATH}?$deltatoken=1"}
    )
    done = await syncer().run()
    assert done.unreadable == len(unreadable)
    stored = await EventCopy.filter(mailbox_id=mailbox.id).values_list("item", flat=True)
    assert sorted(stored) == ["AAMkADcrowd", "AAMkADgood", "AAMkADodd"]
    crowded = await Event.get(uid="uid-AAMkADcrowd@example.com")
    assert await EventAttendee.filter(event_id=crowded.id).count() <= 1001
    assert any("100000 attendees" in defect for defect in crowded.defects)
    # An all-hands makes no people.
    assert not await Person.filter(workspace_id=mailbox.workspace_id, name="Person 7").exists()
    odd = await Event.get(uid="graph:AAMkADodd")
    assert odd.summary is None and odd.organizer is None and odd.conference is None
    assert odd.ends_at == odd.starts_at
    assert any("ends before it starts" in defect for defect in odd.defects)
