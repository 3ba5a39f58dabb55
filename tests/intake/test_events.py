"""The calendar intake: one event per meeting occurrence, a copy per calendar, private events
never stored, attendees as people under the workspace's rules, and removal."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

from mailroom.envelope import Attendee, AttendeeKind, CalendarEvent, EventStatus, Response
from mailroom.intake.events import EventItem, apply_events, sweep_events
from mailroom.models import (
    Event,
    EventAttendee,
    EventCopy,
    Interaction,
    InteractionKind,
    Person,
    PersonEmail,
    RecordCreationMode,
)
from mailroom.settings import Settings
from mailroom.workspace import add_member, import_mailbox, remove_mailbox
from mailroom.workspace.actors import OPERATOR
from mailroom.workspace.calendar import list_events
from tests.helpers import team

PARIS = timezone(timedelta(hours=1))
START = datetime(2026, 3, 10, 14, 0, tzinfo=PARIS)


def meeting(
    uid: str = "kickoff-1@globex.com",
    *,
    attendees: tuple[Attendee, ...] | None = None,
    organizer: str = "jane@globex.com",
    **changes: object,
) -> CalendarEvent:
    event = CalendarEvent(
        uid=uid,
        recurrence_id=None,
        start=START,
        end=START + timedelta(hours=1),
        summary="Kickoff",
        description="Agenda: pricing",
        location="Globex HQ",
        organizer=Attendee(organizer, "Jane Doe", Response.ACCEPTED),
        attendees=attendees
        if attendees is not None
        else (
            Attendee("alice@acme.com", "Alice", Response.ACCEPTED),
            Attendee("bob@acme.com", "Bob", Response.ACCEPTED),
            Attendee("carol@acme.com", "Carol", Response.ACCEPTED),
            Attendee("max@initech.com", "Max Power", Response.TENTATIVE),
            Attendee("room-4@globex.com", "Room 4", Response.ACCEPTED, AttendeeKind.ROOM),
        ),
        sequence=1,
        updated=datetime(2026, 3, 1, tzinfo=UTC),
    )
    return replace(event, **changes)  # type: ignore[arg-type]


async def people() -> set[str]:
    return set(await PersonEmail.all().values_list("address", flat=True))


async def test_one_meeting_in_three_calendars_is_one_event_with_three_copies(
    db: Settings,
) -> None:
    crew = await team()
    carol = await add_member(crew.workspace, "carol@acme.com")
    carol_box = await import_mailbox(carol)
    for box, item in ((crew.alice_box, "a1"), (crew.bob_box, "b1"), (carol_box, "c1")):
        await apply_events(box, "primary", [EventItem(item, meeting())])

    assert await Event.all().count() == 1
    assert await EventCopy.all().count() == 3
    [listed] = await list_events(crew.workspace.id, None, None)
    data = listed.to_json()
    assert data["calendars"] == ["alice@acme.com", "bob@acme.com", "carol@acme.com"]
    assert data["start"] == "2026-03-10T14:00:00+01:00"
    assert data["organizer"] == {"address": "jane@globex.com", "name": "Jane Doe"}
    assert {a["address"] for a in data["attendees"]} >= {"max@initech.com", "room-4@globex.com"}
    # Rooms never become people; members never do; the others do (SELECTIVE: a member met them).
    assert await people() == {"jane@globex.com", "max@initech.com"}
    jane = await Person.get(emails__address="jane@globex.com")
    assert jane.origin_event_id == (await Event.get()).id
    # Each of the three members met the two of them.
    assert await Interaction.filter(kind=InteractionKind.MEETING).count() == 6


async def test_private_events_are_never_stored_and_leave_when_made_private(
    db: Settings,
) -> None:
    crew = await team()
    report = await apply_events(crew.alice_box, "primary", [EventItem("p1", meeting(private=True))])
    assert report.private == 1
    assert await Event.all().count() == 0 and await people() == set()

    await apply_events(crew.alice_box, "primary", [EventItem("a1", meeting(uid="m2"))])
    await apply_events(crew.bob_box, "primary", [EventItem("b1", meeting(uid="m2"))])
    assert await Event.all().count() == 1
    await apply_events(
        crew.alice_box, "primary", [EventItem("a1", meeting(uid="m2", private=True))]
    )
    # Alice's copy went; Bob's calendar still shares the meeting.
    assert await EventCopy.filter(mailbox_id=crew.alice_box.id).count() == 0
    assert await Event.all().count() == 1
    await apply_events(crew.bob_box, "primary", [EventItem("b1", meeting(uid="m2", private=True))])
    assert await Event.all().count() == 0
    assert await EventAttendee.all().count() == 0
    assert await Interaction.all().count() == 0


async def test_declined_and_cancelled_meetings_are_no_interactions(db: Settings) -> None:
    crew = await team()
    declined = meeting(
        uid="declined",
        attendees=(
            Attendee("alice@acme.com", "Alice", Response.DECLINED),
            Attendee("max@initech.com", "Max", Response.ACCEPTED),
        ),
    )
    await apply_events(crew.alice_box, "primary", [EventItem("d", declined)])
    assert await people() == set()
    assert await Interaction.all().count() == 0

    await apply_events(
        crew.alice_box,
        "primary",
        [EventItem("c", meeting(uid="off", status=EventStatus.CANCELLED))],
    )
    assert await people() == set()

    # The same meeting in Bob's calendar, accepted: now it is one of Bob's.
    accepted = replace(
        declined,
        attendees=(*declined.attendees, Attendee("bob@acme.com", "Bob", Response.ACCEPTED)),
    )
    await apply_events(crew.bob_box, "primary", [EventItem("d", accepted)])
    assert "max@initech.com" in await people()
    assert await Interaction.filter(event__uid="declined").count() == 2


async def test_record_creation_mode_and_the_attendee_limit(db: Settings) -> None:
    crew = await team(RecordCreationMode.NONE)
    await apply_events(crew.alice_box, "primary", [EventItem("a", meeting())])
    assert await people() == set()

    crew = await team(RecordCreationMode.ALL, slug="big")
    crowd = tuple(Attendee(f"guest{i}@initech.com", None, Response.ACCEPTED) for i in range(60))
    await apply_events(
        crew.alice_box,
        "primary",
        [EventItem("all-hands", meeting(uid="all-hands", attendees=crowd))],
        max_attendees=50,
    )
    assert await PersonEmail.filter(workspace_id=crew.workspace.id).count() == 0
    # The attendees are kept all the same, for the meeting's page.
    assert await EventAttendee.filter(workspace_id=crew.workspace.id).count() == 61


async def test_an_older_version_changes_nothing_a_newer_one_does(db: Settings) -> None:
    crew = await team()
    await apply_events(crew.alice_box, "primary", [EventItem("a", meeting(sequence=3))])
    await apply_events(
        crew.bob_box, "primary", [EventItem("b", meeting(sequence=2, summary="Old title"))]
    )
    assert (await Event.get()).summary == "Kickoff"
    moved = START + timedelta(days=1)
    await apply_events(
        crew.bob_box,
        "primary",
        [EventItem("b", meeting(sequence=4, start=moved, end=moved + timedelta(hours=1)))],
    )
    event = await Event.get()
    assert event.starts_at == moved.astimezone(UTC)
    assert await EventCopy.all().count() == 2


async def test_removing_a_mailbox_removes_its_events_unless_another_holds_them(
    db: Settings,
) -> None:
    crew = await team()
    await apply_events(crew.alice_box, "primary", [EventItem("a1", meeting(uid="shared"))])
    await apply_events(crew.bob_box, "primary", [EventItem("b1", meeting(uid="shared"))])
    await apply_events(crew.alice_box, "primary", [EventItem("a2", meeting(uid="alice-only"))])

    await remove_mailbox(OPERATOR, crew.alice_box)

    assert set(await Event.all().values_list("uid", flat=True)) == {"shared"}
    assert await EventCopy.all().count() == 1
    # The people it made stay (records are never removed with mail or meetings).
    assert "jane@globex.com" in await people()
    assert await Interaction.filter(event__uid="alice-only").count() == 0


async def test_a_full_resync_sweeps_what_it_did_not_see_again(db: Settings) -> None:
    crew = await team()
    items = [EventItem(f"e{i}", meeting(uid=f"m{i}")) for i in range(3)]
    await apply_events(crew.alice_box, "primary", items, state={"token": "1"})
    # The resync (generation 1) sees two of the three again.
    await apply_events(crew.alice_box, "primary", items[:2], generation=1, state={"token": "2"})
    report = await sweep_events(crew.alice_box, "primary", 1)
    assert report.removed == 1 and report.deleted == 1
    assert sorted(await Event.all().values_list("uid", flat=True)) == ["m0", "m1"]


async def test_an_item_gone_from_the_calendar_takes_its_event(db: Settings) -> None:
    crew = await team()
    await apply_events(crew.alice_box, "primary", [EventItem("a", meeting())])
    report = await apply_events(crew.alice_box, "primary", [EventItem("a", None)])
    assert report.removed == 1 and report.deleted == 1
    assert await Event.all().count() == 0
    # Jane stays a person, with no meeting left to count.
    jane = await Person.get(emails__address="jane@globex.com")
    assert await Interaction.filter(person_id=jane.id).count() == 0


async def test_a_person_made_from_mail_later_gets_the_meetings_they_were_on(db: Settings) -> None:
    from tests.helpers import ingest, message

    crew = await team()
    # Cancelled by nobody, but declined by Alice: Max is on it, not made a person by it.
    on_it = meeting(
        uid="intro",
        attendees=(
            Attendee("alice@acme.com", "Alice", Response.ACCEPTED),
            Attendee("max@initech.com", "Max", Response.ACCEPTED),
        ),
    )
    crowd = tuple(Attendee(f"g{i}@x.org", None) for i in range(60))
    big = replace(on_it, uid="big", attendees=(*on_it.attendees, *crowd))
    await apply_events(crew.alice_box, "primary", [EventItem("big", big)], max_attendees=50)
    assert "max@initech.com" not in await people()
    await ingest(
        crew.alice_box, message(sender="Alice <alice@acme.com>", to="Max <max@initech.com>")
    )
    max_ = await Person.get(emails__address="max@initech.com")
    assert await EventAttendee.filter(address="max@initech.com", person_id=max_.id).count() == 1
    kinds = sorted(await Interaction.filter(person_id=max_.id).values_list("kind", flat=True))
    assert kinds == ["EMAIL", "MEETING"]
    # Meetings are interactions, not emails: the email figures are the message's alone.
    assert max_.last_email_at is not None and max_.last_email_at.year == 2026
    assert max_.last_email_at.month == 3 and max_.last_email_at.day == 2


async def test_a_sweep_bounded_by_the_window_keeps_the_history_before_it(db: Settings) -> None:
    crew = await team()
    old = START - timedelta(days=1000)
    items = [
        EventItem("past", meeting(uid="past", start=old, end=old + timedelta(hours=1))),
        EventItem("now", meeting(uid="now")),
    ]
    await apply_events(crew.alice_box, "primary", items)
    # A resync of a window starting 730 days back sees neither (both deleted, say).
    await apply_events(crew.alice_box, "primary", [], generation=1, state={"token": "2"})
    report = await sweep_events(crew.alice_box, "primary", 1, since=START - timedelta(days=730))
    assert report.removed == 1
    assert await Event.all().values_list("uid", flat=True) == ["past"]


async def test_whatever_a_calendar_sends_a_page_is_stored(db: Settings) -> None:
    """A hostile calendar: NUL in the text (PostgreSQL refuses it), an address longer than any
    address, two thousand attendees, a megabyte of description. The page stores, bounded, and
    its defects say what was cut."""
    crew = await team()
    hostile = meeting(
        uid="evil\x00uid",
        summary="Sum\x00mary" * 1000,
        description="x" * 1_000_000,
        organizer="jane@globex.com",
        attendees=(
            Attendee("a" * 400 + "@globex.com", "Long"),
            Attendee("nul@globex.com", "N\x00ame"),
            *(Attendee(f"guest{i}@initech.com", None) for i in range(2000)),
        ),
    )
    report = await apply_events(
        crew.alice_box, "primary", [EventItem("i\x00tem", hostile), EventItem("ok", meeting())]
    )
    assert report.new == 2
    event = await Event.get(uid="eviluid")
    assert event.summary is not None and "\x00" not in event.summary
    assert len(event.summary) <= 2000 and len(event.description or "") <= 64 * 1024
    assert any("cut" in d for d in event.defects)
    assert any("no usable address" in d for d in event.defects)
    names = await EventAttendee.filter(event_id=event.id, address="nul@globex.com").values_list(
        "name", flat=True
    )
    assert names == ["Name"]
    assert await EventAttendee.filter(event_id=event.id).count() == 1001  # organizer + 1000
