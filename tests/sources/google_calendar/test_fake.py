"""The local Google Calendar held to Google's word: its answers against calendar.v3.json (the
checker must refuse what the document does not allow), and events.list's documented behaviour
(expansion, paging, sync tokens, refusals), asked over HTTP as any client would."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from fakes.discovery import SchemaError, calendar, check_error
from fakes.google_calendar import GONE, LIST, UNAUTHENTICATED, FakeGoogleCalendar, rate_refusal
from tests.sources.google_calendar.conftest import ALICE, person

NEW_YORK = ZoneInfo("America/New_York")
EVENT = {
    "kind": "calendar#event",
    "etag": '"3181161784712000"',
    "id": "7cbh8rpc10lrc0ckih9tafss99",
    "status": "confirmed",
    "created": "2024-01-05T10:00:00.000Z",
    "updated": "2024-01-05T10:00:00.000Z",
    "summary": "Plan",
    "organizer": {"email": ALICE, "self": True},
    "start": {"dateTime": "2024-03-11T09:00:00-04:00", "timeZone": "America/New_York"},
    "end": {"dateTime": "2024-03-11T10:00:00-04:00", "timeZone": "America/New_York"},
    "iCalUID": "7cbh8rpc10lrc0ckih9tafss99@google.com",
    "sequence": 0,
    "attendees": [{"email": "jane@globex.com", "responseStatus": "accepted"}],
}


def page(**more: Any) -> dict[str, Any]:
    return {"kind": "calendar#events", "items": [EVENT], "nextSyncToken": "CPx", **more}


def test_a_page_as_google_sends_it_passes() -> None:
    calendar().check_response(LIST, page())
    calendar().check_response(LIST, page(items=[{**EVENT, "start": {"date": "2024-03-11"}}]))


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"summery": "x"}, "unknown property 'summery'"),
        ({"sequence": "1"}, "expected an integer"),
        ({"start": {"dateTime": "2024-03-11T09:00:00"}}, "with an offset"),
        ({"start": {"date": "2024-3-11"}}, "not a date"),
        ({"updated": "yesterday"}, "not an RFC 3339 time"),
        ({"attendees": {"email": "x"}}, "expected an array"),
        ({"attendees": [{"email": "x", "resource": "yes"}]}, "expected a boolean"),
        ({"organizer": {"mail": "x"}}, "unknown property 'mail'"),
    ],
)
def test_an_event_outside_the_schema_is_refused(change: dict[str, Any], complaint: str) -> None:
    with pytest.raises(SchemaError, match=complaint):
        calendar().check_response(LIST, page(items=[{**EVENT, **change}]))


@pytest.mark.parametrize(
    ("params", "complaint"),
    [
        ([("singleEvent", "true")], "no query parameter 'singleEvent'"),
        ([("timeMin", "2024-01-01T00:00:00")], "with an offset"),
        ([("orderBy", "start")], "none of"),
        ([("singleEvents", "yes")], "not a boolean"),
        ([("maxResults", "many")], "not an integer"),
    ],
)
def test_request_parameters_are_checked(params: list[tuple[str, str]], complaint: str) -> None:
    with pytest.raises(SchemaError, match=complaint):
        calendar().check_parameters(LIST, params, ["calendarId"])


def test_error_bodies_have_googles_shape() -> None:
    for answer in (GONE, UNAUTHENTICATED, rate_refusal(403, "quotaExceeded", None)):
        check_error(answer.body)


def test_a_body_the_schema_refuses_is_a_violation_answered_500(calendar: FakeGoogleCalendar):
    calendar.add("Odd", datetime(2024, 3, 11, 9, tzinfo=NEW_YORK), colour="red")
    answer = calendar.answer(
        "/calendar/v3/calendars/primary/events",
        [("singleEvents", "true")],
        f"Bearer {calendar.grant()}",
    )
    assert answer.status == 200 and answer.body["items"] == []
    assert calendar.violations and "unknown property 'colour'" in calendar.violations[0]
    calendar.violations.clear()  # seen: the fixture would fail the test


# events.list over HTTP --------------------------------------------------------------------


class Api:
    def __init__(self, fake: FakeGoogleCalendar) -> None:
        self.fake = fake
        self.http = httpx.Client(base_url=fake.url)
        self.token = fake.grant()

    def list(self, calendar_id: str = "primary", **params: str) -> httpx.Response:
        return self.http.get(
            f"/calendar/v3/calendars/{calendar_id}/events",
            params=params,
            headers={"authorization": f"Bearer {self.token}"},
        )

    def all(self, **params: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Every page: the items and the last page."""
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            answer = self.list(**params, **({"pageToken": token} if token else {}))
            assert answer.status_code == 200, answer.text
            body = answer.json()
            items += body.get("items", [])
            token = body.get("nextPageToken")
            if token is None:
                return items, body
            assert "nextSyncToken" not in body  # only on the last page


