"""Fixtures for the CalDAV tests: a real Radicale per test (started and stopped here), settings
with a secret key, a workspace with a member, and iCalendar text to fill calendars with."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from mailroom.models import Mailbox, Member, Plan, Workspace
from mailroom.settings import Settings
from mailroom.sources.caldav import CalDavMailboxSync, CalendarPass, account_for
from mailroom.vault import new_key
from mailroom.workspace import add_caldav_mailbox, add_member, create_workspace
from tests.sources.caldav.radicale import Radicale, RadicaleServer

ADDRESS = "alice@acme.com"
# Times near now, so that every occurrence falls in the sync window whatever the day.
MONDAY = (datetime.now(UTC) - timedelta(days=datetime.now(UTC).weekday())).replace(
    hour=9, minute=0, second=0, microsecond=0
)


@pytest.fixture
def radicale() -> Iterator[Radicale]:
    with RadicaleServer() as server:
        yield server


@pytest.fixture
def caldav_settings(db: Settings) -> Settings:
    """The test's database, a secret key; private hosts are allowed per mailbox only."""
    return db.model_copy(update={"secret_key": new_key(), "caldav_timeout": 10.0})


@pytest.fixture
async def team(db: Settings) -> tuple[Workspace, Member]:
    workspace = await create_workspace("acme", "Acme", plan=Plan.PRO)
    return workspace, await add_member(workspace, ADDRESS, admin=True)


async def connect(
    settings: Settings,
    team: tuple[Workspace, Member],
    url: str,
    username: str,
    password: str,
) -> Mailbox:
    """Connect a CalDAV mailbox as `mailbox add-caldav --allow-private-host` does."""
    workspace, member = team
    account = account_for(settings, url, username, password, allow_private=True)
    mailbox, _ = await add_caldav_mailbox(
        settings, workspace, member, account, allow_private_host=True
    )
    return mailbox


async def sync(settings: Settings, mailbox: Mailbox) -> CalendarPass:
    return await CalDavMailboxSync(mailbox.id, settings).once()


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def vevent(
    uid: str,
    start: datetime,
    summary: str,
    *,
    minutes: int = 30,
    attendees: tuple[str, ...] = ("bob@globex.com",),
    rrule: str | None = None,
    recurrence_id: datetime | None = None,
    exdate: datetime | None = None,
    klass: str | None = None,
    sequence: int = 0,
) -> str:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTAMP:{stamp(MONDAY)}",
        f"DTSTART:{stamp(start)}",
        f"DTEND:{stamp(start + timedelta(minutes=minutes))}",
        f"SUMMARY:{summary}",
        f"SEQUENCE:{sequence}",
        f"ORGANIZER;CN=Alice:mailto:{ADDRESS}",
    ]
    lines += [f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{a}" for a in attendees]
    if rrule:
        lines.append(f"RRULE:{rrule}")
    if recurrence_id is not None:
        lines.append(f"RECURRENCE-ID:{stamp(recurrence_id)}")
    if exdate is not None:
        lines.append(f"EXDATE:{stamp(exdate)}")
    if klass:
        lines.append(f"CLASS:{klass}")
    lines.append("END:VEVENT")
    return "\r\n".join(lines)


def calendar(*events: str) -> str:
    head = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Mailroom tests//EN\r\n"
    return head + "\r\n".join(events) + "\r\nEND:VCALENDAR\r\n"
