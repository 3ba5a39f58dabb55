"""The local Graph's calendar (fakes/graph_calendar.py) against Microsoft's documented
calendarView delta, over HTTP: rounds and their pages, series expanded, later rounds' changes
and removals, the query options refused, expired tokens, the shared concurrency limit, time
zones and bodies as preferred."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from fakes.graph import FakeGraph
from fakes.graph_calendar import GraphCalendar, Guest, Recurrence
from fakes.graph_http import GraphServer

BERLIN = ZoneInfo("Europe/Berlin")
WINDOW = {"startDateTime": "2025-03-01T00:00:00Z", "endDateTime": "2025-05-01T00:00:00Z"}
PATH = "/me/calendarView/delta"


@pytest.fixture
def server() -> Iterator[GraphServer]:
    with GraphServer(FakeGraph("alice@contoso.com")) as running:
        yield running


@pytest.fixture
def calendar(server: GraphServer) -> GraphCalendar:
    return server.calendar


@pytest.fixture
async def client(server: GraphServer) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {server.fake.grant()}"}
    async with httpx.AsyncClient(base_url=f"{server.fake.url}/v1.0", headers=headers) as client:
        yield client


async def round_of(
    client: httpx.AsyncClient, url: str, prefer: str = "", **params: str
) -> tuple[list[list[dict[str, Any]]], str]:
    """The pages of a round and its deltaLink."""
    pages = []
    answer = await client.get(url, params=params or None, headers={"Prefer": prefer})
    while True:
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append(body["value"])
        if "@odata.deltaLink" in body:
            assert "@odata.nextLink" not in body
            return pages, body["@odata.deltaLink"]
        answer = await client.get(body["@odata.nextLink"], headers={"Prefer": prefer})


def weekly(calendar: GraphCalendar, count: int = 4) -> str:
    return calendar.add(
        "Weekly",
        datetime(2025, 3, 17, 9, tzinfo=BERLIN),
        datetime(2025, 3, 17, 10, tzinfo=BERLIN),
        zone="Europe/Berlin",
        recurrence=Recurrence("weekly", days=("monday",), count=count),
        attendees=(Guest("peter@fabrikam.example", "Peter"),),
    )


async def test_a_round_pages_the_view_with_series_expanded(
    calendar: GraphCalendar, client: httpx.AsyncClient
) -> None:
    series = weekly(calendar)
    single = calendar.add(
        "Single", datetime(2025, 3, 20, 10, tzinfo=UTC), datetime(2025, 3, 20, 11, tzinfo=UTC)
    )
    calendar.add(
        "Outside", datetime(2025, 6, 1, 10, tzinfo=UTC), datetime(2025, 6, 1, 11, tzinfo=UTC)
    )
    pages, delta = await round_of(client, PATH, "odata.maxpagesize=2", **WINDOW)
    # Outlook's first answer holds nothing, only the link to the events.
    assert pages[0] == [] and [len(p) for p in pages[1:]] == [2, 2, 1]
    assert "$deltatoken=" in delta and delta.startswith(f"{calendar.graph.url}/v1.0/me/")
    events = [e for p in pages for e in p]
    assert {e["type"] for e in events} == {"occurrence", "singleInstance"}
    occurrences = [e for e in events if e["type"] == "occurrence"]
    assert len(occurrences) == 4 and all(e["seriesMasterId"] == series for e in occurrences)
    assert series not in {e["id"] for e in events}  # masters are not in a calendar view
    # 09:00 Berlin, in UTC as by default: 08:00 before the DST change, 07:00 after.
    assert [e["start"]["dateTime"][11:16] for e in occurrences] == [
        "08:00", "08:00", "07:00", "07:00",
    ]  # fmt: skip
    assert [e["originalStart"][:16] for e in occurrences][2] == "2025-03-31T07:00"
    # iCalUId differs per occurrence: Exchange's id with the occurrence's date in it.
    uids = [e["iCalUId"] for e in occurrences]
    assert len(set(uids)) == 4 and uids[0][32:40] == "07E90311"
    master = calendar.ical_uid(series)
    assert master[32:40] == "00000000"
    assert {u[:32] + u[40:] for u in uids} == {master[:32] + master[40:]}
    one = next(e for e in events if e["id"] == single)
    assert one["originalStartTimeZone"] == "UTC" and "originalStart" not in one
    assert occurrences[0]["originalStartTimeZone"] == "W. Europe Standard Time"
    assert occurrences[0]["body"]["contentType"] == "html"


async def test_later_rounds_answer_what_changed(
    calendar: GraphCalendar, client: httpx.AsyncClient
) -> None:
    series = weekly(calendar)
    single = calendar.add(
        "Single", datetime(2025, 3, 20, 10, tzinfo=UTC), datetime(2025, 3, 20, 11, tzinfo=UTC)
    )
    outside = calendar.add(
        "Outside", datetime(2025, 6, 1, 10, tzinfo=UTC), datetime(2025, 6, 1, 11, tzinfo=UTC)
    )
    _, delta = await round_of(client, PATH, **WINDOW)
    quiet, delta = await round_of(client, delta)
    assert quiet == [[]]
    occurrences = calendar.instances(series, *(datetime.fromisoformat(v) for v in WINDOW.values()))
    calendar.change(occurrences[1][0], subject="Moved")
    calendar.delete(occurrences[2][0])
    calendar.delete(single)
    calendar.change(outside, subject="Still outside")
    pages, _ = await round_of(client, delta)
    entries = [e for p in pages for e in p]
    removed = {e["id"] for e in entries if "@removed" in e}
    assert removed == {occurrences[2][0], single, outside}
    assert all(
        e["@removed"] == {"reason": "deleted"} and len(e) == 3 for e in entries if "@removed" in e
    )
    [changed] = [e for e in entries if "@removed" not in e]
    assert changed["id"] == occurrences[1][0] and changed["type"] == "exception"
    assert changed["subject"] == "Moved"


async def test_what_graph_refuses(
    server: GraphServer, calendar: GraphCalendar, client: httpx.AsyncClient
) -> None:
    for option in ("$select=subject", "$filter=isAllDay eq true", "$orderby=start", "$top=5"):
        window = "&".join(f"{k}={v}" for k, v in WINDOW.items())
        answer = await client.get(f"{PATH}?{window}&{option}")
        assert answer.status_code == 400, option
    missing = await client.get(PATH)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "ErrorInvalidParameter"
    assert "StartDateTime and EndDateTime" in missing.json()["error"]["message"]
    bad = await client.get(PATH, params={**WINDOW, "endDateTime": "soon"})
    assert bad.status_code == 400
    assert (await client.get(PATH, params={"startDateTime": "x"})).status_code == 400
    unknown = await client.get("/users/mallory@contoso.com/calendarView/delta", params=WINDOW)
    assert unknown.status_code == 404
    assert (await client.post(PATH, params=WINDOW)).status_code == 405
    async with httpx.AsyncClient(base_url=f"{server.fake.url}/v1.0") as anonymous:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            answer = await anonymous.get(PATH, params=WINDOW, headers=headers)
            assert answer.status_code == 401
            assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"
    calendar.denied = True
    assert (await client.get(PATH, params=WINDOW)).status_code == 403


async def test_a_users_path_is_served_and_its_links_keep_it(
    calendar: GraphCalendar, client: httpx.AsyncClient
) -> None:
    weekly(calendar)
    path = "/users/alice@contoso.com/calendarView/delta"
    pages, delta = await round_of(client, path, "odata.maxpagesize=3", **WINDOW)
    assert sum(len(p) for p in pages) == 4
    assert "/v1.0/users/alice@contoso.com/calendarView/delta?$deltatoken=" in delta


@pytest.mark.parametrize("code", ["SyncStateNotFound", "resyncRequired"])
async def test_forgotten_tokens_answer_410(
    calendar: GraphCalendar, client: httpx.AsyncClient, code: str
) -> None:
    calendar.graph.resync_code = code
    weekly(calendar)
    first = await client.get(PATH, params=WINDOW)
    _, delta = await round_of(client, PATH, **WINDOW)
    calendar.expire_delta_tokens()
    for link in (first.json()["@odata.nextLink"], delta):
        answer = await client.get(link)
        assert answer.status_code == 410
        assert answer.json()["error"]["code"] == code
        assert answer.headers["location"].endswith("/v1.0/me/calendarView/delta")


async def test_the_calendar_shares_the_mailbox_concurrency_limit(
    calendar: GraphCalendar, client: httpx.AsyncClient
) -> None:
    calendar.graph.delay = 0.2
    answers = await asyncio.gather(*(client.get(PATH, params=WINDOW) for _ in range(6)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] * 4 + [429] * 2
    throttled = next(a for a in answers if a.status_code == 429)
    assert throttled.headers["retry-after"] == "1"
    assert throttled.json()["error"]["code"] == "ApplicationThrottled"
    assert calendar.graph.peak_in_flight > 4  # a refused one counts while it is refused


async def test_time_zones_and_bodies_as_preferred(
    calendar: GraphCalendar, client: httpx.AsyncClient
) -> None:
    weekly(calendar, count=1)
    calendar.add("Day off", date(2025, 3, 21), date(2025, 3, 22), body="Gone <fishing> & back")
    for zone in ("Europe/Berlin", "W. Europe Standard Time"):
        prefer = f'outlook.timezone="{zone}", outlook.body-content-type="text"'
        answer = await client.get(PATH, params=WINDOW)
        pages, _ = await round_of(client, answer.json()["@odata.nextLink"], prefer)
        meeting, day_off = pages[0]
        assert meeting["start"] == {"dateTime": "2025-03-17T09:00:00.0000000", "timeZone": zone}
        assert day_off["isAllDay"] and day_off["start"]["dateTime"] == "2025-03-21T00:00:00.0000000"
        assert day_off["body"] == {"contentType": "text", "content": "Gone <fishing> & back"}
    answer = await client.get(PATH, params=WINDOW, headers={"Prefer": "odata.maxpagesize=5"})
    assert "odata.maxpagesize=5" in answer.headers["preference-applied"]
    pages, _ = await round_of(client, answer.json()["@odata.nextLink"])
    assert "&lt;fishing&gt; &amp; back" in pages[0][1]["body"]["content"]
    assert pages[0][1]["bodyPreview"] == "Gone <fishing> & back"
    assert pages[0][0]["start"]["timeZone"] == "UTC"
