"""`mailroom ingest ... FILE.ics` and `mailroom events SLUG --json`: meetings from iCalendar
files, listed one occurrence per line, as a person runs them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.runner import mailroom_in, one_line

pytestmark = pytest.mark.embedded

CORPORA = Path(__file__).parent.parent / "corpora"
# recurring-ical-events' test data: a weekly series in Europe/Lisbon with no end, across the end
# of summer time on 25 October 2020; a monthly Google Calendar series with one occurrence moved.
LISBON = CORPORA / "recurring-ical-events" / "issue_48_daylight_aware_repeats.ics"
MOVED = CORPORA / "recurring-ical-events" / "issue_62_moved_event.ics"
# An all-day meeting request from a BlackBerry, three attendees: icalendar's test data.
REQUEST = CORPORA / "icalendar" / "property_params.ics"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for args in (["workspace", "create", "acme"], ["member", "add", "acme", "alice@acme.com"]):
        assert mailroom_in(tmp_path, *args).returncode == 0
    # Recurring events expand over the window around now: make it reach back to 2012.
    return tmp_path


ENV = {"MAILROOM_CALENDAR_DAYS_BACK": "36500"}


def events(folder: Path, *args: str) -> list[dict[str, object]]:
    result = mailroom_in(folder, "events", "acme", "--json", *args, env=ENV)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_an_ics_file_becomes_meetings_and_a_second_import_doubles_nothing(folder: Path) -> None:
    shutil.copy(REQUEST, folder / "request.ics")
    args = ["ingest", "--workspace", "acme", "--mailbox", "alice@acme.com", "request.ics"]
    first = mailroom_in(folder, *args, env=ENV)
    assert first.returncode == 0, first.stderr
    assert "1 calendar file: 1 new meeting" in first.stdout
    again = mailroom_in(folder, *args, env=ENV)
    assert "0 new meetings, 0 updated, 1 unchanged" in again.stdout

    [meeting] = events(folder)
    assert meeting["uid"] == "XRIMCAL-628059586-522954492-9750559"
    assert meeting["summary"] == "Test meeting from BB"
    assert meeting["all_day"] is True and meeting["recurrence_id"] is None
    assert meeting["start"] == "2012-08-14T00:00:00+00:00"
    assert meeting["end"] == "2012-08-15T00:00:00+00:00"
    assert meeting["organizer"] == {"address": "rembrand@daxlab.com", "name": None}
    # The organizer, listed as an attendee too, is the organizer.
    assert [a["address"] for a in meeting["attendees"]] == [  # type: ignore[union-attr]
        "rembrand@xs4all.nl",
        "rembspam@xs4all.nl",
    ]
    assert {a["response"] for a in meeting["attendees"]} == {"NEEDS_ACTION"}  # type: ignore[union-attr]
    assert meeting["calendars"] == ["alice@acme.com"]


def test_a_series_across_a_change_of_summer_time_keeps_its_local_hour(folder: Path) -> None:
    result = mailroom_in(folder, "ingest", "acme", "alice@acme.com", str(LISBON), env=ENV)
    assert result.returncode == 0, result.stderr
    series = events(folder, "--from", "2020-10-01", "--to", "2020-11-10")
    # 11:30 in Lisbon each Monday: +01:00 until 25 October 2020, +00:00 after.
    assert [e["start"] for e in series] == [
        "2020-10-05T11:30:00+01:00",
        "2020-10-12T11:30:00+01:00",
        "2020-10-19T11:30:00+01:00",
        "2020-10-26T11:30:00+00:00",
        "2020-11-02T11:30:00+00:00",
        "2020-11-09T11:30:00+00:00",
    ]
    # Each occurrence is keyed by its original start in UTC.
    assert series[0]["recurrence_id"] == "2020-10-05T10:30:00+00:00"
    assert series[3]["recurrence_id"] == "2020-10-26T11:30:00+00:00"
    # The series has no end: it is expanded up to the window's, a year ahead, not forever.
    everything = events(folder)
    assert 300 < len(everything) < 1000


def test_a_moved_occurrence_replaces_the_one_it_moves(folder: Path) -> None:
    result = mailroom_in(folder, "ingest", "acme", "alice@acme.com", str(MOVED), env=ENV)
    assert result.returncode == 0, result.stderr
    karaoke = events(folder, "--from", "2021-11-01", "--to", "2022-02-01")
    # The last Friday of each month, but December's moved to the 17th.
    assert [e["start"] for e in karaoke] == [
        "2021-11-26T21:30:00+01:00",
        "2021-12-17T21:30:00+01:00",
        "2022-01-28T21:30:00+01:00",
    ]
    assert karaoke[1]["recurrence_id"] == "2021-12-31T20:30:00+00:00"


def test_the_window_and_a_bad_date_are_one_line_each(folder: Path) -> None:
    shutil.copy(LISBON, folder / "lisbon.ics")
    mailroom_in(folder, "ingest", "acme", "alice@acme.com", "lisbon.ics", env=ENV)
    inside = events(folder, "--from", "2020-10-05T12:00:00+01:00", "--to", "2020-10-06")
    # Overlapping the window is enough: the meeting runs until 13:00.
    assert [e["start"] for e in inside] == ["2020-10-05T11:30:00+01:00"]
    bad = mailroom_in(folder, "events", "acme", "--from", "yesterday")
    assert bad.returncode == 2 and "yesterday" in bad.stderr


def test_a_file_that_is_not_a_calendar_is_skipped_with_a_line(folder: Path) -> None:
    broken = folder / "broken.ics"
    broken.write_bytes(b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nSUMMARY:no start\r\n")
    result = mailroom_in(folder, "ingest", "acme", "alice@acme.com", str(broken), env=ENV)
    assert result.returncode == 1
    assert "skipped" in result.stderr and "broken.ics" in result.stderr
    assert "Traceback" not in result.stderr
    missing = mailroom_in(folder, "events", "nowhere")
    assert "nowhere" in one_line(missing)
