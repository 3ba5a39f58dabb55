"""Meetings from mail: an invitation (text/calendar, iTIP) in a message a mailbox gets makes or
updates the meeting; a reply changes its sender's answer; what a sender writes identifies a
meeting, and never lets them rewrite someone else's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.message import EmailMessage

from mailroom.envelope import Attendee, CalendarEvent, EventStatus, Response
from mailroom.intake.events import EventItem, apply_events
from mailroom.models import Event, EventAttendee, Interaction, PersonEmail
from mailroom.settings import Settings
from tests.helpers import ingest, team

START = datetime.now(UTC).replace(microsecond=0, second=0, minute=0) + timedelta(days=7)


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def invitation(
    method: str = "REQUEST",
    *,
    uid: str = "q3-review@globex.com",
    sequence: int = 0,
    summary: str = "Q3 review",
    organizer: str = "jane@globex.com",
    status: str = "CONFIRMED",
    attendees: tuple[tuple[str, str], ...] = (
        ("alice@acme.com", "NEEDS-ACTION"),
        ("max@initech.com", "ACCEPTED"),
    ),
    rrule: str | None = None,
    extra: str = "",
) -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Example Corp//Calendar//EN",
        f"METHOD:{method}",
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"SEQUENCE:{sequence}",
        f"DTSTAMP:{stamp(START - timedelta(days=1))}",
        f"DTSTART:{stamp(START)}",
        f"DTEND:{stamp(START + timedelta(hours=1))}",
        f"SUMMARY:{summary}",
        f"STATUS:{status}",
        f"ORGANIZER;CN=Jane Doe:mailto:{organizer}",
        *(f"ATTENDEE;PARTSTAT={state};RSVP=TRUE:mailto:{who}" for who, state in attendees),
        *([f"RRULE:{rrule}"] if rrule else []),
        *([extra] if extra else []),
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


def mail(ics: str, *, sender: str = "Jane Doe <jane@globex.com>", method: str = "REQUEST") -> bytes:
    """A message as calendar clients send an invitation: text, and the text/calendar part."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "Alice <alice@acme.com>"
    msg["Subject"] = "Invitation: Q3 review"
    msg["Message-ID"] = f"<{hash((ics, sender)) & 0xFFFFFFFF}@globex.com>"
    msg["Date"] = "Mon, 02 Mar 2026 09:30:00 +0000"
    msg.set_content("You have been invited.")
    msg.add_alternative(
        ics.encode(), maintype="text", subtype="calendar", params={"method": method}
    )
    return msg.as_bytes()


async def test_an_invitation_makes_the_meeting_and_its_people(db: Settings) -> None:
    crew = await team()
    await ingest(crew.alice_box, mail(invitation()))
    event = await Event.get()
    assert event.summary == "Q3 review"
    assert event.starts_at == START
    assert event.organizer == "jane@globex.com"
    answers = dict(await EventAttendee.filter(event_id=event.id).values_list("address", "response"))
    assert answers == {
        "jane@globex.com": Response.ACCEPTED,
        "alice@acme.com": Response.NEEDS_ACTION,
        "max@initech.com": Response.ACCEPTED,
    }
    # Alice's mailbox holds it: a meeting a member is invited to is shared with its people.
    assert set(await PersonEmail.all().values_list("address", flat=True)) >= {
        "jane@globex.com",
        "max@initech.com",
    }


async def test_the_organizers_update_and_cancellation_change_the_meeting(db: Settings) -> None:
    crew = await team()
    await ingest(crew.alice_box, mail(invitation()))
    await ingest(crew.alice_box, mail(invitation(sequence=1, summary="Q3 review (moved)")))
    assert (await Event.get()).summary == "Q3 review (moved)"
    await ingest(
        crew.alice_box, mail(invitation("CANCEL", sequence=2, status="CANCELLED"), method="CANCEL")
    )
    event = await Event.get()
    assert event.status == EventStatus.CANCELLED
    # A cancelled meeting is no interaction.
    assert await Interaction.filter(event_id=event.id).count() == 0
    # An older update arriving late changes nothing.
    await ingest(crew.alice_box, mail(invitation(sequence=1, summary="stale")))
    assert (await Event.get()).status == EventStatus.CANCELLED


async def test_a_stranger_cannot_rewrite_or_cancel_someone_elses_meeting(db: Settings) -> None:
    crew = await team()
    await ingest(crew.alice_box, mail(invitation()))
    forged = invitation(
        "CANCEL", sequence=9, summary="Cancelled, see new link", organizer="mallory@evil.example"
    )
    await ingest(crew.alice_box, mail(forged, sender="mallory@evil.example", method="CANCEL"))
    # Same UID, higher sequence, but not from the organizer: the meeting stands.
    event = await Event.get()
    assert event.summary == "Q3 review" and event.status == EventStatus.CONFIRMED
    # Even written as from the organizer, a request sent by someone else changes nothing.
    spoofed = invitation(sequence=9, summary="Moved to https://evil.example")
    await ingest(crew.alice_box, mail(spoofed, sender="mallory@evil.example"))
    assert (await Event.get()).summary == "Q3 review"


async def test_a_synced_calendar_outranks_the_mail(db: Settings) -> None:
    crew = await team()
    synced = CalendarEvent(
        uid="q3-review@globex.com",
        recurrence_id=None,
        start=START,
        end=START + timedelta(hours=1),
        summary="Q3 review",
        organizer=Attendee("jane@globex.com", "Jane", Response.ACCEPTED),
        sequence=0,
    )
    await apply_events(crew.bob_box, "primary", [EventItem("g1", synced)])
    await ingest(crew.alice_box, mail(invitation(sequence=3, summary="From mail")))
    assert await Event.all().count() == 1
    assert (await Event.get()).summary == "Q3 review"


async def test_a_reply_changes_only_its_senders_answer(db: Settings) -> None:
    crew = await team()
    await ingest(crew.alice_box, mail(invitation()))
    reply = invitation("REPLY", attendees=(("max@initech.com", "DECLINED"),))
    await ingest(crew.alice_box, mail(reply, sender="Max <max@initech.com>", method="REPLY"))
    answers = dict(await EventAttendee.all().values_list("address", "response"))
    assert answers["max@initech.com"] == Response.DECLINED
    # Max answering for Jane is not Jane's answer.
    forged = invitation("REPLY", attendees=(("jane@globex.com", "DECLINED"),))
    await ingest(crew.alice_box, mail(forged, sender="Max <max@initech.com>", method="REPLY"))
    answers = dict(await EventAttendee.all().values_list("address", "response"))
    assert answers["jane@globex.com"] == Response.ACCEPTED
    # A reply to a meeting nobody has makes none.
    stray = invitation("REPLY", uid="unknown@x", attendees=(("max@initech.com", "ACCEPTED"),))
    await ingest(crew.alice_box, mail(stray, sender="max@initech.com", method="REPLY"))
    assert await Event.all().count() == 1


async def test_a_recurring_invitation_is_bounded_and_a_private_one_kept_out(db: Settings) -> None:
    crew = await team()
    endless = invitation(uid="standup@globex.com", rrule="FREQ=MINUTELY")
    await ingest(crew.alice_box, mail(endless))
    # Expanded within the window and the occurrence limit, not forever.
    assert 0 < await Event.filter(uid="standup@globex.com").count() <= 1000
    private = invitation(uid="secret@globex.com", extra="CLASS:PRIVATE")
    await ingest(crew.alice_box, mail(private))
    assert await Event.filter(uid="secret@globex.com").count() == 0
