"""A connected Google account synced as an operator runs it: `mailroom mailbox sync`,
`reconcile` and `serve`'s poller, with tokens from the local Google (fakes/google_oauth.py)
that the local Gmail honours, a revoked grant, and a sync killed with SIGKILL in the middle."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from fakes.gmail import FakeGmail
from fakes.gmail_http import GmailServer
from fakes.google_oauth import GoogleOAuth
from mailroom.bootstrap import running
from mailroom.models import Mailbox, MailboxStatus, Message, Plan, ProviderItem
from mailroom.settings import Settings
from mailroom.workspace import add_member, create_workspace
from tests.oauth.conftest import gmail_mailbox, google_settings, mailroom
from tests.sources.gmail.conftest import message

ADDRESS = "alice@acme.com"


@pytest.fixture
def google() -> Iterator[GoogleOAuth]:
    with GoogleOAuth(redirect_uris=("http://mailroom.test/oauth/callback",)).serve() as server:
        yield server


@pytest.fixture
def account(google: GoogleOAuth) -> Iterator[FakeGmail]:
    """Alice's Gmail, honouring the tokens the local Google gives for her account."""
    fake = FakeGmail(ADDRESS)
    fake.trust(google.account_of)
    with GmailServer(fake):
        yield fake
    assert fake.violations == [], "the fake Gmail answered outside Google's schema"


@pytest.fixture
async def connected(
    db: Settings, google: GoogleOAuth, account: FakeGmail
) -> tuple[Settings, Mailbox]:
    # Quota as a project granted much of it has: what is tested is what is stored. Mail alone:
    # tests/sources/google_calendar/test_accounts.py syncs the account's calendar beside it.
    settings = google_settings(
        db,
        google,
        gmail_api_url=account.url,
        gmail_quota_per_minute=10_000_000,
        calendar_enabled=False,
    )
    workspace = await create_workspace("acme", "Acme", plan=Plan.PRO)
    alice = await add_member(workspace, ADDRESS, admin=True)
    return settings, await gmail_mailbox(settings, google, alice)


