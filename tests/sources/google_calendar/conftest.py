"""Fixtures for the Google Calendar tests: the local Google Calendar (fakes/) served on
127.0.0.1 per test, failing the test if it ever answered with a body Google's discovery
document does not allow; clients of it with a token source it honours; Gmail mailboxes of a
workspace's members, and a sync of their calendar."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fakes.google_calendar import FakeGoogleCalendar
from fakes.google_calendar_http import CalendarServer
from mailroom.models import Mailbox, MailboxStatus, Plan, Provider, Workspace
from mailroom.settings import Settings
from mailroom.sources.google_calendar import GoogleCalendarClient, GoogleCalendarSync
from mailroom.sources.retry import RetryPolicy
from mailroom.workspace import add_member, create_workspace

# Short waits, so that retries take milliseconds; Retry-After is still honoured as given.
FAST = RetryPolicy(base=0.01, max_backoff=5.0, server_attempts=3, throttled_attempts=6)
ALICE = "alice@acme.com"
NOW = datetime.now(UTC).replace(microsecond=0)


def days(n: float) -> timedelta:
    return timedelta(days=n)


class Tokens:
    """A mailbox's access tokens as the OAuth layer gives them: a refresh gets a new token
    from the fake's authorization server."""

    def __init__(self, fake: FakeGoogleCalendar) -> None:
        self.fake = fake
        self.token = fake.grant()
        self.refreshes = 0

    async def current(self) -> str:
        return self.token

    async def refreshed(self, rejected: str) -> str:
        if rejected == self.token:
            self.refreshes += 1
            self.token = self.fake.grant()
        return self.token


def serve(address: str = ALICE, **options: Any) -> Iterator[FakeGoogleCalendar]:
    fake = FakeGoogleCalendar(address, **options)
    with CalendarServer(fake):
        yield fake
    assert fake.violations == [], "the fake Google Calendar answered outside Google's schema"


@pytest.fixture
def calendar() -> Iterator[FakeGoogleCalendar]:
    yield from serve()


@pytest.fixture
async def connect(
    calendar: FakeGoogleCalendar,
) -> AsyncIterator[Callable[..., GoogleCalendarClient]]:
    """`connect(fake=calendar, **options)`: a client of a fake; options are Settings fields
    or GoogleCalendarClient keywords (tokens, retry, page_size, ...)."""
    clients: list[GoogleCalendarClient] = []

    def make(fake: FakeGoogleCalendar | None = None, **options: Any) -> GoogleCalendarClient:
        fake = fake or calendar
        fields = {
            name: options.pop(name) for name in list(options) if name in Settings.model_fields
        }
        settings = Settings(google_calendar_api_url=fake.url, **fields)
        tokens = options.pop("tokens", None) or Tokens(fake)
        options.setdefault("retry", FAST)
        client = GoogleCalendarClient(settings, tokens, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def workspace(db: Settings) -> Workspace:
    return await create_workspace("acme", "Acme", plan=Plan.PRO)


async def gmail_mailbox(workspace: Workspace, address: str) -> Mailbox:
    member = await add_member(workspace, address, admin=address == ALICE)
    return await Mailbox.create(
        workspace=workspace,
        owner=member,
        provider=Provider.GMAIL,
        address=address,
        status=MailboxStatus.ACTIVE,
    )


@pytest.fixture
async def mailbox(workspace: Workspace) -> Mailbox:
    return await gmail_mailbox(workspace, ALICE)


Sync = Callable[..., GoogleCalendarSync]


@pytest.fixture
def syncer(connect: Callable[..., GoogleCalendarClient], mailbox: Mailbox) -> Sync:
    """`syncer(mailbox=..., fake=..., **options)`: a sync of a mailbox's calendar; options are
    GoogleCalendarSync keywords (days_back, clock, max_pages...) or the client's."""

    def make(
        target: Mailbox | None = None, fake: FakeGoogleCalendar | None = None, **options: Any
    ) -> GoogleCalendarSync:
        own = {
            name: options.pop(name)
            for name in ("days_back", "days_ahead", "max_attendees", "max_pages", "clock")
            if name in options
        }
        return GoogleCalendarSync(target or mailbox, connect(fake, **options), **own)

    return make


def person(address: str, response: str = "accepted", **more: Any) -> dict[str, Any]:
    """An attendee as Google writes one."""
    return {"email": address, "responseStatus": response, **more}
