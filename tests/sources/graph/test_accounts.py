"""A Microsoft 365 account connected and synced as people and operators do it: the consent
through a browser (`mailroom mailbox connect ... --provider microsoft`), the accounts Mailroom
refuses (a personal account, an on-premises mailbox) and a tenant that wants an administrator's
consent, tokens from the local identity platform (fakes/microsoft_identity.py) that the local
Graph honours, refresh tokens rotated at every use, a revoked grant, `mailbox sync`,
`reconcile`, `serve`'s poller, and a sync killed with SIGKILL in the middle."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from fakes.graph import FakeGraph
from fakes.graph_http import GraphServer
from fakes.microsoft_identity import (
    CLIENT_ID,
    CLIENT_SECRET,
    CONSUMER_TENANT,
    TENANT_ID,
    MicrosoftIdentity,
)
from mailroom.app import create_app
from mailroom.bootstrap import running
from mailroom.models import (
    Mailbox,
    MailboxStatus,
    Member,
    Message,
    Plan,
    Provider,
    ProviderItem,
)
from mailroom.oauth import Credentials
from mailroom.oauth.tokens import AccessTokens
from mailroom.settings import Settings
from mailroom.vault import Vault, new_key
from mailroom.workspace import add_member, create_workspace
from tests.graphql.conftest import Api, make_team
from tests.sources.graph.conftest import message

ADDRESS = "alice@contoso.com"
PUBLIC_URL = "http://mailroom.test"
CALLBACK = f"{PUBLIC_URL}/oauth/callback"
CONNECT = """mutation { connectMailbox(provider: MICROSOFT) { __typename
  ... on ConsentRequired { url provider expiresAt } ... on InvalidInput { message } } }"""


@pytest.fixture
def identity() -> Iterator[MicrosoftIdentity]:
    with MicrosoftIdentity(redirect_uris=(CALLBACK,)).serve() as server:
        yield server
    # However many tasks and processes asked, one account was never refreshed twice at once.
    assert server.concurrent_refreshes_max <= 1


@pytest.fixture
def account(identity: MicrosoftIdentity) -> Iterator[FakeGraph]:
    """Alice's mailbox, honouring the tokens the identity platform gives for her account."""
    fake = FakeGraph(ADDRESS)
    fake.trust(identity.account_of)
    with GraphServer(fake):
        yield fake
    assert fake.peak_in_flight <= 4


@pytest.fixture
def configured(db: Settings, identity: MicrosoftIdentity, account: FakeGraph) -> Settings:
    return db.model_copy(
        update={
            "secret_key": new_key(),
            "public_url": PUBLIC_URL,
            "microsoft_client_id": CLIENT_ID,
            "microsoft_client_secret": CLIENT_SECRET,
            "microsoft_login_url": identity.login_url,
            "graph_api_url": account.url,
            "normalize_workers": 0,
        }
    )


