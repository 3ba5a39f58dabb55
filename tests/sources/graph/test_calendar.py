"""A Microsoft 365 mailbox's default calendar synced into the store through the local Graph's
calendarView delta (fakes/graph_calendar.py): the first sync (single events, a weekly series
across a DST change with an override and a deleted occurrence, all-day events, rooms),
increments, a 410 resync without duplicates, throttling, the window rolling on (history kept),
the same meeting in two members' calendars, and a declined meeting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from fakes.graph import FakeGraph
from fakes.graph_calendar import GraphCalendar, Guest, Recurrence
from fakes.graph_http import GraphServer
from mailroom.envelope import AttendeeKind, EventStatus, Response
from mailroom.intake import Intake
from mailroom.intake.events import calendar_cursor, event_key
from mailroom.models import (
    Event,
    EventAttendee,
    EventCopy,
    Interaction,
    Mailbox,
    MailboxStatus,
    Provider,
)
from mailroom.settings import Settings
from mailroom.sources.graph import GraphClient, GraphSync
from mailroom.sources.graph.calendar import CALENDAR, GraphCalendarSync
from mailroom.sources.graph.global_ids import series_uid
from mailroom.workspace import add_member
from tests.sources.graph.conftest import ADDRESS, FAST, Tokens, message

BERLIN = ZoneInfo("Europe/Berlin")
PETER = Guest("peter@fabrikam.example", "Peter Smith", response="accepted")
Sync = Callable[..., GraphCalendarSync]


@pytest.fixture
def server() -> Iterator[GraphServer]:
    fake = FakeGraph(ADDRESS)
    with GraphServer(fake) as running:
        yield running
    # However hard a test pushed, Mailroom never had more requests in flight than Outlook takes.
    assert fake.peak_in_flight <= 4


@pytest.fixture
def calendar(server: GraphServer) -> GraphCalendar:
    return server.calendar


@pytest.fixture
async def syncer(mailbox: Mailbox) -> AsyncIterator[Sync]:
    """`syncer(calendar, **options)`: a calendar sync of `mailbox` (or `mailbox=`) against
    that calendar's Graph; options are Settings fields, or `now`, `beat` and `max_pages`."""
    clients: list[GraphClient] = []

    def make(calendar: GraphCalendar, **options: Any) -> GraphCalendarSync:
        target = options.pop("mailbox", mailbox)
        keywords = {k: options.pop(k) for k in ("now", "beat", "max_pages") if k in options}
        settings = Settings(graph_api_url=calendar.graph.url, **options)
        client = GraphClient(settings, Tokens(calendar.graph), retry=FAST)
        clients.append(client)
        return GraphCalendarSync(target, client, settings, **keywords)

    yield make
    for client in clients:
        await client.aclose()


def last_sunday_of_march(year: int) -> date:
    day = date(year, 3, 31)
    return day - timedelta(days=(day.weekday() + 1) % 7)


def at(day: date, hour: int, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=zone)


async def items(mailbox: Mailbox) -> set[str]:
    rows = await EventCopy.filter(mailbox_id=mailbox.id, calendar=CALENDAR).values_list(
        "item", flat=True
    )
    return {str(row) for row in rows}


async def event_of(mailbox: Mailbox, item: str) -> Event:
    copy = await EventCopy.get(mailbox_id=mailbox.id, calendar=CALENDAR, item=item)
    return await Event.get(id=copy.event_id)


def soon(days: float, hour: int = 15) -> datetime:
    today = datetime.now(UTC).date()
    return datetime.combine(today, time(hour), tzinfo=UTC) + timedelta(days=days)


