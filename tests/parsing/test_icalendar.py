"""read_calendar on real calendars: the icalendar and recurring-ical-events packages' own test
calendars (tests/corpora/README.md says whose), read value by value; the invitations, private
events and hostile inputs no corpus holds are made from those files by changing a line or two.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from mailroom.envelope import AttendeeKind, CalendarEvent, EventStatus, Response
from mailroom.parsing.icalendar import CalendarReading, read_calendar
from tests.conftest import CORPORA

CET = timezone(timedelta(hours=1))
CEST = timezone(timedelta(hours=2))
WIDE = {"start": datetime(1990, 1, 1, tzinfo=UTC), "end": datetime(2040, 1, 1, tzinfo=UTC)}


def corpus(name: str) -> bytes:
    path = CORPORA / name
    assert path.is_file(), f"corpus file {path} is missing"
    return path.read_bytes()


def read(name: str, **window: datetime | int) -> CalendarReading:
    return read_calendar(corpus(name), **{**WIDE, **window})


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def paris(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=CET)


def of(reading: CalendarReading, uid_start: str) -> list[CalendarEvent]:
    return [event for event in reading.events if event.uid.startswith(uid_start)]


def vevent(data: bytes, uid: bytes, recurrence_id: bytes) -> bytes:
    """The VEVENT of `data` with that UID and RECURRENCE-ID line, as written."""
    for block in data.split(b"BEGIN:VEVENT")[1:]:
        if b"\nUID:" + uid in block and recurrence_id in block:
            return b"BEGIN:VEVENT" + block.split(b"END:VEVENT")[0] + b"END:VEVENT\r\n"
    raise AssertionError(f"no VEVENT {uid!r} {recurrence_id!r}")


def endless(rule: bytes, dtstart: bytes = b"DTSTART:20220222T183000Z") -> bytes:
    """The Podio invitation repeated by `rule`."""
    data = corpus("icalendar/issue_350.ics").replace(b"DTSTART:20220222T183000Z", dtstart)
    return data.replace(b"DTEND:20220222T193000Z", b"DTEND:20220222T183001Z").replace(
        b"LOCATION:", b"RRULE:" + rule + b"\r\nLOCATION:"
    )


# A plain event


def test_a_single_event_is_read_whatever_the_window() -> None:
    # A REQUEST from Podio for February 2022, read with a window years later: still that meeting.
    reading = read("icalendar/issue_350.ics", start=utc(2030, 1, 1), end=utc(2031, 1, 1))

    assert reading.method == "REQUEST"
    assert reading.defects == ()
    (event,) = reading.events
    assert event.uid == "20055546456446"
    assert event.recurrence_id is None
    assert event.start == utc(2022, 2, 22, 18, 30)
    assert event.end == utc(2022, 2, 22, 19, 30)
    assert not event.all_day
    assert event.summary == 'Termin 4353 und"so"'
    assert event.location == "online"
    assert event.description is not None and event.description.startswith("Toller Termin für")
    assert event.status is EventStatus.CONFIRMED
    assert event.sequence == 0
    assert event.updated == utc(2022, 2, 20, 14, 28, 21)  # DTSTAMP: no LAST-MODIFIED
    assert not event.private
    assert event.organizer is None and event.attendees == ()
    assert event.defects == ()


def test_a_string_reads_as_its_bytes() -> None:
    data = corpus("icalendar/issue_350.ics")
    assert read_calendar(data.decode(), **WIDE) == read_calendar(data, **WIDE)


# A weekly series across summer time, with a moved and an excluded occurrence


def test_a_weekly_series_keeps_its_wall_clock_across_summer_time() -> None:
    # machBar's Google calendar: "OK Lab" every other Tuesday at 19:00 Berlin since 2017-12-12.
    reading = read(
        "recurring-ical-events/daylight_saving_time.ics",
        start=utc(2018, 1, 1),
        end=utc(2020, 1, 1),
    )
    lab = of(reading, "2o60r26f5pq7muep7htdi4r01n@google.com")

    # Biweekly from 2018-01-09 to 2019-12-24, the moved one counted once.
    assert len(lab) == 52
    assert len({event.recurrence_id for event in lab}) == 52
    by_id = {event.recurrence_id: event for event in lab}
    winter = by_id[utc(2018, 3, 20, 18)]
    summer = by_id[utc(2018, 4, 3, 17)]
    assert winter.start == datetime(2018, 3, 20, 19, tzinfo=CET)
    assert winter.start.utcoffset() == timedelta(hours=1)
    assert summer.start == datetime(2018, 4, 3, 19, tzinfo=CEST)
    assert summer.start.utcoffset() == timedelta(hours=2)
    assert summer.end - summer.start == timedelta(hours=2)
    assert winter.summary == summer.summary == "OK Lab"
    assert winter.location == "machBar Seminarraum"
    assert [event.recurrence_id for event in lab] == sorted(by_id)  # in order of start


def test_a_moved_occurrence_keeps_its_original_start_as_its_key() -> None:
    reading = read(
        "recurring-ical-events/daylight_saving_time.ics",
        start=utc(2018, 1, 1),
        end=utc(2020, 1, 1),
    )
    lab = of(reading, "2o60r26f5pq7muep7htdi4r01n@google.com")

    moved = next(event for event in lab if event.recurrence_id == utc(2018, 5, 1, 17))
    assert moved.start == datetime(2018, 5, 2, 19, tzinfo=CEST)
    assert moved.end == datetime(2018, 5, 2, 21, tzinfo=CEST)
    assert moved.sequence == 3  # the override's own, not the master's 2
    assert not [event for event in lab if event.start.date() == date(2018, 5, 1)]
    # A monthly series moved a week earlier: keyed by where it was.
    repair = of(reading, "52uuaoruefesorque1gpjabr6t@google.com")
    moved = next(event for event in repair if event.recurrence_id == utc(2018, 9, 29, 9))
    assert moved.start == datetime(2018, 9, 22, 11, tzinfo=CEST)


def test_an_excluded_occurrence_is_not_there() -> None:
    # "Montessori Schulklasse" on Thursdays from 2019-02-28, EXDATE 2019-03-07.
    reading = read(
        "recurring-ical-events/daylight_saving_time.ics",
        start=utc(2019, 2, 1),
        end=utc(2019, 4, 12),
    )
    school = of(reading, "7g6502aejkun96i5fenfu6hvc1@google.com")

    assert [event.start for event in school] == [
        datetime(2019, 2, 28, 8, 30, tzinfo=CET),
        datetime(2019, 3, 14, 8, 30, tzinfo=CET),
        datetime(2019, 3, 21, 8, 30, tzinfo=CET),
        datetime(2019, 3, 28, 8, 30, tzinfo=CET),
        datetime(2019, 4, 4, 8, 30, tzinfo=CEST),
        datetime(2019, 4, 11, 8, 30, tzinfo=CEST),
    ]
    assert school[-1].recurrence_id == utc(2019, 4, 11, 6, 30)


def test_occurrences_are_those_of_the_window_and_singles_all() -> None:
    reading = read(
        "recurring-ical-events/daylight_saving_time.ics",
        start=utc(2018, 6, 1),
        end=utc(2018, 7, 1),
    )
    series = [event for event in reading.events if event.recurrence_id is not None]
    singles = [event for event in reading.events if event.recurrence_id is None]

    assert series and all(
        event.start < utc(2018, 7, 1) and event.end > utc(2018, 6, 1) for event in series
    )
    assert [event.start for event in series] == sorted(event.start for event in series)
    # Single events are there from 2017 to 2019, outside the window too.
    assert min(event.start for event in singles) < utc(2017, 7, 1)
    assert max(event.start for event in singles) > utc(2019, 3, 1)


def test_a_change_to_this_and_future_occurrences_keys_each_by_its_original_start() -> None:
    reading = read(
        "recurring-ical-events/issue_75_range_parameter.ics",
        start=utc(2024, 9, 1),
        end=utc(2024, 9, 27),
    )
    keyed = {event.recurrence_id: (event.start, event.summary) for event in reading.events}

    assert len(keyed) == len(reading.events) == 14
    assert keyed[utc(2024, 9, 11, 12)] == (utc(2024, 9, 11, 12), "ORIGINAL EVENT")
    assert keyed[utc(2024, 9, 13, 12)] == (utc(2024, 9, 13, 9), "MODIFIED EVENT")
    assert keyed[utc(2024, 9, 17, 12)] == (utc(2024, 9, 17, 9), "MODIFIED EVENT")
    assert keyed[utc(2024, 9, 15, 12)] == (utc(2024, 9, 15, 17), "MODIFIED EVENT")
    assert keyed[utc(2024, 9, 23, 12)] == (utc(2024, 9, 24, 14, 22), "EDITED EVENT")


def test_overrides_without_their_series_are_kept_as_they_are() -> None:
    # A Google export whose series are cut to changed occurrences; read years later.
    reading = read(
        "recurring-ical-events/issue_173_only_modifications_error.ics",
        start=utc(2030, 1, 1),
        end=utc(2031, 1, 1),
    )
    lone = of(reading, "_6krj2dhl74q34b9j60sj4b9k8h238b9p6gok2ba68gojgchl6cpj0h1o88_R20231009")

    assert [(event.recurrence_id, event.start, event.end) for event in lone] == [
        (utc(2024, 1, 8, 14), paris(2024, 1, 8, 17), paris(2024, 1, 8, 17, 40)),
        (utc(2024, 1, 15, 14), paris(2024, 1, 15, 15, 30), paris(2024, 1, 15, 16, 15)),
    ]
    assert reading.method == "PUBLISH"
    assert reading.defects == ()


# All-day events


def test_all_day_events_run_from_midnight_utc_to_midnight_after() -> None:
    reading = read("icalendar/example.ics")

    assert [(event.summary, event.start, event.end, event.all_day) for event in reading.events] == [
        ("New Year's Day", utc(2022, 1, 1), utc(2022, 1, 2), True),
        ("Orthodox Christmas", utc(2022, 1, 7), utc(2022, 1, 8), True),
        ("International Women's Day", utc(2022, 3, 8), utc(2022, 3, 9), True),
    ]
    assert reading.events[1].location == "Russia"


def test_an_all_day_series_is_keyed_by_midnight_utc() -> None:
    reading = read(
        "recurring-ical-events/one_day_event_repeat_every_day.ics",
        start=utc(2019, 3, 1),
        end=utc(2019, 3, 8),
    )

    assert [(event.recurrence_id, event.start, event.end) for event in reading.events] == [
        (utc(2019, 3, day), utc(2019, 3, day), utc(2019, 3, day + 1)) for day in range(4, 8)
    ]
    assert all(event.all_day and event.summary == "test3" for event in reading.events)


def test_an_all_day_series_whose_changed_occurrence_was_excluded_later() -> None:
    # SEQUENCE 3 excludes 2024-07-15, which SEQUENCE 2 had moved: no occurrence left there.
    reading = read(
        "recurring-ical-events/issue_148_edge_case_1.ics",
        start=utc(2024, 6, 1),
        end=utc(2024, 9, 1),
    )

    assert [(event.recurrence_id, event.end) for event in reading.events] == [
        (utc(2024, 7, 1), utc(2024, 7, 8)),
        (utc(2024, 7, 29), utc(2024, 8, 5)),
    ]
    assert reading.events[0].sequence == 3
    assert reading.events[0].organizer is None  # ORGANIZER:aaa is no address
    assert "ORGANIZER 'aaa' is not an address: skipped" in reading.events[0].defects


# Organizer and attendees


def test_an_invitation_names_its_organizer_and_attendees() -> None:
    # A BlackBerry REQUEST: MAILTO in capitals, quoted CNs.
    reading = read("icalendar/property_params.ics")

    assert reading.method == "REQUEST"
    (event,) = reading.events
    assert event.uid == "XRIMCAL-628059586-522954492-9750559"
    assert event.all_day and event.start == utc(2012, 8, 14) and event.end == utc(2012, 8, 15)
    assert event.summary == "Test meeting from BB"
    assert event.sequence == 2
    assert event.organizer is not None
    assert event.organizer.address == "rembrand@daxlab.com"
    assert event.organizer.response is Response.ACCEPTED
    assert [(a.address, a.name, a.response, a.kind, a.optional) for a in event.attendees] == [
        ("rembrand@xs4all.nl", "RembrandXS", Response.NEEDS_ACTION, AttendeeKind.PERSON, False),
        ("rembrand@daxlab.com", "RembrandDX", Response.NEEDS_ACTION, AttendeeKind.PERSON, False),
        ("rembspam@xs4all.nl", "RembrandSB", Response.NEEDS_ACTION, AttendeeKind.PERSON, False),
    ]


def test_responses_rooms_and_roles() -> None:
    data = (
        corpus("icalendar/property_params.ics")
        .replace(
            b'PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN="RembrandXS"', b'PARTSTAT=ACCEPTED;CN="RembrandXS"'
        )
        .replace(
            b'PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN="RembrandDX"',
            b'PARTSTAT=DELEGATED;ROLE=OPT-PARTICIPANT;CN="RembrandDX"',
        )
        .replace(
            b'PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN="RembrandSB"',
            b'PARTSTAT=X-MAYBE;CUTYPE=ROOM;ROLE=NON-PARTICIPANT;CN="Room 4"',
        )
        .replace(
            b"UID:",
            b"ATTENDEE;CUTYPE=RESOURCE;PARTSTAT=TENTATIVE:mailto:beamer@xs4all.nl\r\n"
            b"ATTENDEE;CN=Nobody;PARTSTAT=DECLINED:mailto:nobody\r\n"
            b"ATTENDEE;CUTYPE=GROUP;PARTSTAT=DECLINED:MailTo:Team@XS4ALL.nl\r\nUID:",
        )
    )
    (event,) = read_calendar(data, **WIDE).events

    assert [(a.address, a.name, a.response, a.kind, a.optional) for a in event.attendees] == [
        ("rembrand@xs4all.nl", "RembrandXS", Response.ACCEPTED, AttendeeKind.PERSON, False),
        ("rembrand@daxlab.com", "RembrandDX", Response.DECLINED, AttendeeKind.PERSON, True),
        ("rembspam@xs4all.nl", "Room 4", Response.NEEDS_ACTION, AttendeeKind.ROOM, True),
        ("beamer@xs4all.nl", None, Response.TENTATIVE, AttendeeKind.RESOURCE, False),
        ("team@xs4all.nl", None, Response.DECLINED, AttendeeKind.GROUP, False),
    ]
    assert "ATTENDEE 'nobody' is not an address: skipped" in event.defects
    people = [a.address for a in event.attendees if a.kind is AttendeeKind.PERSON]
    assert people == ["rembrand@xs4all.nl", "rembrand@daxlab.com"]


def test_an_exchange_meeting_with_resources() -> None:
    # Exchange writes the same (redacted) address six times: the first mention is kept.
    (event,) = read("recurring-ical-events/subcomponents.ics").events

    assert event.start == datetime(2019, 5, 27, 14, tzinfo=CEST)
    assert event.end == datetime(2019, 5, 27, 16, 30, tzinfo=CEST)
    assert event.organizer is not None
    assert (event.organizer.address, event.organizer.name) == ("redacted@example.com", "redacted")
    assert [(a.address, a.name, a.response) for a in event.attendees] == [
        ("redacted@example.com", "redacted", Response.NEEDS_ACTION)
    ]
    assert event.sequence == 4
    assert event.updated == utc(2019, 5, 10, 7, 4, 57)  # LAST-MODIFIED before DTSTAMP


def test_conference_links() -> None:
    conferences = corpus("icalendar/rfc_7986_conferences.ics")
    # RFC 7986's example has no DTSTART: it cannot be placed.
    reading = read_calendar(conferences, **WIDE)
    assert reading.events == ()
    assert reading.defects == ("an event without a usable DTSTART was skipped (no UID)",)

    placed = conferences.replace(
        b"BEGIN:VEVENT\n", b"BEGIN:VEVENT\nUID:c\nDTSTART:20240101T100000Z\n"
    )
    (event,) = read_calendar(placed, **WIDE).events
    assert event.conference == "https://chat.example.com/audio?id=123456"  # the web one first

    invitation = corpus("icalendar/property_params.ics")
    google = invitation.replace(
        b"UID:", b"X-GOOGLE-CONFERENCE:https://meet.google.com/abc-defg-hij\r\nUID:"
    )
    teams = invitation.replace(
        b"UID:",
        b"X-MICROSOFT-SKYPETEAMSMEETINGURL:https://teams.microsoft.com/l/meetup-join/1\r\nUID:",
    )
    assert (
        read_calendar(google, **WIDE).events[0].conference == "https://meet.google.com/abc-defg-hij"
    )
    assert (
        read_calendar(teams, **WIDE).events[0].conference
        == "https://teams.microsoft.com/l/meetup-join/1"
    )
    assert read_calendar(invitation, **WIDE).events[0].conference is None


# METHOD: REQUEST, CANCEL, REPLY


def test_a_cancel_cancels_every_event_it_holds() -> None:
    data = corpus("icalendar/property_params.ics").replace(b"METHOD:REQUEST", b"METHOD:CANCEL")
    reading = read_calendar(data, **WIDE)

    assert reading.method == "CANCEL"
    (event,) = reading.events
    assert event.status is EventStatus.CANCELLED
    assert event.uid == "XRIMCAL-628059586-522954492-9750559"


def test_a_cancel_for_one_occurrence_of_a_series() -> None:
    # What Google sends when one "OK Lab" is called off: that override alone, METHOD:CANCEL.
    source = corpus("recurring-ical-events/daylight_saving_time.ics")
    one = vevent(
        source, b"2o60r26f5pq7muep7htdi4r01n", b"RECURRENCE-ID;TZID=Europe/Berlin:20180501T190000"
    )
    data = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:CANCEL\r\n" + one + b"END:VCALENDAR\r\n"
    reading = read_calendar(data, start=utc(2030, 1, 1), end=utc(2031, 1, 1))

    (event,) = reading.events
    assert event.uid == "2o60r26f5pq7muep7htdi4r01n@google.com"
    assert event.recurrence_id == utc(2018, 5, 1, 17)
    assert event.start == datetime(2018, 5, 2, 19, tzinfo=CEST)
    assert event.status is EventStatus.CANCELLED


def test_a_cancelled_status_and_a_tentative_one() -> None:
    data = corpus("icalendar/issue_350.ics")
    cancelled = read_calendar(data.replace(b"STATUS:CONFIRMED", b"STATUS:CANCELLED"), **WIDE)
    tentative = read_calendar(data.replace(b"STATUS:CONFIRMED", b"STATUS:tentative"), **WIDE)
    assert cancelled.events[0].status is EventStatus.CANCELLED
    assert tentative.events[0].status is EventStatus.TENTATIVE


def test_a_reply() -> None:
    # A real REPLY, of free/busy: no event in it.
    reading = read("icalendar/issue_27_multiple_periods_in_freebusy_one_freebusy.ics")
    assert (reading.method, reading.events, reading.defects) == ("REPLY", (), ())

    # An attendee's answer to the BlackBerry invitation.
    answer = (
        corpus("icalendar/property_params.ics")
        .replace(b"METHOD:REQUEST", b"METHOD:REPLY")
        .replace(
            b'PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN="RembrandSB"', b'PARTSTAT=ACCEPTED;CN="RembrandSB"'
        )
    )
    reading = read_calendar(answer, **WIDE)
    assert reading.method == "REPLY"
    (event,) = reading.events
    assert event.status is EventStatus.CONFIRMED
    assert {a.address: a.response for a in event.attendees}[
        "rembspam@xs4all.nl"
    ] is Response.ACCEPTED


# Private events


@pytest.mark.parametrize("level", [b"PRIVATE", b"CONFIDENTIAL"])
def test_a_private_event_keeps_only_its_key_and_times(level: bytes) -> None:
    data = corpus("recurring-ical-events/subcomponents.ics").replace(
        b"CLASS:PUBLIC", b"CLASS:" + level
    )
    (event,) = read_calendar(data, **WIDE).events

    assert event.private
    assert event.uid == "00000000-0000-0000-0000-000000000000"
    assert event.start == datetime(2019, 5, 27, 14, tzinfo=CEST)
    assert (event.summary, event.description, event.location) == (None, None, None)
    assert event.organizer is None and event.attendees == ()


# Time zones


def test_an_unknown_time_zone_is_read_as_utc() -> None:
    reading = read("icalendar/issue_722_missing_VTIMEZONE_custom.ics")

    (event,) = reading.events
    assert event.start == event.end == utc(2014, 8, 29, 8)  # no DTEND: no length
    assert "unknown time zone 'CUSTOM_tzid': read as UTC" in event.defects
    # No UID either: one derived from what is there, the same at every reading.
    assert event.uid.startswith("mailroom-")
    assert "it has no UID: one was derived from its start, summary and organizer" in event.defects
    assert read("icalendar/issue_722_missing_VTIMEZONE_custom.ics").events[0].uid == event.uid


def test_an_exchange_series_in_its_own_time_zone_and_with_spaces_in_its_rule() -> None:
    # Exchange's REQUEST: its own VTIMEZONE, no UID, and BYDAY=MO, TU, WE, TH, FR.
    reading = read("icalendar/issue_165_missing_event.ics")

    assert reading.method == "REQUEST"
    starts = [event.start for event in reading.events]
    # Weekdays from Friday 2015-07-03 until 2015-07-22 at 08:00 UTC.
    assert len(starts) == 14
    assert starts[0] == datetime(2015, 7, 3, 10, tzinfo=CEST)
    assert starts[1] == datetime(2015, 7, 6, 10, tzinfo=CEST)
    assert starts[-1] == datetime(2015, 7, 22, 10, tzinfo=CEST)
    assert all(start.weekday() < 5 for start in starts)
    assert len({event.uid for event in reading.events}) == 1
    assert "its RRULE has spaces in it: read without them" in reading.events[0].defects


def test_vendor_prefixed_time_zones_are_their_olson_names() -> None:
    # Evolution's and Lightning's TZIDs: icalendar warns as it strips the prefix (here, where
    # warnings are errors, the warning would be the reading's end).
    reading = read("icalendar/issue_313_globally_unique_tzid.ics")

    assert reading.defects == ()
    assert [(e.uid, e.start) for e in reading.events] == [
        ("libical-evolution@issue-313", datetime(2020, 4, 26, 14, tzinfo=CEST)),
        (
            "mozilla-lightning@issue-313",
            datetime(2020, 4, 26, 14, tzinfo=timezone(timedelta(hours=-4))),
        ),
        (
            "multipart-olson@issue-313",
            datetime(2020, 4, 26, 14, tzinfo=timezone(timedelta(hours=-3))),
        ),
    ]
    assert all(not e.defects for e in reading.events)


def test_floating_times_follow_x_wr_timezone() -> None:
    data = corpus("icalendar/issue_350.ics").replace(
        b"DTSTART:20220222T183000Z", b"DTSTART:20220222T183000"
    )
    (event,) = read_calendar(data, **WIDE).events
    assert event.start == datetime(2022, 2, 22, 18, 30, tzinfo=CET)  # X-WR-TIMEZONE:Europe/Berlin
    assert event.defects == ()

    unknown = data.replace(b"X-WR-TIMEZONE:Europe/Berlin", b"X-WR-TIMEZONE:Mars/Olympus_Mons")
    reading = read_calendar(unknown, **WIDE)
    assert reading.defects == ("unknown X-WR-TIMEZONE 'Mars/Olympus_Mons': ignored",)
    assert reading.events[0].start == utc(2022, 2, 22, 18, 30)
    assert "a time without a time zone: read as UTC" in reading.events[0].defects


def test_a_sequence_that_is_no_number() -> None:
    data = corpus("icalendar/property_params.ics").replace(b"SEQUENCE:2", b"SEQUENCE:two")
    (event,) = read_calendar(data, **WIDE).events
    assert event.sequence == 0
    assert "SEQUENCE 'two' is not a number: read as 0" in event.defects


# Hostile and broken input


def test_components_left_open_are_closed_and_read() -> None:
    source = corpus("recurring-ical-events/daylight_saving_time.ics")
    cut = source[: source.index(b"SUMMARY:Open Health HACKademy - freie Termine")]
    reading = read_calendar(cut, start=utc(2019, 3, 1), end=utc(2019, 4, 1))

    assert reading.defects == ("the calendar ends inside VCALENDAR > VEVENT: closed it there",)
    assert [event.summary for event in reading.events if event.recurrence_id is None] == [
        '"Bioökonomie-Tag"'
    ]
    # The open one is read too, as far as it goes: six occurrences, its title cut off.
    open_one = of(reading, "37jkbgv9regint2hqhlmd9risn@google.com")
    assert len(open_one) == 6 and open_one[0].summary is None

    for name in ("icalendar/small_bad_calendar.ics", "icalendar/big_bad_calendar.ics"):
        reading = read(name)
        assert reading.events == ()
        assert reading.defects[0] == "the calendar ends inside VCALENDAR: closed it there"
        assert reading.defects[1:] and set(reading.defects[1:]) == {
            "an event without a usable DTSTART was skipped (no UID)"
        }


@pytest.mark.parametrize(
    ("name", "defect"),
    [
        ("icalendar/fuzz_testcase_invalid_month.ics", "not an iCalendar file: Invalid month: ''"),
        ("icalendar/issue_104_broken_calendar.ics", "not an iCalendar file: Content line could"),
        (
            "icalendar/broken_dtstart.ics",
            "an event without a usable DTSTART was skipped (UID 'test-123')",
        ),
        ("icalendar/broken_ical.ics", "an event without a usable DTSTART was skipped (UID 'abc')"),
        ("icalendar/fuzz_testcase_0_char_in_component_name.ics", "the calendar ends inside ?"),
    ],
)
def test_broken_calendars_are_defects(name: str, defect: str) -> None:
    reading = read(name)
    assert reading.events == ()
    assert any(found.startswith(defect) for found in reading.defects), reading.defects


def test_binary_garbage_is_a_defect() -> None:
    garbage = bytes(range(256)) * 64
    for data in (garbage, b"BEGIN:VCALENDAR\r\n" + garbage, b"\xff\xfe" + garbage[::-1]):
        reading = read_calendar(data, **WIDE)
        assert reading.method is None and reading.events == ()
        assert reading.defects
        # Stored as JSON by PostgreSQL, which takes no NUL: no control character in a defect.
        assert not [d for d in reading.defects if any(ord(c) < 32 for c in d)], reading.defects


def test_a_broken_exdate_is_ignored_not_the_series() -> None:
    # Two Google events without UID or summary: one series to the reader, its EXDATE kept.
    reading = read("icalendar/parsing_error.ics", start=utc(2008, 1, 1), end=utc(2009, 1, 1))
    days = [event.start.day for event in reading.events]
    assert days == [*range(3, 11), *range(12, 24)]
    assert all(event.all_day for event in reading.events)


def test_an_empty_rule_is_no_rule() -> None:
    # calendarlabs.com's holidays: every one with an empty "RRULE:" line.
    reading = read("recurring-ical-events/Germany_Holidays.ics")

    assert len(reading.events) == 34 and reading.defects == ()
    assert all(e.recurrence_id is None and e.all_day and not e.defects for e in reading.events)
    assert (reading.events[0].summary, reading.events[0].start) == (
        "New Year's Day",
        utc(2019, 1, 1),
    )


def test_a_series_the_library_cannot_expand_is_kept_as_one_event() -> None:
    # UNTL for UNTIL: recurring-ical-events gives up on the rule.
    reading = read("recurring-ical-events/bad_rrule_missing_until_event.ics")

    (event,) = reading.events
    assert (event.uid, event.recurrence_id) == ("blabla", None)
    assert event.start == datetime(2019, 8, 1, 14, tzinfo=CET)  # London in summer
    assert event.defects[0].startswith("it could not be expanded: BadRuleStringFormat")
    assert reading.defects[0].startswith("the series 'blabla': it could not be expanded")


def test_rdates_that_are_times_of_day_are_ignored() -> None:
    reading = read("icalendar/multiple_timezones.ics")

    assert reading.defects == ()
    assert {(e.uid, e.recurrence_id) for e in reading.events} == {
        ("test-vtime-named-timezone", utc(2021, 3, 2, 5)),
        ("test-vtime-utc", utc(2021, 3, 2)),
        ("test-vtime-floating", utc(2021, 3, 2)),
    }
    assert all("an RDATE could not be read: ignored" in e.defects for e in reading.events)


def test_count_and_until_together_keep_until() -> None:
    data = endless(b"FREQ=DAILY;COUNT=3;UNTIL=20220301T000000Z")
    reading = read_calendar(data, start=utc(2022, 1, 1), end=utc(2025, 1, 1))

    assert [e.start.day for e in reading.events] == [22, 23, 24, 25, 26, 27, 28]
    assert "its RRULE has both COUNT and UNTIL: COUNT ignored" in reading.events[0].defects


def test_too_many_bytes_are_refused() -> None:
    source = corpus("recurring-ical-events/daylight_saving_time.ics")
    body = source[source.index(b"BEGIN:VEVENT") : source.rindex(b"END:VCALENDAR")]
    big = b"BEGIN:VCALENDAR\r\n" + body * (5 * 1024 * 1024 // len(body) + 1) + b"END:VCALENDAR\r\n"
    assert len(big) > 5 * 1024 * 1024

    began = time.process_time()
    for data in (big, big.decode()):
        reading = read_calendar(data, **WIDE)
        assert reading.events == ()
        assert len(reading.defects) == 1 and "4194304" in reading.defects[0]
    assert time.process_time() - began < 1
    assert read_calendar(source, **WIDE, max_bytes=1000).defects == (
        f"{len(source)} bytes, over the 1000-byte limit: not read",
    )


def test_nesting_is_bounded() -> None:
    reading = read_calendar(b"BEGIN:VCALENDAR\r\n" + b"BEGIN:VEVENT\r\n" * 50_000, **WIDE)
    assert reading == CalendarReading(None, (), ("components nested more than 8 deep: not read",))


@pytest.mark.parametrize(
    ("rule", "step"),
    [(b"FREQ=SECONDLY", timedelta(seconds=1)), (b"FREQ=MINUTELY", timedelta(minutes=1))],
)
def test_a_rule_that_never_ends_stops_at_the_limit(rule: bytes, step: timedelta) -> None:
    began = time.process_time()
    reading = read_calendar(endless(rule), start=utc(2022, 1, 1), end=utc(2025, 1, 1))
    elapsed = time.process_time() - began

    assert elapsed < 2, f"{elapsed:.1f}s"
    assert len(reading.events) == 1000
    assert reading.defects == ("more than 1000 occurrences in the window: read the first 1000",)
    first = utc(2022, 2, 22, 18, 30)
    assert [event.recurrence_id for event in reading.events] == [
        first + n * step for n in range(1000)
    ]
    assert reading.events[-1].start == first + 999 * step


def test_the_limit_is_for_the_whole_calendar() -> None:
    reading = read(
        "recurring-ical-events/daylight_saving_time.ics",
        start=utc(2018, 1, 1),
        end=utc(2020, 1, 1),
        max_occurrences=25,
    )
    series = [event for event in reading.events if event.recurrence_id is not None]
    assert len(series) == 25
    assert reading.defects == ("more than 25 occurrences in the window: read the first 25",)
    # The first 25 of all series by start.
    assert series[0].start == datetime(2018, 1, 2, 18, tzinfo=CET)
    assert [event.start for event in series] == sorted(event.start for event in series)


@pytest.mark.parametrize(
    ("rule", "dtstart", "defect"),
    [
        # Every second since a year before the window: dateutil would walk 31 million seconds.
        (
            b"FREQ=SECONDLY",
            b"DTSTART:20210101T000000Z",
            "it repeats SECONDLY from 2021-01-01: too often before the window",
        ),
        # The 30th of February: dateutil would look for it until the year 9999.
        (
            b"FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
            b"DTSTART:20220222T183000Z",
            "its rule never matches a day",
        ),
        (b"FREQ=MONTHLY;BYDAY=6MO", b"DTSTART:20220222T183000Z", "its rule never matches a day"),
        # The same start for ever.
        (b"FREQ=DAILY;INTERVAL=0", b"DTSTART:20220222T183000Z", "its INTERVAL is below 1"),
        (b"FREQ=SOMETIMES", b"DTSTART:20220222T183000Z", "its RRULE could not be read"),
        (
            b"FREQ=HOURLY;BYSETPOS=2",
            b"DTSTART:20220222T183000Z",
            "it sets BYSETPOS on a rule repeating HOURLY",
        ),
    ],
)
def test_a_rule_too_costly_to_expand_keeps_its_event_once(
    rule: bytes, dtstart: bytes, defect: str
) -> None:
    began = time.process_time()
    reading = read_calendar(endless(rule, dtstart), start=utc(2022, 1, 1), end=utc(2025, 1, 1))
    assert time.process_time() - began < 1

    (event,) = reading.events
    assert event.recurrence_id is None and event.uid == "20055546456446"
    assert any(found.startswith(defect) for found in event.defects), event.defects


def test_occurrences_that_overlap_by_the_thousand_are_not_expanded() -> None:
    # Every minute, each a day long: any span asked would hold 1440 of them.
    data = endless(b"FREQ=MINUTELY").replace(b"DTEND:20220222T183001Z", b"DTEND:20220223T183000Z")
    (event,) = read_calendar(data, start=utc(2022, 1, 1), end=utc(2025, 1, 1)).events
    assert "more than 1000 of its occurrences run at once: kept as one event, not expanded" in (
        event.defects
    )


def test_a_window_that_ends_before_it_starts_holds_no_occurrence() -> None:
    reading = read(
        "recurring-ical-events/daylight_saving_time.ics",
        start=utc(2019, 1, 1),
        end=utc(2018, 1, 1),
    )
    assert reading.events and all(event.recurrence_id is None for event in reading.events)
    assert reading.defects == ()


def test_many_costly_rules_share_one_budget() -> None:
    source = endless(b"FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30")
    head, rest = source.split(b"BEGIN:VEVENT", 1)
    block, tail = rest.split(b"END:VEVENT", 1)
    copies = b"".join(
        b"BEGIN:VEVENT" + block.replace(b"UID:20055546456446", b"UID:%d" % n) + b"END:VEVENT\r\n"
        for n in range(200)
    )
    began = time.process_time()
    reading = read_calendar(head + copies + tail, start=utc(2022, 1, 1), end=utc(2025, 1, 1))
    assert time.process_time() - began < 3

    assert len(reading.events) == 200
    never = [e for e in reading.events if any("never matches" in d for d in e.defects)]
    refused = [e for e in reading.events if any("cost too much" in d for d in e.defects)]
    assert never and refused and len(never) + len(refused) == 200
