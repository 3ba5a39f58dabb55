"""Interactions and the figures kept from them, case by case: who took part counts once per
member, what never counts, answers in either order, a borrowed Message-ID earns nothing,
meetings count once they begin, and removal, blocklisting and merging take away or unite."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mailroom.envelope import Attendee, CalendarEvent, Response
from mailroom.intake.events import EventItem, apply_events
from mailroom.intake.intelligence import settle_workspaces
from mailroom.models import Company, Connection, Interaction, Person, RecordCreationMode
from mailroom.settings import Settings
from mailroom.workspace import add_blocklist_entry, remove_blocklist_entry, remove_mailbox
from mailroom.workspace.actors import OPERATOR, Actor
from tests.helpers import ingest, message, team

NOW = datetime.now(UTC).replace(microsecond=0)


async def _exchanges(address: str) -> list[tuple[str, str, str]]:
    """(member, message id, exchange) of an address's interactions, sorted."""
    rows = await Interaction.filter(address=address).values_list(
        "member__email", "message__internet_message_id", "exchange"
    )
    return sorted((m, i, str(e)) for m, i, e in rows)


async def test_mail_two_members_hold_counts_once_for_each(db: Settings) -> None:
    crew = await team(RecordCreationMode.ALL)
    raw = message(
        sender="jane@globex.com",
        to="alice@acme.com, bob@acme.com",
        cc="lee@initech.com",
        message_id="<both@globex.com>",
        date=NOW - timedelta(days=1),
    )
    await ingest(crew.alice_box, raw)
    await ingest(crew.alice_box, raw)  # again: nothing more
    await ingest(crew.bob_box, raw)
    assert await _exchanges("jane@globex.com") == [
        ("alice@acme.com", "both@globex.com", "RECEIVED"),
        ("bob@acme.com", "both@globex.com", "RECEIVED"),
    ]
    assert [e for _, _, e in await _exchanges("lee@initech.com")] == ["COPIED", "COPIED"]
    # Members never count as contacts, nor do their domains.
    assert not await Interaction.filter(address__endswith="@acme.com").exists()
    jane = await Person.get(emails__address="jane@globex.com")
    connections = await Connection.filter(person_id=jane.id).values_list("interactions", flat=True)
    assert sorted(connections) == [1, 1]


async def test_bulk_and_list_mail_never_count(db: Settings) -> None:
    crew = await team(RecordCreationMode.ALL)
    await ingest(
        crew.alice_box,
        message(sender="news@globex.com", headers={"List-Id": "<news.globex.com>"}),
        message(
            sender="robot@hooli.com",
            message_id="<auto@hooli.com>",
            headers={"Auto-Submitted": "auto-generated"},
        ),
    )
    assert await Interaction.all().count() == 0


async def test_an_answer_counts_whichever_arrives_first(db: Settings) -> None:
    crew = await team()
    question = message(
        sender="jane@globex.com", message_id="<q@globex.com>", date=NOW - timedelta(days=3)
    )
    answer = message(
        sender="alice@acme.com",
        to="jane@globex.com",
        message_id="<a@acme.com>",
        in_reply_to="<q@globex.com>",
        date=NOW - timedelta(days=2),
    )
    await ingest(crew.alice_box, answer)  # the sent folder synced before the inbox
    await ingest(crew.alice_box, question)
    assert await _exchanges("jane@globex.com") == [
        ("alice@acme.com", "a@acme.com", "SENT"),
        ("alice@acme.com", "q@globex.com", "ANSWERED"),
        ("alice@acme.com", "q@globex.com", "RECEIVED"),
    ]


async def test_a_borrowed_message_id_earns_no_answer(db: Settings) -> None:
    """Whatever a sender writes identifies, never authorizes: Mallory reuses the Message-ID of
    the mail Alice answered, and her copy is mail received, no more."""
    crew = await team(RecordCreationMode.ALL)
    await ingest(
        crew.alice_box,
        message(sender="jane@globex.com", message_id="<q@globex.com>", date=NOW - timedelta(3)),
        message(
            sender="alice@acme.com",
            to="jane@globex.com",
            message_id="<a@acme.com>",
            in_reply_to="<q@globex.com>",
            date=NOW - timedelta(days=2),
        ),
        message(
            sender="mallory@evil.example",
            message_id="<q@globex.com>",
            subject="Other words",
            date=NOW - timedelta(days=1),
        ),
    )
    assert [e for _, _, e in await _exchanges("mallory@evil.example")] == ["RECEIVED"]
    assert [e for _, _, e in await _exchanges("jane@globex.com")] == [
        "SENT",
        "ANSWERED",
        "RECEIVED",
    ]


