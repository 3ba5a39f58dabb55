"""Real calendars (the icalendar and recurring-ical-events packages' test data, in
tests/corpora/) through CalDAV: uploaded to a real Radicale, which takes the well-formed ones,
then synced; and served as they are, broken ones too, by the scripted server."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx

from mailroom.models import Event, EventCopy, Mailbox
from mailroom.parsing.icalendar import read_calendar
from mailroom.settings import Settings
from mailroom.sources.caldav.account import calendar_rules
from tests.conftest import CORPORA
from tests.sources.caldav.conftest import connect, sync
from tests.sources.caldav.radicale import Radicale
from tests.sources.caldav.scripted import PASSWORD, USER, scripted_server

FILES = sorted((CORPORA / "recurring-ical-events").glob("*.ics")) + sorted(
    (CORPORA / "icalendar").glob("*.ics")
)
# Calendars Radicale must take (it refuses others as malformed, which the scripted server
# serves instead): a series across a change to summer time with moved and excluded
# occurrences, a moved occurrence, RANGE=THISANDFUTURE, an all-day daily series.
TAKEN = {
    "daylight_saving_time.ics",
    "issue_48_daylight_aware_repeats.ics",
    "issue_62_moved_event.ics",
    "issue_75_range_parameter.ics",
    "one_day_event_repeat_every_day.ics",
    "example.ics",
}


def _window(settings: Settings) -> Settings:
    """A year back and a month ahead, with room for every occurrence of the daily series."""
    return settings.model_copy(
        update={
            "calendar_days_back": 365,
            "calendar_days_ahead": 30,
            "calendar_max_occurrences": 5000,
        }
    )


def _expected(settings: Settings, path: Path, now: datetime) -> set[tuple[str, datetime | None]]:
    rules = calendar_rules(settings)
    start, end = rules.window(now)
    reading = read_calendar(
        path.read_bytes(), start=start, end=end, max_occurrences=rules.max_occurrences
    )
    return {(e.uid, e.recurrence_id) for e in reading.events if not e.private}


async def _stored(mailbox: Mailbox, calendar: str) -> set[tuple[str, datetime | None]]:
    copies = await EventCopy.filter(mailbox_id=mailbox.id, calendar=calendar)
    events = await Event.filter(id__in=[c.event_id for c in copies])
    return {(e.uid, e.recurrence_id.astimezone(UTC) if e.recurrence_id else None) for e in events}


async def test_real_calendars_from_radicale_are_stored_occurrence_for_occurrence(
    caldav_settings: Settings, team: object, radicale: Radicale
) -> None:
    settings = _window(caldav_settings)
    taken: dict[str, Path] = {}
    with httpx.Client(auth=(radicale.user, radicale.password), timeout=30) as client:
        for number, path in enumerate(FILES):
            # A whole calendar PUT on a collection: Radicale stores one resource per UID.
            url = f"{radicale.home}c{number:02d}/"
            answer = client.put(
                url, content=path.read_bytes(), headers={"content-type": "text/calendar"}
            )
            if answer.status_code == 201:
                taken[f"/alice/c{number:02d}/"] = path
    assert TAKEN <= {path.name for path in taken.values()}
    mailbox = await connect(settings, team, radicale.home, radicale.user, radicale.password)
    done = await sync(settings, mailbox)
    assert done.calendars == len(taken) and done.unreadable == 0
    for calendar, path in taken.items():
        if path.name not in TAKEN:
            continue  # Radicale rewrote what it could not take as it was
        expected = _expected(settings, path, datetime.now(UTC))
        assert await _stored(mailbox, calendar) == expected, path.name
    # The moved Karaoke night of 31 December 2021 is keyed by its original start.
    moved = [c for c in await EventCopy.filter(mailbox_id=mailbox.id) if "#2021-12-31T" in c.item]
    assert all(c.item.endswith("#2021-12-31T20:30:00Z") for c in moved)

    again = await sync(settings, mailbox)
    assert (again.fetched, again.events.new, again.events.removed) == (0, 0, 0)


async def test_every_corpus_calendar_served_as_it_is_breaks_nothing(
    caldav_settings: Settings, team: object
) -> None:
    settings = _window(caldav_settings)
    with scripted_server() as server:
        server.resources = {path.name: path.read_text(errors="replace") for path in FILES}
        mailbox = await connect(settings, team, server.url + "/cal/", USER, PASSWORD)
        done = await sync(settings, mailbox)
    assert done.fetched == len(FILES) and done.unreadable == 0
    expected: set[tuple[str, datetime | None]] = set()
    for path in FILES:
        expected |= _expected(settings, path, datetime.now(UTC))
    assert await _stored(mailbox, "/cal/") == expected
