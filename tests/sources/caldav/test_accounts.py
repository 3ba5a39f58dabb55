"""Connecting CalDAV calendars (`mailbox add-caldav`, run as a user runs it), the safety rules
they share with IMAP accounts, and `serve`'s supervision of them: against a real Radicale."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace

import pytest
from starlette.applications import Starlette
from starlette.responses import HTMLResponse
from starlette.routing import Route

from fakes.server import LocalServer
from mailroom.errors import ConflictError, InvalidInputError
from mailroom.models import EventCopy, Mailbox, MailboxStatus, Member, Plan, Provider, Workspace
from mailroom.settings import Settings
from mailroom.sources.caldav import CalDavPoller, account_for
from mailroom.sources.caldav.errors import AuthError, HostRefusedError
from mailroom.vault import new_key
from mailroom.workspace import add_caldav_mailbox, add_member, create_workspace
from tests.e2e.services import free_port
from tests.sources.caldav.conftest import MONDAY, calendar, connect, sync, vevent
from tests.sources.caldav.radicale import Radicale
from tests.sources.imap.test_cli import mailroom


@pytest.fixture
def not_caldav() -> Iterator[str]:
    """A web server that is no CalDAV server."""

    async def page(request: object) -> HTMLResponse:
        return HTMLResponse("<html><body>Welcome</body></html>")

    app = Starlette(routes=[Route("/{path:path}", page, methods=["GET", "PROPFIND"])])
    with LocalServer(app) as running:
        yield running.url


def _change_password(radicale: Radicale, password: str) -> Radicale:
    """The user's password changed on the server (as by its owner): the server as it is now."""
    (radicale.directory / "users").write_text(f"{radicale.user}:{password}\n")
    return replace(radicale, password=password)


def test_add_sync_status_and_reconnect_at_the_command_line(
    settings: Settings, radicale: Radicale, not_caldav: str
) -> None:
    work = radicale.calendar("work")
    radicale.put(work, "a.ics", calendar(vevent("a@acme", MONDAY, "Kickoff")))
    radicale.put(work, "b.ics", calendar(vevent("b@acme", MONDAY, "Review", klass="PRIVATE")))
    key = {"MAILROOM_SECRET_KEY": new_key()}
    assert mailroom(settings, "workspace", "create", "acme").returncode == 0
    assert mailroom(settings, "member", "add", "acme", "alice@acme.com").returncode == 0

    def add(url: str, password: str, *flags: str) -> tuple[int, str, str]:
        done = mailroom(
            settings,
            *("mailbox", "add-caldav", "acme", "alice@acme.com", "--url", url),
            *("--username", radicale.user, "--password-env", "CALDAV_PASSWORD", *flags),
            extra={**key, "CALDAV_PASSWORD": password},
        )
        assert "Traceback" not in done.stderr
        return done.returncode, done.stdout, done.stderr

    code, _, error = add(radicale.home, radicale.password)  # a private host, in clear text
    assert code == 1 and "unencrypted URL (http://) is only for private hosts" in error
    assert "--allow-private-host" in error
    code, _, error = add(radicale.home, "wrong", "--allow-private-host")
    assert code == 1 and "refused the login of 'alice'" in error
    closed = f"http://127.0.0.1:{free_port()}/"
    code, _, error = add(closed, radicale.password, "--allow-private-host")
    assert code == 1 and "network error" in error
    code, _, error = add(not_caldav + "/dav/", radicale.password, "--allow-private-host")
    assert (
        code == 1
        and "is not a CalDAV server" not in error
        and "a CalDAV server answers 207" in error
    )
    assert len(error.strip().splitlines()) == 1

    code, out, error = add(radicale.home, radicale.password, "--allow-private-host")
    assert code == 0, error
    assert "Connected alice@acme.com (1 calendar at" in out
    synced = mailroom(settings, "mailbox", "sync", "acme", "alice@acme.com", extra=key)
    assert synced.returncode == 0, synced.stderr
    assert "1 event: 1 new, 0 updated, 0 unchanged; 0 removed (1 private)" in synced.stdout
    rows = json.loads(mailroom(settings, "mailbox", "status", "acme", "--json", extra=key).stdout)
    [row] = [r for r in rows if r["provider"] == "CALDAV"]
    assert row["status"] == "ACTIVE" and row["last_error"] is None

    radicale = _change_password(radicale, "changed-on-the-server")
    failed = mailroom(settings, "mailbox", "sync", "acme", "alice@acme.com", extra=key)
    assert failed.returncode == 1 and "refused the login" in failed.stderr
    rows = json.loads(mailroom(settings, "mailbox", "status", "acme", "--json", extra=key).stdout)
    [row] = [r for r in rows if r["provider"] == "CALDAV"]
    assert row["status"] == "NEEDS_REAUTH" and "refused the login" in row["last_error"]
    again = mailroom(
        settings,
        *("mailbox", "reconnect", "acme", "alice@acme.com", "--password-env", "NEW_PASSWORD"),
        extra={**key, "NEW_PASSWORD": "changed-on-the-server"},
    )
    assert again.returncode == 0, again.stderr
    radicale.put(work, "c.ics", calendar(vevent("c@acme", MONDAY, "Retro")))
    synced = mailroom(settings, "mailbox", "sync", "acme", "alice@acme.com", extra=key)
    assert synced.returncode == 0 and "1 event: 1 new" in synced.stdout


