"""A Gmail mailbox's primary calendar synced into the store through the local Google Calendar
(fakes/): the first sync over the window (singles, a weekly series across a change to daylight
saving time with an override and an exception, all-day events, rooms), increments, the resync
after a 410, a pass cut short and continued, the window kept ahead of now, and the same meeting
in three members' calendars."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from starlette import responses

from fakes.google_calendar import FakeGoogleCalendar
from mailroom.envelope import AttendeeKind, EventStatus, Response
from mailroom.errors import TransientError
from mailroom.intake.events import calendar_cursor
from mailroom.models import (
    Event,
    EventAttendee,
    EventCopy,
    Interaction,
    Mailbox,
    PersonEmail,
    Workspace,
)
from mailroom.sources.google_calendar import CALENDAR
from tests.sources.google_calendar.conftest import (
    ALICE,
    NOW,
    Sync,
    days,
    gmail_mailbox,
    person,
    serve,
)

NEW_YORK = ZoneInfo("America/New_York")


def change_to_summer_time() -> date:
    """The latest second Sunday of March (when New York moves its clocks) a month or more
    before now: inside the window a first sync lists."""
    year = NOW.year if NOW.date() > date(NOW.year, 4, 15) else NOW.year - 1
    march = date(year, 3, 1)
    return march + timedelta(days=(6 - march.weekday()) % 7 + 7)


def at(day: date, hour: int, zone: ZoneInfo = NEW_YORK) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=zone)


async def copies(mailbox: Mailbox) -> dict[str, Event]:
    found = {}
    for copy in await EventCopy.filter(mailbox_id=mailbox.id, calendar=CALENDAR):
        found[copy.item] = await Event.get(id=copy.event_id)
    return found


async def by_summary(summary: str) -> list[Event]:
    return await Event.filter(summary=summary).order_by("starts_at")


async def test_the_first_sync_stores_the_window(
    calendar: FakeGoogleCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    sunday = change_to_summer_time()
    monday = sunday - timedelta(days=13)
    standup = calendar.add(
        "Standup",
        at(monday, 9),
        time_zone="America/New_York",
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=5"],
        attendees=[person(ALICE), person("jane@globex.com")],
        hangoutLink="https://meet.google.com/abc-defg-hij",
    )
    skipped = calendar.cancel_instance(standup, at(monday + timedelta(days=14), 9))
    moved = calendar.override(
        standup,
        at(monday + timedelta(days=21), 9),
        start=at(monday + timedelta(days=21), 11),
        end=at(monday + timedelta(days=21), 12),
        summary="Standup (late)",
    )
    lunch = calendar.add(
        "Lunch with Globex",
        NOW - days(3),
        attendees=[
            person(ALICE),
            person("jane@globex.com", "tentative", displayName="Jane Doe", optional=True),
            person("r-4@resource.calendar.google.com", resource=True, displayName="Room 4"),
        ],
        location="Room 4",
    )
    calendar.add("Offsite", (NOW + days(10)).date(), (NOW + days(12)).date())
    calendar.add("Secret", NOW + days(1), visibility="private")
    calendar.add("Long ago", NOW - days(1000))

    done = await syncer().run()

    assert done.full and done.finished and not done.skipped
    stored = await copies(mailbox)
    assert len(stored) == 4 + 1 + 1  # four instances left of five, lunch, the offsite
    instances = await by_summary("Standup")
    assert [e.starts_at.astimezone(UTC).hour for e in instances] == [14, 14, 13]
    assert [e.utc_offset for e in instances] == [-300, -300, -240]  # 9:00 local each time
    assert {e.uid for e in instances} == {f"{standup}@google.com"}
    assert all(e.conference == "https://meet.google.com/abc-defg-hij" for e in instances)
    assert skipped not in stored
    [late] = await by_summary("Standup (late)")
    assert stored[moved].id == late.id
    assert late.starts_at.astimezone(UTC).hour == 15
    assert late.recurrence_id == at(monday + timedelta(days=21), 9).astimezone(UTC)
    assert stored[lunch].recurrence_id is None and stored[lunch].location == "Room 4"
    [offsite] = await by_summary("Offsite")
    assert offsite.all_day and offsite.starts_at == datetime.combine(
        (NOW + days(10)).date(), datetime.min.time(), UTC
    )
    assert offsite.ends_at - offsite.starts_at == days(2)
    assert not await Event.filter(summary__in=["Secret", "Long ago"]).exists()
    attendees = {a.address: a for a in await EventAttendee.filter(event_id=stored[lunch].id)}
    assert attendees["r-4@resource.calendar.google.com"].kind is AttendeeKind.RESOURCE
    jane = attendees["jane@globex.com"]
    assert (jane.name, jane.response, jane.optional) == ("Jane Doe", Response.TENTATIVE, True)
    assert await PersonEmail.filter(address="jane@globex.com").exists()
    assert not await PersonEmail.filter(address__contains="resource.calendar").exists()
    cursor = await calendar_cursor(mailbox.id, CALENDAR)
    assert set(cursor.state) == {"sync_token", "window_end"}


async def test_increments_apply_what_changed(
    calendar: FakeGoogleCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    weekly = calendar.add(
        "Weekly", NOW - days(14), recurrence=["RRULE:FREQ=WEEKLY;COUNT=6"], time_zone="UTC"
    )
    review = calendar.add("Review", NOW + days(2), attendees=[person("jane@globex.com")])
    retro = calendar.add("Retro", NOW + days(3))
    party = calendar.add("Party", (NOW + days(20)).date())
    sync = syncer()
    await sync.run()
    assert len(await copies(mailbox)) == 6 + 3

    added = calendar.add("Kickoff", NOW + days(5))
    calendar.change(review, summary="Review (moved)", start=NOW + days(4), end=NOW + days(4.1))
    dropped = calendar.cancel_instance(weekly, NOW - days(7))
    calendar.delete(party)
    calendar.make_private(retro)
    calendar.add("In three years", NOW + days(1100))
    done = await sync.run()

    assert not done.full and done.outside == 1
    stored = await copies(mailbox)
    assert added in stored and dropped not in stored and party not in stored
    assert retro not in stored and not await Event.filter(summary="Retro").exists()
    assert stored[review].summary == "Review (moved)"
    assert stored[review].starts_at == (NOW + days(4)).astimezone(UTC)
    assert stored[review].sequence == 2  # a new start and end
    assert len(stored) == 9 - 3 + 1
    again = await sync.run()
    assert again.pages == 1 and again.read == 0


async def test_a_gone_sync_token_lists_again_without_doubles(
    calendar: FakeGoogleCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    kept = [calendar.add(f"Meeting {n}", NOW + days(n)) for n in range(1, 6)]
    await syncer().run()
    before = await calendar_cursor(mailbox.id, CALENDAR)
    calendar.expire_sync_tokens()
    calendar.delete(kept[0])
    with calendar.lock:  # gone at Google with no trace a sync token could have told
        del calendar.events[kept[1]]
    new = calendar.add("New", NOW + days(9))
    done = await syncer().run()
    assert done.resynced and done.full and done.report.removed == 2
    stored = await copies(mailbox)
    assert set(stored) == {*kept[2:], new}
    assert await Event.all().count() == 4 and await EventCopy.all().count() == 4
    cursor = await calendar_cursor(mailbox.id, CALENDAR)
    assert cursor.generation == before.generation + 1 and "sweep" not in cursor.state


async def test_a_pass_cut_short_continues_where_it_stopped(
    calendar: FakeGoogleCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    for n in range(45):
        calendar.add(f"Call {n}", NOW + days(n / 4))
    first = await syncer(page_size=10, max_pages=2).run()
    assert not first.finished and len(await copies(mailbox)) == 20
    calendar.fail(10)  # Google fails here: the cursor stays on the page it was on
    with pytest.raises(TransientError):
        await syncer(page_size=10).run()
    calendar.heal()
    done = await syncer(page_size=10).run()
    assert done.finished and len(await copies(mailbox)) == 45
    assert await Event.all().count() == 45
    # Five pages of the window, each asked once, and the first increment.
    assert calendar.calls["calendar.events.list"] == 5 + 1


async def test_the_window_holds_a_series_without_end_and_moves_ahead(
    calendar: FakeGoogleCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    forever = calendar.add(
        "Forever", NOW - days(10), recurrence=["RRULE:FREQ=WEEKLY"], time_zone="UTC"
    )
    await syncer(days_ahead=30).run()
    listed = await copies(mailbox)
    assert 5 <= len(listed) <= 7  # the window's weeks, not the series' years
    calendar.change(forever, summary="Forever, renamed")
    done = await syncer(days_ahead=30).run()
    assert done.outside > 400  # Google sent the series' instances for ten years
    renamed = await copies(mailbox)
    assert set(renamed) == set(listed)
    assert {e.summary for e in renamed.values()} == {"Forever, renamed"}
    # Three weeks later the window reaches further: the weeks it reaches are listed.
    later = NOW + days(21)
    await syncer(days_ahead=30, clock=lambda: later).run()
    moved = await copies(mailbox)
    assert len(moved) == len(listed) + 3
    cursor = await calendar_cursor(mailbox.id, CALENDAR)
    assert cursor.state["window_end"] >= (later + days(29)).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def team() -> Iterator[list[FakeGoogleCalendar]]:
    """Three members' own calendars, each served by its local Google."""
    calendars = [serve(address) for address in (ALICE, "bob@acme.com", "carol@acme.com")]
    yield [next(running) for running in calendars]
    for running in calendars:
        assert next(running, None) is None