@pytest.fixture
def api(calendar: FakeGoogleCalendar) -> Iterator[Api]:
    client = Api(calendar)
    yield client
    client.http.close()


def test_single_events_expands_a_series_into_instances(calendar: FakeGoogleCalendar, api: Api):
    # Weekly at 9:00 in New York across the change to daylight saving time (10 March 2024).
    series = calendar.add(
        "Standup",
        datetime(2024, 3, 4, 9, tzinfo=NEW_YORK),
        time_zone="America/New_York",
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=3"],
        attendees=[person("jane@globex.com")],
    )
    items, last = api.all(singleEvents="true")
    assert [i["id"] for i in items] == [
        f"{series}_20240304T140000Z",
        f"{series}_20240311T130000Z",
        f"{series}_20240318T130000Z",
    ]
    assert {i["recurringEventId"] for i in items} == {series}
    assert {i["iCalUID"] for i in items} == {f"{series}@google.com"}
    assert [i["start"]["dateTime"] for i in items] == [
        "2024-03-04T09:00:00-05:00",
        "2024-03-11T09:00:00-04:00",
        "2024-03-18T09:00:00-04:00",
    ]
    assert items[1]["originalStartTime"] == items[1]["start"]
    assert "nextSyncToken" in last
    masters, _ = api.all()
    assert [m["id"] for m in masters] == [series]
    assert masters[0]["recurrence"] == ["RRULE:FREQ=WEEKLY;COUNT=3"]


def test_pages_hold_max_results_and_only_the_last_a_sync_token(
    calendar: FakeGoogleCalendar, api: Api
) -> None:
    start = datetime(2024, 1, 1, 9, tzinfo=NEW_YORK)
    for n in range(260):
        calendar.add(f"Meeting {n}", start + timedelta(hours=n))
    first = api.list(singleEvents="true").json()
    assert len(first["items"]) == 250 and "nextPageToken" in first  # 250 by default
    items, _ = api.all(singleEvents="true", maxResults="100")
    assert len(items) == 260 and len({i["id"] for i in items}) == 260
    big = api.list(singleEvents="true", maxResults="5000").json()
    assert len(big["items"]) == 260  # at most 2,500 a page, never refused
    assert api.list(maxResults="0").status_code == 400


def test_time_bounds_filter_by_end_and_start(calendar: FakeGoogleCalendar, api: Api) -> None:
    calendar.add("Early", datetime(2024, 5, 1, 9, tzinfo=NEW_YORK))  # ends 10:00
    calendar.add("Late", datetime(2024, 5, 1, 11, tzinfo=NEW_YORK))
    calendar.add("Day", date(2024, 5, 2))
    items, _ = api.all(
        singleEvents="true", timeMin="2024-05-01T10:00:00-04:00", timeMax="2024-05-02T00:00:00Z"
    )
    assert [i["summary"] for i in items] == ["Late"]  # timeMin excludes an end on it
    empty = api.list(timeMin="2024-05-02T00:00:00Z", timeMax="2024-05-01T00:00:00Z")
    assert empty.status_code == 400 and empty.json()["error"]["errors"][0]["reason"] == (
        "timeRangeEmpty"
    )