def command(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    extra = {
        "MAILROOM_GMAIL_API_URL": settings.gmail_api_url,
        "MAILROOM_GMAIL_QUOTA_PER_MINUTE": str(settings.gmail_quota_per_minute),
        "MAILROOM_CALENDAR_ENABLED": "false",
    }
    return mailroom(settings, *args, extra=extra)


async def test_sync_and_reconcile_from_the_command_line(
    connected: tuple[Settings, Mailbox], account: FakeGmail
) -> None:
    settings, mailbox = connected
    ids = [account.add(message(n)) for n in range(60)]
    account.add(message(99), ["DRAFT"])
    synced = await asyncio.to_thread(command, settings, "mailbox", "sync", "acme", ADDRESS)
    assert synced.returncode == 0, synced.stderr
    assert "60 new" in synced.stdout
    await mailbox.refresh_from_db()
    assert mailbox.status is MailboxStatus.ACTIVE and mailbox.last_error is None

    same = await asyncio.to_thread(command, settings, "mailbox", "reconcile", "acme", ADDRESS)
    assert same.returncode == 0, same.stderr
    assert same.stdout.strip() == "provider 60, stored 60, missing 0, extra 0"

    # A hole (lost from the store) and an extra (gone at Gmail with no history saying so).
    await ProviderItem.filter(mailbox_id=mailbox.id, item=ids[5]).delete()
    with account.lock:
        del account.messages[ids[6]]
    found = await asyncio.to_thread(command, settings, "mailbox", "reconcile", "acme", ADDRESS)
    assert found.returncode == 1
    assert found.stdout.splitlines() == [
        "provider 59, stored 59, missing 1, extra 1",
        f"missing {ids[5]}",
        f"extra {ids[6]}",
    ]
    repaired = await asyncio.to_thread(
        command, settings, "mailbox", "reconcile", "acme", ADDRESS, "--repair"
    )
    assert repaired.returncode == 0, repaired.stderr
    assert await ProviderItem.filter(mailbox_id=mailbox.id).count() == 59
    assert not await Message.filter(internet_message_id="m6@initech.example").exists()
    await mailbox.refresh_from_db()
    assert mailbox.reconciliation is not None and mailbox.reconciliation["repaired"]


async def test_a_revoked_grant_stops_the_mailbox_until_it_is_reconnected(
    connected: tuple[Settings, Mailbox], account: FakeGmail, google: GoogleOAuth
) -> None:
    settings, mailbox = connected
    account.add(message(1))
    # Revoked at Google (by its owner, say): the access token in hand no longer opens Gmail,
    # and the refresh the client then asks for is refused.
    google.revoke_all(ADDRESS)
    result = await asyncio.to_thread(command, settings, "mailbox", "sync", "acme", ADDRESS)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "reconnect" in line and "Traceback" not in result.stderr
    await mailbox.refresh_from_db()
    assert mailbox.status is MailboxStatus.NEEDS_REAUTH
    assert mailbox.last_error is not None and "mailroom mailbox reconnect" in mailbox.last_error


async def test_serve_keeps_the_mailbox_in_sync(
    connected: tuple[Settings, Mailbox], account: FakeGmail
) -> None:
    settings, mailbox = connected
    account.add(message(1))
    live = settings.model_copy(
        update={"smtp_enabled": False, "imap_enabled": False, "gmail_poll_seconds": 0.2}
    )
    async with running(live) as services:
        assert services.gmail is not None and services.gmail.running
        deadline = time.monotonic() + 60
        while not await Message.filter(internet_message_id="m1@initech.example").exists():
            assert time.monotonic() < deadline, "the first sync did not store the message"
            await asyncio.sleep(0.05)
        later = account.add(message(2))
        while not await ProviderItem.filter(item=later).exists():
            assert time.monotonic() < deadline, "a new message was not picked up"
            await asyncio.sleep(0.05)
        account.trash(later)
        while await ProviderItem.filter(item=later).exists():
            assert time.monotonic() < deadline, "a trashed message was not removed"
            await asyncio.sleep(0.05)
        await mailbox.refresh_from_db()
        assert mailbox.status is MailboxStatus.ACTIVE and mailbox.lease_until is not None


async def test_a_sync_killed_in_the_middle_resumes_with_nothing_missing_or_doubled(
    connected: tuple[Settings, Mailbox], account: FakeGmail
) -> None:
    settings, mailbox = connected
    ids = [account.add(message(n)) for n in range(3000)]
    account.delay = 0.02  # slow enough to be caught in the middle
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
        "MAILROOM_DATABASE_URL": settings.database_url,
        "MAILROOM_DATA_DIR": str(settings.data_dir),
        "MAILROOM_SECRET_KEY": settings.secret_key or "",
        "MAILROOM_GOOGLE_CLIENT_ID": settings.google_client_id or "",
        "MAILROOM_GOOGLE_CLIENT_SECRET": settings.google_client_secret or "",
        "MAILROOM_GOOGLE_TOKEN_URL": settings.google_token_url,
        "MAILROOM_GMAIL_API_URL": settings.gmail_api_url,
        "MAILROOM_GMAIL_QUOTA_PER_MINUTE": str(settings.gmail_quota_per_minute),
        "MAILROOM_NORMALIZE_WORKERS": "0",
        "MAILROOM_CALENDAR_ENABLED": "false",
    }
    child = subprocess.Popen(
        [sys.executable, "-m", "mailroom", "mailbox", "sync", "acme", ADDRESS],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while (processed := await ProviderItem.filter(mailbox_id=mailbox.id).count()) < 200:
            assert child.poll() is None, "the sync ended before it could be killed"
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    account.delay = 0.0
    fetched = account.calls["gmail.users.messages.get"]
    assert fetched < 3000
    again = await asyncio.to_thread(command, settings, "mailbox", "sync", "acme", ADDRESS)
    assert again.returncode == 0, again.stderr
    items = await ProviderItem.filter(mailbox_id=mailbox.id).values_list("item", flat=True)
    assert sorted(map(str, items)) == sorted(ids)
    assert await Message.all().count() == 3000
    # Only what the killed run had not stored was fetched again: what it stored and had not
    # processed yet was taken up from the store.
    assert account.calls["gmail.users.messages.get"] - fetched <= 3000 - processed