@pytest.fixture
async def browser(configured: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = httpx.ASGITransport(app=create_app(configured))
    async with httpx.AsyncClient(mounts={PUBLIC_URL: app}, timeout=30) as client:
        yield client


@pytest.fixture
async def workspace_with_alice(db: Settings) -> None:
    workspace = await create_workspace("contoso", "Contoso", plan=Plan.PRO)
    await add_member(workspace, ADDRESS, admin=True)


async def consent(browser: httpx.AsyncClient, url: str) -> httpx.Response:
    """A person opening the consent URL, signing in, and coming back to Mailroom."""
    to_microsoft = await browser.get(url)
    assert to_microsoft.status_code == 302, to_microsoft.text
    location = to_microsoft.headers["location"]
    assert location.startswith(CALLBACK + "?"), location
    return await browser.get(location)


def mailroom(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    """The command, as the operator runs it, with `settings` as its environment."""
    values: dict[str, Any] = {
        "database_url": settings.database_url,
        "data_dir": str(settings.data_dir),
        "secret_key": settings.secret_key,
        "public_url": settings.public_url,
        "microsoft_client_id": settings.microsoft_client_id,
        "microsoft_client_secret": settings.microsoft_client_secret,
        "microsoft_login_url": settings.microsoft_login_url,
        "microsoft_tenant": settings.microsoft_tenant,
        "graph_api_url": settings.graph_api_url,
        "normalize_workers": "0",
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    env = {f"MAILROOM_{k.upper()}": str(v) for k, v in values.items() if v}
    return subprocess.run(
        [sys.executable, "-m", "mailroom", *args],
        env={**clean, "COLUMNS": "200", **env},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def connect(settings: Settings, browser: httpx.AsyncClient) -> httpx.Response:
    started = await asyncio.to_thread(
        mailroom, settings, "mailbox", "connect", "contoso", ADDRESS, "--provider", "microsoft"
    )
    assert started.returncode == 0, started.stderr
    return await consent(browser, started.stdout.strip().splitlines()[-1])


@pytest.fixture
async def connected(
    configured: Settings, identity: MicrosoftIdentity, workspace_with_alice: None
) -> Mailbox:
    """Alice's mailbox with a live grant (made without the browser)."""
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


async def test_connect_a_work_account_by_consent(
    configured: Settings,
    identity: MicrosoftIdentity,
    browser: httpx.AsyncClient,
    workspace_with_alice: None,
) -> None:
    page = await connect(configured, browser)
    assert page.status_code == 200, page.text
    assert f"Connected {ADDRESS}" in page.text
    mailbox = await Mailbox.get(address=ADDRESS)
    assert mailbox.provider is Provider.MICROSOFT and mailbox.status is MailboxStatus.PENDING
    [asked] = identity.authorizations
    assert set(asked["scope"].split()) == {
        "offline_access",
        "openid",
        "email",
        "User.Read",
        "Mail.Read",
        "Calendars.Read",
    }
    assert asked["code_challenge_method"] == "S256" and asked["prompt"] == "select_account"
    held = Credentials.opened(Vault(configured.secret_key), mailbox)
    assert held.refresh_token and held.access_token


async def test_connect_through_the_api(
    configured: Settings, identity: MicrosoftIdentity, browser: httpx.AsyncClient
) -> None:
    made = await make_team("contoso")
    api = Api(browser, configured)
    base = httpx.URL(PUBLIC_URL)
    api.client.base_url = base
    answer = (await api.data(made.alice_token, CONNECT))["connectMailbox"]
    assert answer["__typename"] == "ConsentRequired" and answer["provider"] == "Microsoft"
    assert answer["url"].startswith(f"{identity.login_url}/organizations/oauth2/v2.0/authorize")
    assert identity.account == (ADDRESS, TENANT_ID)
    page = await consent(browser, answer["url"])
    assert page.status_code == 200 and f"Connected {ADDRESS}" in page.text
    boxes = await api.data(made.alice_token, "{ mailboxes { address provider status } }")
    assert {"address": ADDRESS, "provider": "MICROSOFT", "status": "PENDING"} in boxes["mailboxes"]


async def test_a_personal_microsoft_account_is_refused(
    configured: Settings, identity: MicrosoftIdentity, workspace_with_alice: None
) -> None:
    # At `organizations` Microsoft itself refuses a personal account; an operator who set the
    # tenant to `common` relies on Mailroom's own check.
    common = configured.model_copy(update={"microsoft_tenant": "common"})
    identity.account = ("alice@outlook.com", CONSUMER_TENANT)
    app = httpx.ASGITransport(app=create_app(common))
    async with httpx.AsyncClient(mounts={PUBLIC_URL: app}, timeout=30) as browser:
        page = await connect(common, browser)
    assert page.status_code == 400
    assert "personal Microsoft account" in page.text
    assert not await Mailbox.exists()


async def test_an_on_premises_mailbox_is_refused(
    configured: Settings, account: FakeGraph, browser: httpx.AsyncClient, workspace_with_alice: None
) -> None:
    account.on_prem = True
    page = await connect(configured, browser)
    assert page.status_code == 400
    assert "on-premises Exchange" in page.text
    assert not await Mailbox.exists()


@pytest.mark.parametrize("code", ["AADSTS65001", "AADSTS90094"])
async def test_a_tenant_that_wants_an_administrator_is_explained(
    configured: Settings,
    identity: MicrosoftIdentity,
    browser: httpx.AsyncClient,
    workspace_with_alice: None,
    code: str,
) -> None:
    identity.admin_consent_required = code
    page = await connect(configured, browser)
    assert page.status_code == 403
    assert "An administrator must allow Mailroom" in page.text
    assert "Grant admin consent" in page.text and CLIENT_ID in page.text
    assert not await Mailbox.exists()


async def test_rotated_refresh_tokens_are_stored_and_refreshes_never_race(
    configured: Settings, identity: MicrosoftIdentity, connected: Mailbox
) -> None:
    tokens = AccessTokens(configured)
    vault = Vault(configured.secret_key)
    first = Credentials.opened(vault, connected)
    identity.expire_access_tokens()
    # Many tasks find the token rejected at once: one refresh, whose new refresh token is kept.
    fresh = await asyncio.gather(
        *(tokens.refreshed(connected, first.access_token) for _ in range(8))
    )
    assert len(set(fresh)) == 1 and identity.refresh_calls == 1
    await connected.refresh_from_db()
    second = Credentials.opened(vault, connected)
    assert second.refresh_token != first.refresh_token
    # The next refresh uses the stored one: the used one would be refused (strict rotation).
    await tokens.refreshed(connected, second.access_token)
    await connected.refresh_from_db()
    assert identity.refresh_calls == 2
    assert Credentials.opened(vault, connected).refresh_token != second.refresh_token


async def test_sync_and_reconcile_from_the_command_line(
    configured: Settings, account: FakeGraph, connected: Mailbox
) -> None:
    ids = [account.add(message(n)) for n in range(40)]
    sent = account.add(message(90), "sentitems")
    account.add(message(99), "drafts")
    synced = await asyncio.to_thread(mailroom, configured, "mailbox", "sync", "contoso", ADDRESS)
    assert synced.returncode == 0, synced.stderr
    assert "41 new" in synced.stdout
    await connected.refresh_from_db()
    assert connected.status is MailboxStatus.ACTIVE and connected.last_error is None
    same = await asyncio.to_thread(mailroom, configured, "mailbox", "reconcile", "contoso", ADDRESS)
    assert same.returncode == 0, same.stderr
    assert same.stdout.strip() == "provider 41, stored 41, missing 0, extra 0"
    await ProviderItem.filter(mailbox_id=connected.id, item=f"inbox/{ids[3]}").delete()
    found = await asyncio.to_thread(
        mailroom, configured, "mailbox", "reconcile", "contoso", ADDRESS, "--repair"
    )
    assert found.returncode == 0, found.stderr
    assert await ProviderItem.filter(mailbox_id=connected.id).count() == 41
    assert await ProviderItem.filter(mailbox_id=connected.id, item=f"sentitems/{sent}").exists()


async def test_a_revoked_grant_stops_the_mailbox_until_it_is_reconnected(
    configured: Settings, identity: MicrosoftIdentity, account: FakeGraph, connected: Mailbox
) -> None:
    account.add(message(1))
    identity.revoke_all(ADDRESS)
    identity.expire_access_tokens()
    result = await asyncio.to_thread(mailroom, configured, "mailbox", "sync", "contoso", ADDRESS)
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "reconnect" in line and "Traceback" not in result.stderr
    await connected.refresh_from_db()
    assert connected.status is MailboxStatus.NEEDS_REAUTH
    assert connected.last_error is not None and "mailroom mailbox reconnect" in connected.last_error


async def test_serve_keeps_the_mailbox_in_sync(
    configured: Settings, account: FakeGraph, connected: Mailbox
) -> None:
    account.add(message(1))
    live = configured.model_copy(
        update={
            "smtp_enabled": False,
            "imap_enabled": False,
            "gmail_enabled": False,
            "graph_poll_seconds": 0.2,
        }
    )
    async with running(live) as services:
        assert services.graph is not None and services.graph.running
        deadline = time.monotonic() + 60
        while not await Message.filter(internet_message_id="m1@fabrikam.example").exists():
            assert time.monotonic() < deadline, "the first sync did not store the message"
            await asyncio.sleep(0.05)
        later = account.add(message(2))
        while not await ProviderItem.filter(item=f"inbox/{later}").exists():
            assert time.monotonic() < deadline, "new mail was not seen by polling"
            await asyncio.sleep(0.05)
        account.move(later, "deleteditems")
        while await ProviderItem.filter(item=f"inbox/{later}").exists():
            assert time.monotonic() < deadline, "a deleted message was not removed"
            await asyncio.sleep(0.05)
        await connected.refresh_from_db()
        assert connected.status is MailboxStatus.ACTIVE


async def test_a_sync_killed_in_the_middle_resumes_with_nothing_missing_or_doubled(
    configured: Settings, account: FakeGraph, connected: Mailbox
) -> None:
    ids = [account.add(message(n)) for n in range(2000)]
    account.delay = 0.005  # slow enough to be caught in the middle
    values = {
        "MAILROOM_DATABASE_URL": configured.database_url,
        "MAILROOM_DATA_DIR": str(configured.data_dir),
        "MAILROOM_SECRET_KEY": configured.secret_key or "",
        "MAILROOM_MICROSOFT_CLIENT_ID": CLIENT_ID,
        "MAILROOM_MICROSOFT_CLIENT_SECRET": CLIENT_SECRET,
        "MAILROOM_MICROSOFT_LOGIN_URL": configured.microsoft_login_url,
        "MAILROOM_GRAPH_API_URL": configured.graph_api_url,
        "MAILROOM_NORMALIZE_WORKERS": "0",
    }
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}, **values}
    child = subprocess.Popen(
        [sys.executable, "-m", "mailroom", "mailbox", "sync", "contoso", ADDRESS],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while (processed := await ProviderItem.filter(mailbox_id=connected.id).count()) < 200:
            assert child.poll() is None, "the sync ended before it could be killed"
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(30)
    account.delay = 0.0
    # What the killed process had asked for still runs at the server: let it end first.
    while account.in_flight:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    fetched = account.calls["value"]
    assert fetched < 2000
    again = await asyncio.to_thread(mailroom, configured, "mailbox", "sync", "contoso", ADDRESS)
    assert again.returncode == 0, again.stderr
    items = await ProviderItem.filter(mailbox_id=connected.id).values_list("item", flat=True)
    assert sorted(map(str, items)) == sorted(f"inbox/{i}" for i in ids)
    assert await Message.all().count() == 2000
    # Only what the killed run had not stored was fetched again.
    assert account.calls["value"] - fetched <= 2000 - processed
