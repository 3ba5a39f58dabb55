"""CalDAV sync against a real Radicale: discovery, the first sync, increments after PUT and
DELETE, series whose overrides change, private events, an invalid sync token, calendars that
go away."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest

from mailroom.models import CalendarCursor, Event, EventCopy, Mailbox, MailboxStatus
from mailroom.settings import Settings
from mailroom.sources.caldav import Account, CalDavClient, discover
from tests.sources.caldav.conftest import (
    MONDAY,
    calendar,
    connect,
    sync,
    vevent,
)
from tests.sources.caldav.radicale import Radicale

WEEKLY = "FREQ=WEEKLY;COUNT=6"


def _account(radicale: Radicale, url: str) -> Account:
    return Account(url, radicale.user, radicale.password, allow_private=True)


async def _items(mailbox: Mailbox) -> dict[str, str | None]:
    """Each stored item of the mailbox, with its event's title."""
    copies = await EventCopy.filter(mailbox_id=mailbox.id).prefetch_related("event")
    return {copy.item: copy.event.summary for copy in copies}


async def test_discovery_from_the_server_the_home_and_a_collection(radicale: Radicale) -> None:
    work = radicale.calendar("work")
    radicale.calendar("family")
    radicale.calendar("tasks", component="VTODO")
    for url in (radicale.url + "/", radicale.home):
        async with CalDavClient(_account(radicale, url), timeout=10) as client:
            found = await discover(client)
        assert [c.href for c in found] == ["/alice/family/", "/alice/work/"], url
        assert all(c.supports_sync for c in found)  # Radicale has RFC 6578
        assert found[1].name == "work" and found[1].url == work
    async with CalDavClient(_account(radicale, work), timeout=10) as client:
        [only] = await discover(client)
    assert only.href == "/alice/work/"


async def test_first_sync_and_increments(
    caldav_settings: Settings, team: object, radicale: Radicale
) -> None:
    work = radicale.calendar("work")
    radicale.put(work, "lunch.ics", calendar(vevent("lunch@acme", MONDAY, "Lunch")))
    series = vevent("standup@acme", MONDAY, "Standup", rrule=WEEKLY)
    radicale.put(work, "standup.ics", calendar(series))
    mailbox = await connect(caldav_settings, team, radicale.home, radicale.user, radicale.password)

    first = await sync(caldav_settings, mailbox)
    assert (first.calendars, first.events.new, first.resynced) == (1, 7, 1)
    items = await _items(mailbox)
    weeks = [MONDAY + timedelta(weeks=n) for n in range(6)]
    keys = [f"/alice/work/standup.ics#{w.strftime('%Y-%m-%dT%H:%M:%SZ')}" for w in weeks]
    assert items == {"/alice/work/lunch.ics": "Lunch", **dict.fromkeys(keys, "Standup")}
    assert (await Mailbox.get(id=mailbox.id)).status is MailboxStatus.ACTIVE
    cursor = await CalendarCursor.get(mailbox_id=mailbox.id, calendar="/alice/work/")
    assert cursor.state["mode"] == "sync" and cursor.state["token"]

    again = await sync(caldav_settings, mailbox)
    assert (again.events.new, again.fetched, again.resynced) == (0, 0, 0)

    # New, changed and deleted resources, one pass.
    radicale.put(work, "review.ics", calendar(vevent("review@acme", MONDAY, "Review")))
    radicale.put(
        work, "lunch.ics", calendar(vevent("lunch@acme", MONDAY, "Team lunch", sequence=1))
    )
    radicale.delete(work + "standup.ics")
    moved = await sync(caldav_settings, mailbox)
    assert moved.fetched == 2
    assert (moved.events.new, moved.events.updated, moved.events.removed) == (1, 1, 6)
    assert await _items(mailbox) == {
        "/alice/work/lunch.ics": "Team lunch",
        "/alice/work/review.ics": "Review",
    }
    assert await Event.all().count() == 2  # the series' occurrences went with their copies


async def test_a_series_whose_override_changes(
    caldav_settings: Settings, team: object, radicale: Radicale
) -> None:
    work = radicale.calendar("work")
    second = MONDAY + timedelta(weeks=1)
    third = MONDAY + timedelta(weeks=2)
    master = vevent("weekly@acme", MONDAY, "Weekly", rrule=WEEKLY, exdate=third)
    moved = vevent(
        "weekly@acme", second + timedelta(hours=2), "Weekly (late)", recurrence_id=second
    )
    radicale.put(work, "weekly.ics", calendar(master, moved))
    mailbox = await connect(caldav_settings, team, work, radicale.user, radicale.password)
    await sync(caldav_settings, mailbox)
    key = f"/alice/work/weekly.ics#{second.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    gone = f"/alice/work/weekly.ics#{third.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    items = await _items(mailbox)
    assert len(items) == 5 and items[key] == "Weekly (late)" and gone not in items
    copy = await EventCopy.get(mailbox_id=mailbox.id, item=key).prefetch_related("event")
    assert copy.event.starts_at == second + timedelta(hours=2)

    # The override moves again, and the exception is lifted: the third week comes back.
    master = vevent("weekly@acme", MONDAY, "Weekly", rrule=WEEKLY, sequence=1)
    moved = vevent(
        "weekly@acme",
        second + timedelta(hours=4),
        "Weekly (later)",
        recurrence_id=second,
        sequence=1,
    )
    radicale.put(work, "weekly.ics", calendar(master, moved))
    done = await sync(caldav_settings, mailbox)
    assert done.events.new == 1
    items = await _items(mailbox)
    assert len(items) == 6 and items[key] == "Weekly (later)" and items[gone] == "Weekly"
    copy = await EventCopy.get(mailbox_id=mailbox.id, item=key).prefetch_related("event")
    assert copy.event.starts_at == second + timedelta(hours=4)
    assert await Event.all().count() == 6

    # The override goes: that week is the series' own again.
    radicale.put(work, "weekly.ics", calendar(master))
    await sync(caldav_settings, mailbox)
    items = await _items(mailbox)
    assert len(items) == 6 and items[key] == "Weekly"
    copy = await EventCopy.get(mailbox_id=mailbox.id, item=key).prefetch_related("event")
    assert copy.event.starts_at == second