async def test_the_password_is_sealed_and_the_url_checked(
    caldav_settings: Settings, team: tuple[Workspace, Member], radicale: Radicale
) -> None:
    radicale.calendar("work")
    mailbox = await connect(caldav_settings, team, radicale.home, radicale.user, radicale.password)
    row = await Mailbox.get(id=mailbox.id)
    assert row.provider is Provider.CALDAV and row.status is MailboxStatus.PENDING
    assert radicale.password not in (row.credentials or "") and row.credentials
    assert row.connection == {
        "url": radicale.home,
        "username": "alice",
        "allow_private_host": True,
    }
    settings = caldav_settings
    with pytest.raises(InvalidInputError, match="unencrypted URL"):
        account_for(settings, radicale.home, "alice", "pw")
    with pytest.raises(InvalidInputError, match="not in the URL"):
        account_for(settings, "https://alice:pw@caldav.example.com/", "alice", "pw")
    with pytest.raises(InvalidInputError, match="not an https:// URL"):
        account_for(settings, "ftp://caldav.example.com/", "alice", "pw")
    # A private host behind an https URL: refused when the connection is made, as for IMAP.
    workspace, member = team
    account = account_for(settings, "https://localhost:1/dav/", "alice", "pw")
    with pytest.raises(HostRefusedError, match="'localhost' resolves to .*not a public"):
        await add_caldav_mailbox(settings, workspace, member, account)
    # The operator's setting allows them for every mailbox.
    allowed = settings.model_copy(update={"caldav_allow_private_hosts": True})
    account = account_for(allowed, radicale.home, "alice", radicale.password)
    assert account.allow_private


async def test_a_caldav_mailbox_counts_against_the_plan(
    caldav_settings: Settings, radicale: Radicale
) -> None:
    radicale.calendar("work")
    workspace = await create_workspace("small", "Small", plan=Plan.FREE)
    member = await add_member(workspace, "carol@small.com", admin=True)
    await connect(caldav_settings, (workspace, member), radicale.home, "alice", radicale.password)
    with pytest.raises(ConflictError, match="already has 1 connected mailbox"):
        await connect(caldav_settings, (workspace, member), radicale.home, "alice", "x")


async def test_serve_keeps_caldav_mailboxes_in_sync_until_the_login_is_refused(
    caldav_settings: Settings, team: tuple[Workspace, Member], radicale: Radicale
) -> None:
    work = radicale.calendar("work")
    radicale.put(work, "a.ics", calendar(vevent("a@acme", MONDAY, "First")))
    mailbox = await connect(caldav_settings, team, work, radicale.user, radicale.password)
    settings = caldav_settings.model_copy(update={"calendar_poll_seconds": 0.2})
    poller = CalDavPoller(settings, look_every=0.1)
    poller.start()
    try:
        await _until(lambda: _count(mailbox, 1))
        await _until(lambda: _status(mailbox, MailboxStatus.ACTIVE))
        radicale.put(work, "b.ics", calendar(vevent("b@acme", MONDAY, "Second")))
        await _until(lambda: _count(mailbox, 2))
        _change_password(radicale, "changed")
        await _until(lambda: _status(mailbox, MailboxStatus.NEEDS_REAUTH))
        row = await Mailbox.get(id=mailbox.id)
        assert "refused the login" in (row.last_error or "")
        assert poller.running  # the poller goes on; that mailbox waits for a reconnect
    finally:
        await poller.stop()


async def test_a_wrong_password_at_sync_is_needs_reauth(
    caldav_settings: Settings, team: tuple[Workspace, Member], radicale: Radicale
) -> None:
    radicale.calendar("work")
    mailbox = await connect(caldav_settings, team, radicale.home, radicale.user, radicale.password)
    _change_password(radicale, "changed")
    with pytest.raises(AuthError, match="refused the login"):
        await sync(caldav_settings, mailbox)
    row = await Mailbox.get(id=mailbox.id)
    assert row.status is MailboxStatus.NEEDS_REAUTH and row.failures == 1


async def _count(mailbox: Mailbox, expected: int) -> bool:
    return await EventCopy.filter(mailbox_id=mailbox.id).count() == expected


async def _status(mailbox: Mailbox, expected: MailboxStatus) -> bool:
    return (await Mailbox.get(id=mailbox.id)).status is expected


async def _until(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("not reached in time")