async def test_meetings_ahead_count_when_their_time_comes(db: Settings) -> None:
    crew = await team(RecordCreationMode.ALL)
    ahead = NOW + timedelta(days=3)
    # Mail cannot be dated ahead to pin "last interaction": a Date ahead of the message's
    # arrival is read as its arrival.
    await ingest(crew.alice_box, message(sender="jane@globex.com", date=ahead))
    jane = await Person.get(emails__address="jane@globex.com")
    assert jane.last_email_at is not None and jane.last_email_at <= datetime.now(UTC)
    await apply_events(
        crew.alice_box,
        "primary",
        [
            EventItem(
                "m",
                CalendarEvent(
                    uid="m@globex.com",
                    recurrence_id=None,
                    start=ahead,
                    end=ahead + timedelta(hours=1),
                    summary="Next week",
                    organizer=Attendee("jane@globex.com", None, Response.ACCEPTED),
                    attendees=(Attendee("alice@acme.com", None, Response.ACCEPTED),),
                ),
            )
        ],
    )
    await jane.refresh_from_db()
    assert jane.last_meeting_at is None and jane.last_interaction_at == jane.last_email_at
    before = jane.strength
    [connection] = await Connection.filter(person_id=jane.id)
    assert connection.interactions == 1

    assert await settle_workspaces(datetime.now(UTC)) == 0
    assert await settle_workspaces(ahead + timedelta(minutes=1)) == 1
    await jane.refresh_from_db()
    assert jane.last_meeting_at == ahead and jane.last_interaction_at == ahead
    assert jane.strength > before
    await connection.refresh_from_db()
    assert connection.interactions == 2
    assert await settle_workspaces(ahead + timedelta(days=1)) == 0


async def test_blocklisting_takes_a_contact_away_and_unblocking_brings_them_back(
    db: Settings,
) -> None:
    crew = await team(RecordCreationMode.ALL)
    await ingest(
        crew.alice_box,
        message(sender="jane@globex.com", message_id="<j@globex.com>"),
        message(sender="kim@hooli.com", message_id="<k@hooli.com>"),
    )
    kim = await Person.get(emails__address="kim@hooli.com")
    hooli = await Company.get(id=kim.company_id)
    assert hooli.strength > 0
    admin = Actor(crew.alice)
    entry = await add_blocklist_entry(admin, crew.workspace, "hooli.com")
    assert await _exchanges("kim@hooli.com") == []
    await kim.refresh_from_db()
    await hooli.refresh_from_db()
    assert kim.strength == hooli.strength == 0 and kim.last_interaction_at is None
    assert len(await _exchanges("jane@globex.com")) == 1
    await remove_blocklist_entry(admin, crew.workspace, entry.id)
    assert [e for _, _, e in await _exchanges("kim@hooli.com")] == ["RECEIVED"]
    await kim.refresh_from_db()
    assert kim.strength > 0


async def test_removing_a_mailbox_leaves_figures_as_if_it_never_synced(db: Settings) -> None:
    crew = await team(RecordCreationMode.ALL)
    shared = message(
        sender="jane@globex.com",
        to="alice@acme.com, bob@acme.com",
        message_id="<s@globex.com>",
        date=NOW - timedelta(days=5),
    )
    alone = message(
        sender="alice@acme.com",
        to="jane@globex.com",
        message_id="<o@acme.com>",
        date=NOW - timedelta(days=1),
    )
    await ingest(crew.bob_box, shared)
    jane = await Person.get(emails__address="jane@globex.com")
    only_bob = (jane.first_interaction_at, jane.last_interaction_at, jane.strength)
    await ingest(crew.alice_box, shared, alone)
    await jane.refresh_from_db()
    assert jane.last_interaction_at == NOW - timedelta(days=1)
    assert jane.strongest_member_id == crew.alice.id

    await remove_mailbox(OPERATOR, crew.alice_box)
    await jane.refresh_from_db()
    assert (jane.first_interaction_at, jane.last_interaction_at) == only_bob[:2]
    assert abs(jane.strength - only_bob[2]) <= 1e-9 * only_bob[2]
    assert jane.strongest_member_id == crew.bob.id
    assert not await Interaction.filter(member_id=crew.alice.id).exists()
