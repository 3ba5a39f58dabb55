"""A connected Microsoft 365 mailbox's calendar synced after its mail: by `mailroom mailbox
sync`'s pass and by `serve`'s Graph poller, with tokens from the local identity platform; a
calendar Graph refuses leaves the mail synced and the mailbox well."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from fakes.graph import FakeGraph
from fakes.graph_calendar import Guest
from fakes.graph_http import GraphServer
from fakes.microsoft_identity import CLIENT_ID, CLIENT_SECRET, MicrosoftIdentity
from mailroom import logs
from mailroom.bootstrap import running
from mailroom.intake import Intake
from mailroom.models import (
    EventCopy,
    Mailbox,
    MailboxStatus,
    Member,
    Message,
    Plan,
    Provider,
)
from mailroom.oauth import Credentials
from mailroom.settings import Settings
from mailroom.vault import Vault, new_key
from mailroom.workspace import add_member, create_workspace
from mailroom.workspace.syncing import sync_mailbox
from tests.sources.graph.conftest import ADDRESS, message

PETER = Guest("peter@fabrikam.example", "Peter Smith", response="accepted")


@pytest.fixture
def identity() -> Iterator[MicrosoftIdentity]:
    with MicrosoftIdentity(
        redirect_uris=("http://mailroom.test/oauth/callback",)
    ).serve() as server:
        yield server


@pytest.fixture
def server(identity: MicrosoftIdentity) -> Iterator[GraphServer]:
    fake = FakeGraph(ADDRESS)
    fake.trust(identity.account_of)
    with GraphServer(fake) as running_server:
        yield running_server
    assert fake.peak_in_flight <= 4


@pytest.fixture
def configured(db: Settings, identity: MicrosoftIdentity, server: GraphServer) -> Settings:
    return db.model_copy(
        update={
            "secret_key": new_key(),
            "microsoft_client_id": CLIENT_ID,
            "microsoft_client_secret": CLIENT_SECRET,
            "microsoft_login_url": identity.login_url,
            "graph_api_url": server.fake.url,
            "normalize_workers": 0,
        }
    )


@pytest.fixture
async def connected(configured: Settings, identity: MicrosoftIdentity) -> Mailbox:
    workspace = await create_workspace("contoso", "Contoso", plan=Plan.PRO)
    await add_member(workspace, ADDRESS, admin=True)
    token = identity.issue(ADDRESS)
    credentials = Credentials.from_token(token, token["refresh_token"])
    alice = await Member.get(email=ADDRESS)
    return await Mailbox.create(
        workspace_id=alice.workspace_id,
        owner=alice,
        provider=Provider.MICROSOFT,
        address=ADDRESS,
        status=MailboxStatus.PENDING,
        credentials=credentials.sealed(Vault(configured.secret_key)),
    )


def soon(days: float) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(days=days)


async def held(mailbox: Mailbox) -> set[str]:
    rows = await EventCopy.filter(mailbox_id=mailbox.id).values_list("item", flat=True)
    return {str(row) for row in rows}


async def test_mailbox_sync_brings_the_calendar_after_the_mail(
    configured: Settings, server: GraphServer, connected: Mailbox
) -> None:
    server.fake.add(message(1))
    meeting = server.calendar.add("Kickoff", soon(2), soon(2) + timedelta(hours=1))
    synced = await sync_mailbox(configured, connected, Intake())
    assert synced.report.new == 1
    assert await held(connected) == {meeting}
    kinds = [r.kind for r in server.fake.requests if r.kind]
    assert kinds.index("calendarView") > max(i for i, k in enumerate(kinds) if k == "delta")


async def test_a_calendar_graph_refuses_leaves_the_mail_synced(
    configured: Settings,
    server: GraphServer,
    connected: Mailbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server.fake.add(message(1))
    meeting = server.calendar.add("Kickoff", soon(2), soon(2) + timedelta(hours=1))
    server.calendar.denied = True  # the account never granted Calendars.Read
    with caplog.at_level(logging.WARNING):
        synced = await sync_mailbox(configured, connected, Intake())
    assert synced.report.new == 1
    assert await Message.filter(internet_message_id="m1@fabrikam.example").exists()
    await connected.refresh_from_db()
    assert connected.status is MailboxStatus.ACTIVE and connected.last_error is None
    failed = [r for r in caplog.records if r.getMessage() == "calendar sync failed"]
    assert failed and "Calendars.Read" in str(logs.record_fields(failed[0])["error"])
    assert await held(connected) == set()

    server.calendar.denied = False
    await sync_mailbox(configured, connected, Intake())
    assert await held(connected) == {meeting}


async def test_no_calendar_is_asked_for_when_calendars_are_off(
    configured: Settings, server: GraphServer, connected: Mailbox
) -> None:
    server.calendar.add("Kickoff", soon(2), soon(2) + timedelta(hours=1))
    off = configured.model_copy(update={"calendar_enabled": False})
    await sync_mailbox(off, connected, Intake())
    assert server.fake.calls["calendarView"] == 0
    assert await held(connected) == set()


async def test_serve_keeps_the_calendar_in_sync(
    configured: Settings, server: GraphServer, connected: Mailbox
) -> None:
    calendar = server.calendar
    first = calendar.add("Kickoff", soon(2), soon(2) + timedelta(hours=1), attendees=(PETER,))
    live = configured.model_copy(
        update={
            "smtp_enabled": False,
            "imap_enabled": False,
            "gmail_enabled": False,
            "graph_poll_seconds": 0.2,
            "calendar_poll_seconds": 0.2,
        }
    )
    async with running(live) as services:
        assert services.graph is not None and services.graph.running
        deadline = time.monotonic() + 60
        while await held(connected) != {first}:
            assert time.monotonic() < deadline, "the first sync did not store the event"
            await asyncio.sleep(0.05)
        later = calendar.add("Review", soon(3), soon(3) + timedelta(hours=1))
        calendar.delete(first)
        while await held(connected) != {later}:
            assert time.monotonic() < deadline, "the calendar's changes were not followed"
            await asyncio.sleep(0.05)
        await connected.refresh_from_db()
        assert connected.status is MailboxStatus.ACTIVE
