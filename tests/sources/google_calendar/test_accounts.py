"""A connected Google account's calendar synced after its mail, as an operator runs it:
`mailroom mailbox sync` and `serve`'s Gmail poller, with tokens from the local Google
(fakes/google_oauth.py) that the local Gmail and Google Calendar both honour; a calendar that
fails beside mail that syncs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from fakes.gmail import FakeGmail
from fakes.gmail_http import GmailServer
from fakes.google_calendar import FakeGoogleCalendar
from fakes.google_calendar_http import CalendarServer
from fakes.google_oauth import GoogleOAuth
from mailroom.bootstrap import running
from mailroom.errors import AuthError
from mailroom.intake import Intake
from mailroom.intake.events import calendar_cursor
from mailroom.models import Event, Mailbox, MailboxStatus, Message, Plan
from mailroom.oauth.tokens import AccessTokens
from mailroom.settings import Settings
from mailroom.sources.gmail.poller import GmailMailboxSync
from mailroom.sources.google_calendar import CALENDAR, sync_mailbox_calendar
from mailroom.sources.tokens import MailboxTokens
from mailroom.workspace import add_member, create_workspace
from tests.oauth.conftest import gmail_mailbox, google_settings, mailroom
from tests.sources.gmail.conftest import message
from tests.sources.google_calendar.conftest import NOW, days, person

ADDRESS = "alice@acme.com"


@pytest.fixture
def google() -> Iterator[GoogleOAuth]:
    with GoogleOAuth(redirect_uris=("http://mailroom.test/oauth/callback",)).serve() as server:
        yield server


@pytest.fixture
def gmail(google: GoogleOAuth) -> Iterator[FakeGmail]:
    fake = FakeGmail(ADDRESS)
    fake.trust(google.account_of)
    with GmailServer(fake):
        yield fake
    assert fake.violations == []


@pytest.fixture
def calendar(google: GoogleOAuth) -> Iterator[FakeGoogleCalendar]:
    fake = FakeGoogleCalendar(ADDRESS)
    fake.trust(google.account_of)
    with CalendarServer(fake):
        yield fake
    assert fake.violations == []


@pytest.fixture
async def connected(
    db: Settings, google: GoogleOAuth, gmail: FakeGmail, calendar: FakeGoogleCalendar
) -> tuple[Settings, Mailbox]:
    settings = google_settings(
        db,
        google,
        gmail_api_url=gmail.url,
        gmail_quota_per_minute=10_000_000,
        google_calendar_api_url=calendar.url,
    )
    workspace = await create_workspace("acme", "Acme", plan=Plan.PRO)
    alice = await add_member(workspace, ADDRESS, admin=True)
    return settings, await gmail_mailbox(settings, google, alice)


def command(settings: Settings, *args: str, **more: str) -> str:
    extra = {
        "MAILROOM_GMAIL_API_URL": settings.gmail_api_url,
        "MAILROOM_GMAIL_QUOTA_PER_MINUTE": str(settings.gmail_quota_per_minute),
        "MAILROOM_GOOGLE_CALENDAR_API_URL": settings.google_calendar_api_url,
        **{f"MAILROOM_{name.upper()}": value for name, value in more.items()},
    }
    done = mailroom(settings, *args, extra=extra)
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_mailbox_sync_brings_the_calendar_after_the_mail(
    connected: tuple[Settings, Mailbox], gmail: FakeGmail, calendar: FakeGoogleCalendar
) -> None:
    settings, mailbox = connected
    gmail.add(message(1))
    calendar.add("Kickoff", NOW + days(1), attendees=[person(ADDRESS), person("jane@globex.com")])
    await asyncio.to_thread(command, settings, "mailbox", "sync", "acme", ADDRESS)
    assert await Message.all().count() == 1
    assert [e.summary for e in await Event.all()] == ["Kickoff"]
    cursor = await calendar_cursor(mailbox.id, CALENDAR)
    assert "sync_token" in cursor.state
    await mailbox.refresh_from_db()
    assert mailbox.status is MailboxStatus.ACTIVE and mailbox.last_error is None

    calendar.add("Review", NOW + days(2))
    await asyncio.to_thread(command, settings, "mailbox", "sync", "acme", ADDRESS)
    assert await Event.all().count() == 2  # on request the calendar is always due

    calls = calendar.calls["calendar.events.list"]
    off = {"calendar_enabled": "false"}
    await asyncio.to_thread(command, settings, "mailbox", "sync", "acme", ADDRESS, **off)
    assert calendar.calls["calendar.events.list"] == calls


async def test_a_failing_calendar_leaves_the_mail_in_sync(
    connected: tuple[Settings, Mailbox], gmail: FakeGmail, calendar: FakeGoogleCalendar
) -> None:
    settings, mailbox = connected
    gmail.add(message(1))
    calendar.add("Kickoff", NOW + days(1))
    calendar.forbid()  # the calendar scope not granted, say
    await asyncio.to_thread(command, settings, "mailbox", "sync", "acme", ADDRESS)
    assert await Message.all().count() == 1 and not await Event.all().exists()
    await mailbox.refresh_from_db()
    assert mailbox.status is MailboxStatus.ACTIVE and mailbox.failures == 0
    assert mailbox.last_error is not None
    assert mailbox.last_error.startswith("calendar: Google refused access to the calendar")

    # The poller's passes leave it be for calendar_poll_seconds, then try again.
    calendar.forbid(None)
    calls = calendar.calls["calendar.events.list"]
    tokens = MailboxTokens(AccessTokens(settings), mailbox)
    assert await sync_mailbox_calendar(mailbox, settings, tokens) is None
    assert calendar.calls["calendar.events.list"] == calls
    soon = settings.model_copy(update={"calendar_poll_seconds": 0.01})
    await asyncio.sleep(0.02)
    done = await sync_mailbox_calendar(mailbox, soon, tokens)
    assert done is not None and done.report.new == 1

    gmail.add(message(2))
    await asyncio.to_thread(command, settings, "mailbox", "sync", "acme", ADDRESS)
    assert await Message.all().count() == 2 and await Event.all().count() == 1


async def test_a_grant_the_calendar_refuses_stops_the_mailbox(
    connected: tuple[Settings, Mailbox], gmail: FakeGmail, calendar: FakeGoogleCalendar
) -> None:
    settings, mailbox = connected
    gmail.add(message(1))
    calendar.account_of = None  # the account's tokens, refreshed or not, no longer open it
    sync = GmailMailboxSync(mailbox.id, settings, Intake(settings.limits))
    with pytest.raises(AuthError, match="even after a refresh"):
        await sync.once()
    assert await Message.all().count() == 1  # the mail stored before stays
    await mailbox.refresh_from_db()
    assert mailbox.status is MailboxStatus.NEEDS_REAUTH


async def test_serve_keeps_the_calendar_in_sync(
    connected: tuple[Settings, Mailbox], gmail: FakeGmail, calendar: FakeGoogleCalendar
) -> None:
    settings, mailbox = connected
    calendar.add("Kickoff", NOW + days(1))
    live = settings.model_copy(
        update={
            "smtp_enabled": False,
            "imap_enabled": False,
            "graph_enabled": False,
            "gmail_poll_seconds": 0.2,
            "calendar_poll_seconds": 1.0,
        }
    )
    async with running(live) as services:
        assert services.gmail is not None and services.gmail.running
        deadline = time.monotonic() + 60
        while not await Event.filter(summary="Kickoff").exists():
            assert time.monotonic() < deadline, "the first sync did not store the event"
            await asyncio.sleep(0.05)
        review = calendar.add("Review", NOW + days(2))
        while not await Event.filter(summary="Review").exists():
            assert time.monotonic() < deadline, "a new event was not picked up"
            await asyncio.sleep(0.05)
        calendar.delete(review)
        while await Event.filter(summary="Review").exists():
            assert time.monotonic() < deadline, "a deleted event was not removed"
            await asyncio.sleep(0.05)
        # A Gmail pass every 0.2 s; the calendar's only when a second has passed.
        before = calendar.calls["calendar.events.list"], gmail.calls["gmail.users.history.list"]
        await asyncio.sleep(3)
        looked = calendar.calls["calendar.events.list"] - before[0]
        assert 1 <= looked <= 4
        assert looked < gmail.calls["gmail.users.history.list"] - before[1]