def test_sync_tokens_give_what_changed_since(calendar: FakeGoogleCalendar, api: Api) -> None:
    series = calendar.add(
        "Standup",
        datetime(2024, 3, 4, 9, tzinfo=NEW_YORK),
        time_zone="America/New_York",
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=3"],
    )
    lunch = calendar.add("Lunch", datetime(2024, 3, 5, 12, tzinfo=NEW_YORK))
    calendar.add("Untouched", datetime(2024, 3, 6, 12, tzinfo=NEW_YORK))
    _, last = api.all(singleEvents="true", timeMin="2024-01-01T00:00:00Z")
    token = last["nextSyncToken"]
    nothing, again = api.all(singleEvents="true", syncToken=token)
    assert nothing == [] and again["nextSyncToken"] == token
    cancelled = calendar.cancel_instance(series, datetime(2024, 3, 11, 9, tzinfo=NEW_YORK))
    calendar.cancel(lunch)
    far = calendar.add("Far ahead", datetime(2031, 1, 1, 9, tzinfo=NEW_YORK))
    items, _ = api.all(singleEvents="true", syncToken=token)
    by_id = {i["id"]: i for i in items}
    assert set(by_id) == {cancelled, lunch, far}  # outside the listing's window too
    assert by_id[cancelled] == {
        "kind": "calendar#event",
        "etag": by_id[cancelled]["etag"],
        "id": cancelled,
        "status": "cancelled",
        "recurringEventId": series,
        "originalStartTime": {
            "dateTime": "2024-03-11T09:00:00-04:00",
            "timeZone": "America/New_York",
        },
    }
    assert by_id[lunch]["status"] == "cancelled" and "start" not in by_id[lunch]


def test_a_changed_series_comes_with_all_its_instances(calendar: FakeGoogleCalendar, api: Api):
    series = calendar.add(
        "Weekly",
        datetime(2024, 3, 4, 9, tzinfo=NEW_YORK),
        time_zone="America/New_York",
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=10"],
    )
    _, last = api.all(singleEvents="true", timeMax="2024-03-12T00:00:00Z")
    calendar.change(series, recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"], summary="Weekly (short)")
    items, _ = api.all(singleEvents="true", syncToken=last["nextSyncToken"])
    statuses = [i["status"] for i in items]
    assert statuses.count("confirmed") == 4 and statuses.count("cancelled") == 6


@pytest.mark.parametrize(
    "extra",
    [
        {"timeMin": "2024-01-01T00:00:00Z"},
        {"timeMax": "2024-01-01T00:00:00Z"},
        {"orderBy": "updated"},
        {"iCalUID": "x@google.com"},
        {"showDeleted": "false"},
    ],
)
def test_google_refuses_these_beside_a_sync_token(
    api: Api, extra: dict[str, str], calendar: FakeGoogleCalendar
) -> None:
    _, last = api.all(singleEvents="true")
    answer = api.list(singleEvents="true", syncToken=last["nextSyncToken"], **extra)
    assert answer.status_code == 400, answer.text


def test_an_expired_or_foreign_sync_token_is_gone(calendar: FakeGoogleCalendar, api: Api):
    _, last = api.all(singleEvents="true")
    calendar.expire_sync_tokens()
    for token in (last["nextSyncToken"], "CPDAlvWDx70CEPDAlvWDx70CGAU="):
        answer = api.list(singleEvents="true", syncToken=token)
        assert answer.status_code == 410
        assert answer.json()["error"]["errors"][0]["reason"] == "fullSyncRequired"


def test_tokens_calendars_and_refusals(calendar: FakeGoogleCalendar, api: Api) -> None:
    assert api.list(calendar_id=ALICE).status_code == 200  # the primary's other name
    assert api.list(calendar_id="someone@else.com").status_code == 404
    api.token = "ya29.stolen"
    assert api.list().status_code == 401
    api.token = calendar.grant()
    calendar.forbid()
    assert api.list().json()["error"]["errors"][0]["reason"] == "insufficientPermissions"
    calendar.forbid(None)
    calendar.throttle(1, status=403, reason="userRateLimitExceeded", retry_after=None)
    calendar.throttle(1, status=429, retry_after=3)
    refused = api.list()
    assert refused.status_code == 403
    assert refused.json()["error"]["errors"][0]["domain"] == "usageLimits"
    assert api.list().headers["retry-after"] == "3"
    assert api.list().status_code == 200
    assert api.list(q="lunch").status_code == 400  # not implemented, and says so