@pytest.mark.parametrize("klass", ["PRIVATE", "CONFIDENTIAL"])
async def test_private_events_are_never_stored_and_removed_when_made_private(
    caldav_settings: Settings, team: object, radicale: Radicale, klass: str
) -> None:
    work = radicale.calendar("work")
    radicale.put(work, "secret.ics", calendar(vevent("secret@acme", MONDAY, "Doctor", klass=klass)))
    radicale.put(work, "plan.ics", calendar(vevent("plan@acme", MONDAY, "Planning")))
    radicale.put(work, "series.ics", calendar(vevent("s@acme", MONDAY, "1:1", rrule=WEEKLY)))
    mailbox = await connect(caldav_settings, team, work, radicale.user, radicale.password)
    first = await sync(caldav_settings, mailbox)
    assert first.events.private == 1
    assert "Doctor" not in (await _items(mailbox)).values()
    assert not await Event.filter(summary="Doctor").exists()

    radicale.put(work, "plan.ics", calendar(vevent("plan@acme", MONDAY, "Planning", klass=klass)))
    series = vevent("s@acme", MONDAY, "1:1", rrule=WEEKLY, klass=klass)
    radicale.put(work, "series.ics", calendar(series))
    later = await sync(caldav_settings, mailbox)
    assert later.events.removed == 7
    assert await _items(mailbox) == {}
    assert await Event.all().count() == 0  # not even their times


async def test_an_invalid_sync_token_lists_the_calendar_again_without_duplicates(
    caldav_settings: Settings, team: object, radicale: Radicale
) -> None:
    work = radicale.calendar("work")
    for n in range(3):
        radicale.put(work, f"e{n}.ics", calendar(vevent(f"e{n}@acme", MONDAY, f"Event {n}")))
    mailbox = await connect(caldav_settings, team, work, radicale.user, radicale.password)
    await sync(caldav_settings, mailbox)
    cursor = await CalendarCursor.get(mailbox_id=mailbox.id, calendar="/alice/work/")
    # The server forgets the token (Radicale answers 403 valid-sync-token), and meanwhile one
    # event was deleted and one added: the full listing finds both.
    state = {**cursor.state, "token": "http://radicale.org/ns/sync/" + "0" * 64}
    await CalendarCursor.filter(id=cursor.id).update(state=state)
    radicale.delete(work + "e0.ics")
    radicale.put(work, "e3.ics", calendar(vevent("e3@acme", MONDAY, "Event 3")))
    done = await sync(caldav_settings, mailbox)
    assert done.resynced == 1
    assert (done.events.new, done.events.removed, done.events.unchanged) == (1, 1, 2)
    assert sorted((await _items(mailbox)).values()) == ["Event 1", "Event 2", "Event 3"]
    assert await Event.all().count() == 3 and await EventCopy.all().count() == 3
    after = await CalendarCursor.get(id=cursor.id)
    assert after.generation == cursor.generation + 1 and after.state["token"] != state["token"]


async def test_a_calendar_deleted_on_the_server_is_forgotten(
    caldav_settings: Settings, team: object, radicale: Radicale
) -> None:
    work = radicale.calendar("work")
    family = radicale.calendar("family")
    radicale.put(work, "a.ics", calendar(vevent("a@acme", MONDAY, "Work thing")))
    radicale.put(family, "b.ics", calendar(vevent("b@acme", MONDAY, "Family thing")))
    mailbox = await connect(caldav_settings, team, radicale.home, radicale.user, radicale.password)
    assert (await sync(caldav_settings, mailbox)).calendars == 2
    radicale.delete(family)
    done = await sync(caldav_settings, mailbox)
    assert (done.calendars, done.forgotten, done.events.deleted) == (1, 1, 1)
    assert list((await _items(mailbox)).values()) == ["Work thing"]
    assert not await CalendarCursor.filter(calendar="/alice/family/").exists()


async def test_the_window_moves_on_with_a_full_listing_a_week_later(
    caldav_settings: Settings, team: object, radicale: Radicale
) -> None:
    work = radicale.calendar("work")
    radicale.put(work, "a.ics", calendar(vevent("a@acme", MONDAY, "A")))
    mailbox = await connect(caldav_settings, team, work, radicale.user, radicale.password)
    await sync(caldav_settings, mailbox)
    cursor = await CalendarCursor.get(mailbox_id=mailbox.id)
    old = (MONDAY - timedelta(days=8)).astimezone(UTC).isoformat()
    await CalendarCursor.filter(id=cursor.id).update(state={**cursor.state, "baseline": old})
    done = await sync(caldav_settings, mailbox)
    assert (done.resynced, done.fetched, done.events.unchanged, done.events.new) == (1, 1, 1, 0)
    assert (await CalendarCursor.get(id=cursor.id)).generation == cursor.generation + 1