async def test_the_same_meeting_in_three_calendars_is_one_event(
    team: list[FakeGoogleCalendar], syncer: Sync, workspace: Workspace, mailbox: Mailbox
) -> None:
    people = [person(c.address) for c in team] + [person("jane@globex.com")]
    for fake in team:  # Google gives the meeting one id and iCalUID in every calendar
        fake.add(
            "Planning",
            at(NOW.date() + timedelta(days=1), 10),
            time_zone="America/New_York",
            recurrence=["RRULE:FREQ=DAILY;COUNT=3"],
            attendees=people,
            organizer=ALICE,
            event_id="planning2024abc",
            ical_uid="planning@acme.com",
        )
    boxes = [mailbox] + [await gmail_mailbox(workspace, fake.address) for fake in team[1:]]
    for box, fake in zip(boxes, team, strict=True):
        await syncer(box, fake).run()
    events = await Event.filter(uid="planning@acme.com")
    assert len(events) == 3
    for event in events:
        holders = await EventCopy.filter(event_id=event.id).values_list("mailbox_id", flat=True)
        assert sorted(holders) == sorted(box.id for box in boxes)
    assert await EventAttendee.filter(event_id=events[0].id).count() == 4


async def test_a_declined_meeting_is_no_interaction(
    calendar: FakeGoogleCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    declined = calendar.add(
        "Pitch",
        NOW - days(2),
        organizer="sam@initech.com",
        attendees=[person("sam@initech.com"), person(ALICE, "declined")],
    )
    accepted = calendar.add(
        "Demo",
        NOW - days(1),
        organizer="sam@initech.com",
        attendees=[person("sam@initech.com"), person(ALICE)],
    )
    await syncer().run()
    stored = await copies(mailbox)
    copy = await EventCopy.get(item=declined)
    assert copy.response is Response.DECLINED
    assert not await Interaction.filter(event_id=stored[declined].id).exists()
    assert await Interaction.filter(event_id=stored[accepted].id).exists()


async def test_private_events_are_never_stored(
    calendar: FakeGoogleCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    calendar.add("Doctor", NOW + days(1), visibility="private")
    calendar.add("Interview", NOW + days(2), visibility="confidential")
    board = calendar.add("Board", NOW + days(3), attendees=[person("jane@globex.com")])
    sync = syncer()
    await sync.run()
    assert [e.summary for e in await Event.all()] == ["Board"]
    calendar.make_private(board, "confidential")
    done = await sync.run()
    assert done.report.private == 1 and done.report.deleted == 1
    assert not await Event.all().exists() and not await EventAttendee.all().exists()


async def test_tentative_and_cancelled_status(
    calendar: FakeGoogleCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    maybe = calendar.add("Maybe", NOW + days(1), status="tentative")
    await syncer().run()
    assert (await copies(mailbox))[maybe].status is EventStatus.TENTATIVE


async def test_a_series_deleted_by_its_masters_id_alone_takes_its_instances(
    calendar: FakeGoogleCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    series = calendar.add(
        "Weekly", NOW + days(1), recurrence=["RRULE:FREQ=WEEKLY;COUNT=3"], time_zone="UTC"
    )
    single = calendar.add("Single", NOW + days(2))
    sync = syncer()
    await sync.run()
    assert len(await copies(mailbox)) == 4
    # Google may tell a deleted series as its master's id, with no word of the instances.
    gone = {"items": [{"kind": "calendar#event", "id": series, "status": "cancelled"}],
            "nextSyncToken": "CPafter"}  # fmt: skip
    calendar.script(
        "calendar.events.list",
        lambda request: responses.Response(json.dumps(gone), media_type="application/json"),
    )
    done = await sync.run()
    assert done.report.removed == 3
    assert set(await copies(mailbox)) == {single}