def test_the_uid_is_read_as_exchange_writes_it_in_invitations() -> None:
    """[MS-ASEMAIL] 4.3's two examples: Outlook's own identifier with its instance date zeroed,
    and a meeting from elsewhere, its UID unwrapped."""
    outlook = "040000008200E00074C5B7101A82E00807D40910E040C9C12685C401000000000000000010000000"
    outlook += "0BF0ED4B6E4EE94E9E39E3867B378EF3"
    assert series_uid(outlook) == (
        "040000008200E00074C5B7101A82E00800000000E040C9C12685C40100000000000000001000000"
        "00BF0ED4B6E4EE94E9E39E3867B378EF3"
    )
    wrapped = (
        "040000008200E00074C5B7101A82E008000000000000000000000000000000000000000033000000"
        + b"vCal-Uid\x01\x00\x00\x00{81412D3C-2A24-4E9D-B20E-11F7BBE92799}\x00".hex().upper()
    )
    assert series_uid(wrapped) == "{81412D3C-2A24-4E9D-B20E-11F7BBE92799}"
    assert series_uid("not-hex@example.com") == "not-hex@example.com"
    assert series_uid("040000008200E00074C5B7101A82E008") == "040000008200E00074C5B7101A82E008"


async def test_the_first_sync_stores_the_window(
    calendar: GraphCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    dst = last_sunday_of_march(datetime.now(UTC).year)
    monday = dst - timedelta(days=13)
    series = calendar.add(
        "Weekly sync",
        at(monday, 9),
        at(monday, 10),
        zone="Europe/Berlin",
        recurrence=Recurrence("weekly", days=("monday",), count=6),
        attendees=(PETER,),
        join_url="https://teams.microsoft.com/l/meetup-join/19%3ameeting",
    )
    window = (at(monday, 0) - timedelta(days=1), at(monday, 0) + timedelta(days=60))
    occurrences = calendar.instances(series, *window)
    assert len(occurrences) == 6
    moved = at(monday + timedelta(days=8), 14)  # the second one, on Tuesday afternoon
    calendar.change(
        occurrences[1][0],
        subject="Weekly sync (Tuesday)",
        start=moved,
        end=moved + timedelta(hours=1),
    )
    calendar.delete(occurrences[3][0])
    review = calendar.add(
        "Pricing review",
        soon(3),
        soon(3) + timedelta(hours=1),
        attendees=(
            Guest("bob@globex.example", "Bob Jones", response="accepted"),
            Guest("carol@globex.example", "Carol", "optional", "tentativelyAccepted"),
            Guest("room-4@contoso.com", "Room 4", "resource", "accepted"),
        ),
        location="Room 4",
        room="room-4@contoso.com",
        body="Agenda: pricing\nBring the numbers.",
    )
    offsite = calendar.add("Offsite", soon(10).date(), soon(12).date())

    done = await syncer(calendar, graph_page_size=2).run()

    assert done.full and done.pages >= 5 and done.unreadable == 0
    kept = [o for n, o in enumerate(occurrences) if n != 3]
    assert await items(mailbox) == {i for i, _ in kept} | {review, offsite}
    # A series is one UID, Outlook's identifier without its instance date, in every occurrence.
    uid = calendar.ical_uid(series)
    for item, original in kept:
        event = await event_of(mailbox, item)
        assert event.uid == uid != calendar.ical_uid(item)
        assert event.recurrence_id == original
        assert event.key == event_key(uid, original)
    # 09:00 in Berlin on both sides of the DST change: 08:00 UTC, then 07:00.
    before, after = await event_of(mailbox, kept[0][0]), await event_of(mailbox, kept[3][0])
    assert (before.starts_at.hour, before.utc_offset) == (8, 60)
    assert (after.starts_at.hour, after.utc_offset) == (7, 120)
    assert after.ends_at - after.starts_at == timedelta(hours=1)
    tuesday = await event_of(mailbox, kept[1][0])
    assert tuesday.summary == "Weekly sync (Tuesday)"
    assert tuesday.starts_at == moved and tuesday.recurrence_id == occurrences[1][1]
    assert before.conference == "https://teams.microsoft.com/l/meetup-join/19%3ameeting"
    meeting = await event_of(mailbox, review)
    assert meeting.recurrence_id is None and meeting.location == "Room 4"
    assert meeting.description == "Agenda: pricing\nBring the numbers."
    assert meeting.organizer == ADDRESS and meeting.status is EventStatus.CONFIRMED
    attendees = {a.address: a for a in await EventAttendee.filter(event_id=meeting.id)}
    room = attendees["room-4@contoso.com"]
    assert room.kind is AttendeeKind.ROOM and room.person_id is None
    assert attendees["carol@globex.example"].optional
    assert attendees["carol@globex.example"].response is Response.TENTATIVE
    assert attendees["bob@globex.example"].person_id is not None
    day_off = await event_of(mailbox, offsite)
    assert day_off.all_day
    assert day_off.starts_at == datetime.combine(soon(10).date(), time(0), tzinfo=UTC)
    assert day_off.ends_at - day_off.starts_at == timedelta(days=2)
    # Asked in UTC, bodies as text, in pages of the configured size, with immutable ids.
    asked = [r for r in calendar.graph.requests if r.kind == "calendarView"]
    assert asked and all(r.prefer.get("outlook.timezone") == "UTC" for r in asked)
    assert all(r.prefer.get("odata.maxpagesize") == "2" for r in asked)
    assert all(r.prefer.get("idtype") == "ImmutableId" for r in asked)
    cursor = await calendar_cursor(mailbox.id, CALENDAR)
    assert "$deltatoken=" in cursor.state["link"] and not cursor.state["sweep"]


async def test_increments_follow_every_change(
    calendar: GraphCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    changed = calendar.add("Standup", soon(1), soon(1) + timedelta(minutes=15), attendees=(PETER,))
    deleted = calendar.add("Lunch", soon(2), soon(2) + timedelta(hours=1), attendees=(PETER,))
    private = calendar.add("Interview", soon(3), soon(3) + timedelta(hours=1), attendees=(PETER,))
    series = calendar.add(
        "Daily",
        soon(1, 9),
        soon(1, 10),
        recurrence=Recurrence("daily", count=5),
        attendees=(PETER,),
    )
    first = await syncer(calendar).run()
    assert first.full and first.report.new == 8
    occurrences = calendar.instances(series, soon(0), soon(10))
    stored = await Event.filter(workspace_id=mailbox.workspace_id).count()

    added = calendar.add("Demo", soon(4), soon(4) + timedelta(hours=1), attendees=(PETER,))
    calendar.change(changed, subject="Standup (longer)", end=soon(1) + timedelta(minutes=45))
    calendar.cancel(occurrences[1][0])
    calendar.delete(occurrences[3][0])
    calendar.delete(deleted)
    calendar.change(private, sensitivity="private")
    done = await syncer(calendar).run()

    assert not done.full and done.report.new == 1 and done.report.updated >= 2
    assert done.report.removed == 3
    held = await items(mailbox)
    assert added in held and changed in held and occurrences[1][0] in held
    assert not {deleted, private, occurrences[3][0]} & held
    assert await Event.filter(workspace_id=mailbox.workspace_id).count() == stored - 3 + 1
    standup = await event_of(mailbox, changed)
    assert standup.summary == "Standup (longer)"
    assert standup.ends_at - standup.starts_at == timedelta(minutes=45)
    assert (await event_of(mailbox, occurrences[1][0])).status is EventStatus.CANCELLED
    # Nothing of the private event is left, not even its time.
    assert not await Event.filter(summary="Interview").exists()

    quiet = await syncer(calendar).run()
    assert quiet.pages == 1 and not quiet.changed


@pytest.mark.parametrize("code", ["SyncStateNotFound", "resyncRequired"])
async def test_an_expired_delta_state_resyncs_without_duplicates(
    calendar: GraphCalendar, syncer: Sync, mailbox: Mailbox, code: str
) -> None:
    calendar.graph.resync_code = code
    kept = calendar.add("Kept", soon(1), soon(1) + timedelta(hours=1), attendees=(PETER,))
    gone = calendar.add("Gone", soon(2), soon(2) + timedelta(hours=1), attendees=(PETER,))
    calendar.add("Series", soon(3), soon(3, 16), recurrence=Recurrence("daily", count=3))
    await syncer(calendar).run()
    before = await calendar_cursor(mailbox.id, CALENDAR)
    calendar.expire_delta_tokens()
    calendar.delete(gone)  # while the delta state is lost: only the sweep can tell
    new = calendar.add("New", soon(5), soon(5) + timedelta(hours=1))

    done = await syncer(calendar).run()

    assert done.full and done.report.new == 1 and done.report.removed == 1
    after = await calendar_cursor(mailbox.id, CALENDAR)
    assert after.generation == before.generation + 1
    held = await items(mailbox)
    assert kept in held and new in held and gone not in held
    assert await EventCopy.filter(mailbox_id=mailbox.id).count() == 5
    assert await Event.filter(workspace_id=mailbox.workspace_id).count() == 5
    served = [r.status for r in calendar.graph.requests if r.kind == "calendarView"]
    assert 410 in served


async def test_throttling_is_waited_out_and_shares_the_mailbox_limit_with_mail(
    calendar: GraphCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    graph = calendar.graph
    for number in range(30):
        calendar.add(f"Meeting {number}", soon(number % 20), soon(number % 20, 16))
        graph.add(message(number))
    graph.throttle_storm(4, retry_after=0)
    graph.fail_next(2, 503)
    graph.delay = 0.01
    sync = syncer(calendar, graph_page_size=5)
    mail = GraphSync(mailbox, sync.client, Intake())
    # Mail and calendar through one client at once: never more than 4 requests in flight.
    _, done = await asyncio.gather(mail.run(), sync.run())
    assert done.report.new == 30
    assert sync.client.usage.throttled >= 5
    assert graph.peak_in_flight <= 4 and sync.client.usage.peak_in_flight <= 4


async def test_a_page_too_large_is_asked_again_in_smaller_pages(
    calendar: GraphCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    notes = "Minutes. " * 600_000  # 5.4 MB of body each: four are more than a page may be
    ids = {calendar.add(f"Board {n}", soon(n + 1), soon(n + 1, 16), body=notes) for n in range(4)}
    done = await syncer(calendar, graph_page_size=4).run()
    assert await items(mailbox) == ids and done.unreadable == 0
    asked = [r.prefer["odata.maxpagesize"] for r in calendar.graph.requests if r.kind]
    # The primer, the page refused; then pages half as large, to the end of the pass.
    assert asked == ["4", "4", "2", "2"]
    board = await event_of(mailbox, next(iter(ids)))
    assert board.description is not None and len(board.description) <= 64 * 1024


async def test_the_window_rolls_on_and_keeps_the_past(
    calendar: GraphCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    start = datetime.now(UTC)
    window = {"calendar_days_back": 30, "calendar_days_ahead": 30}
    past = calendar.add("Past", soon(-25), soon(-25) + timedelta(hours=1), attendees=(PETER,))
    later = calendar.add("Later", soon(5), soon(5) + timedelta(hours=1), attendees=(PETER,))
    beyond = calendar.add("Beyond", soon(35), soon(35) + timedelta(hours=1))
    first = await syncer(calendar, now=lambda: start, **window).run()
    assert first.full and await items(mailbox) == {past, later}

    calendar.delete(later)
    ten_days_on = start + timedelta(days=10)
    rolled = await syncer(calendar, now=lambda: ten_days_on, **window).run()
    # A new baseline: what it saw is there, what it did not see in its window is swept, and
    # the past meeting that fell out of the window stays.
    assert rolled.full
    assert await items(mailbox) == {past, beyond}
    cursor = await calendar_cursor(mailbox.id, CALENDAR)
    assert cursor.generation == 2 and not cursor.state["sweep"]

    # Graph reports a change outside the range as a removal: the past meeting is kept.
    calendar.change(past, subject="Past (notes added)")
    quiet = await syncer(calendar, now=lambda: ten_days_on, **window).run()
    assert not quiet.full and quiet.history == 1
    assert await items(mailbox) == {past, beyond}


async def test_a_pass_cut_after_a_full_round_sweeps_on_the_next(
    calendar: GraphCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    calendar.add("One", soon(1), soon(1) + timedelta(hours=1))
    two = calendar.add("Two", soon(2), soon(2) + timedelta(hours=1))
    await syncer(calendar).run()
    calendar.expire_delta_tokens()
    calendar.delete(two)
    before = await calendar_cursor(mailbox.id, CALENDAR)

    async def killed_after_the_last_page() -> None:
        cursor = await calendar_cursor(mailbox.id, CALENDAR)
        if cursor.state.get("sweep"):
            raise RuntimeError("killed")

    # The resync's last page stored, then the process died before its sweep.
    with pytest.raises(RuntimeError):
        await syncer(calendar, beat=killed_after_the_last_page).run()
    assert two in await items(mailbox)
    cursor = await calendar_cursor(mailbox.id, CALENDAR)
    assert cursor.state["sweep"] and cursor.generation == before.generation + 1
    done = await syncer(calendar).run()
    assert two not in await items(mailbox) and done.report.removed == 1


async def test_the_same_meeting_in_two_members_calendars_is_one_event(
    calendar: GraphCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    workspace = await mailbox.workspace
    bob = await add_member(workspace, "bob@contoso.com")
    bobs = await Mailbox.create(
        workspace=workspace,
        owner=bob,
        provider=Provider.MICROSOFT,
        address="bob@contoso.com",
        status=MailboxStatus.ACTIVE,
    )
    with GraphServer(FakeGraph("bob@contoso.com")) as other:
        guests = (Guest("bob@contoso.com", "Bob"), PETER)
        meeting = calendar.add("Kickoff", soon(2), soon(2, 16), attendees=guests)
        series = calendar.add(
            "Weekly", soon(3), soon(3, 16), recurrence=Recurrence("daily", 7, count=3),
            attendees=guests,
        )  # fmt: skip
        # A meeting Peter sent from Google Calendar: its UID, wrapped by Exchange.
        google = calendar.add(
            "From Google",
            soon(4),
            soon(4, 16),
            organizer=PETER,
            attendees=(Guest(ADDRESS, "Alice"), Guest("bob@contoso.com", "Bob")),
            uid="7kukuqrfedlm2f9t0vr42q2bqi@google.com",
            response="accepted",
        )
        for event_id in (meeting, series, google):
            calendar.copy_to(other.calendar, event_id, response="accepted")
        await syncer(calendar).run()
        await syncer(other.calendar, mailbox=bobs).run()
        assert other.fake.peak_in_flight <= 4

    events = await Event.filter(workspace_id=workspace.id)
    assert len(events) == 5
    for event in events:
        holders = await EventCopy.filter(event_id=event.id).values_list("mailbox_id", flat=True)
        assert sorted(holders) == sorted([mailbox.id, bobs.id])
    from_google = next(e for e in events if e.summary == "From Google")
    assert from_google.uid == "7kukuqrfedlm2f9t0vr42q2bqi@google.com"
    assert from_google.key == event_key("7kukuqrfedlm2f9t0vr42q2bqi@google.com", None)


async def test_a_declined_meeting_is_no_interaction(
    calendar: GraphCalendar, syncer: Sync, mailbox: Mailbox
) -> None:
    # In an attendee's copy Outlook leaves their own entry at "none": responseStatus says.
    me = Guest(ADDRESS, "Alice", response="none")
    declined = calendar.add(
        "Vendor pitch", soon(1), soon(1, 16), organizer=PETER, attendees=(me,), response="declined"
    )
    accepted = calendar.add(
        "Partner call",
        soon(2),
        soon(2, 16),
        organizer=Guest("paula@initech.example", "Paula"),
        attendees=(me,),
        response="accepted",
    )
    await syncer(calendar).run()
    pitch, call = await event_of(mailbox, declined), await event_of(mailbox, accepted)
    copy = await EventCopy.get(mailbox_id=mailbox.id, item=declined)
    assert copy.response is Response.DECLINED
    mine = await EventAttendee.get(event_id=pitch.id, address=ADDRESS)
    assert mine.response is Response.DECLINED
    assert not await Interaction.filter(event_id=pitch.id).exists()
    assert await Interaction.filter(event_id=call.id).exists()
