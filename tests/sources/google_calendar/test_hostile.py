"""A lying Google Calendar: what it sends becomes skipped items, defects or sync errors, never a
crash or a hang. The local calendar answers here through `script` (no checks at all)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import Response

from fakes.google_calendar import LIST, FakeGoogleCalendar
from mailroom.errors import ProtocolError
from mailroom.intake.events import calendar_cursor
from mailroom.models import Event, EventAttendee, EventCopy, Mailbox
from mailroom.sources.google_calendar import CALENDAR, GoogleCalendarClient
from mailroom.sources.http import TooLargeError
from tests.sources.google_calendar.conftest import NOW, Sync, days

START = (NOW + days(1)).strftime("%Y-%m-%dT%H:%M:%SZ")
END = (NOW + days(1.05)).strftime("%Y-%m-%dT%H:%M:%SZ")


def event(ident: Any = "good1", **fields: Any) -> dict[str, Any]:
    return {
        "kind": "calendar#event",
        "id": ident,
        "status": "confirmed",
        "summary": f"Meeting {ident}",
        "iCalUID": f"{ident}@google.com",
        "start": {"dateTime": START},
        "end": {"dateTime": END},
        **fields,
    }


def answering(*bodies: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    """A responder giving `bodies` in turn (bytes as they are, anything else as JSON), then
    empty last pages."""
    queue: Iterator[Any] = iter(bodies)

    def respond(request: Request) -> Response:
        body = next(queue, {"items": [], "nextSyncToken": "CPend"})
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return Response(data, status_code=status, headers=headers, media_type="application/json")

    return respond


async def test_items_that_cannot_be_read_are_skipped_the_rest_stored(
    calendar: FakeGoogleCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    items = [
        event("good1"),
        event("../../etc/passwd"),
        event(""),
        event(12345),
        event("a" * 700),
        event("with space"),
        "not an object",
        event("nostart", start=None),
        event("emptystart", start={}),
        event("badtime", start={"dateTime": "2024-13-45T00:00:00Z"}),
        event("yearone", start={"dateTime": "0001-01-01T00:00:00+14:00"}),
        event("farfuture", end={"dateTime": "9999-12-31T23:59:59-23:59"}),
        event("bigyear", start={"date": "99999-01-01"}),
        event("series1_20240101T000000Z", recurringEventId="no such id!"),
        event("long", start={"dateTime": "2024-01-01T00:00:00" + "0" * 100 + "Z"}),
    ]
    calendar.script(LIST, answering({"items": items, "nextSyncToken": "CP1"}))
    done = await syncer().run()
    assert done.report.new == 1 and done.skipped == len(items) - 1
    assert [c.item for c in await EventCopy.all()] == ["good1"]


async def test_odd_fields_are_defects_on_what_is_kept(
    calendar: FakeGoogleCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    items = [
        event(
            "odd1",
            iCalUID=None,
            summary=["not", "text"],
            sequence="seven",
            updated="last week",
            attendees="everyone",
            organizer={"displayName": "No Address"},
            hangoutLink="javascript:alert(1)",
            start={"dateTime": "2030-01-01T09:00:00", "timeZone": "../../../etc/passwd"},
            end={"dateTime": "2029-01-01T09:00:00Z"},
        ),
        event("odd2", status="tentative", eventType="workingLocation"),
        event("odd3", visibility="confidential", start={"date": "1850-01-01"}),
    ]
    calendar.script(LIST, answering({"items": items, "nextSyncToken": "CP1"}))
    done = await syncer(days_ahead=3650).run()
    [odd] = await Event.all()
    assert odd.uid == "odd1@google.com" and odd.summary is None and odd.sequence == 0
    assert odd.conference is None and odd.organizer is None and odd.ends_at == odd.starts_at
    assert len(odd.defects) == 8, odd.defects  # each odd field says what became of it
    assert done.skipped == 1  # the private one with an absurd date: nothing to remove anyway


async def test_a_hundred_thousand_attendees(
    calendar: FakeGoogleCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    crowd = [{"email": f"p{n}@crowd.example", "responseStatus": "accepted"} for n in range(100_000)]
    calendar.script(LIST, answering({"items": [event("allhands", attendees=crowd)],
                                     "nextSyncToken": "CP1"}))  # fmt: skip
    started = time.monotonic()
    await syncer().run()
    assert time.monotonic() - started < 60
    [allhands] = await Event.all()
    assert any("100000 attendees" in d for d in allhands.defects)
    assert await EventAttendee.filter(event_id=allhands.id).count() <= 1001


async def test_a_page_token_that_never_ends_is_bounded(
    calendar: FakeGoogleCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    counter = itertools.count()

    def endless(request: Request) -> Response:
        body = {"items": [], "nextPageToken": f"page-{next(counter)}"}
        return Response(json.dumps(body), media_type="application/json")

    calendar.script(LIST, endless)
    done = await syncer(max_pages=25).run()
    assert not done.finished and done.pages == 25
    cursor = await calendar_cursor(mailbox.id, CALENDAR)
    assert cursor.state["listing"]["page_token"] == "page-24"  # the next pass goes on there


async def test_a_page_token_given_twice_is_refused(
    calendar: FakeGoogleCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    again = {"items": [event("loop1")], "nextPageToken": "same"}
    calendar.script(LIST, answering(again, again, again))
    with pytest.raises(ProtocolError, match="never end"):
        await syncer().run()


@pytest.mark.parametrize(
    ("body", "complaint"),
    [
        (b"<html>Service Unavailable</html>", "not JSON"),
        ([{"items": []}], "not a JSON object"),
        ({"items": {"id": "x"}, "nextSyncToken": "CP1"}, "not a list"),
        ({"items": [], "nextPageToken": 7}, "not a token"),
        ({"items": []}, "no nextSyncToken"),
    ],
)
async def test_an_answer_that_is_no_page_is_a_protocol_error(
    calendar: FakeGoogleCalendar,
    connect: Callable[..., GoogleCalendarClient],
    body: Any,
    complaint: str,
) -> None:
    calendar.script(LIST, answering(body))
    with pytest.raises(ProtocolError, match=complaint):
        await connect().events()


async def test_answers_past_their_bounds_are_refused(
    calendar: FakeGoogleCalendar, connect: Callable[..., GoogleCalendarClient]
) -> None:
    huge = {"items": [event("big", description="x" * (17 * 1024 * 1024))], "nextSyncToken": "C"}
    calendar.script(LIST, answering(huge))
    with pytest.raises(TooLargeError):
        await connect().events()
    redirect = answering(b"", status=302, headers={"location": "https://evil.example/"})
    calendar.script(LIST, redirect)
    with pytest.raises(ProtocolError, match="not followed"):
        await connect().events()
