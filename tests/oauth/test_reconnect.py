"""Reconnecting a Google mailbox whose access was refused: a new consent, from the command line
or the API, that renews the tokens of the same account and keeps everything synced."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

from fakes.google_oauth import GoogleOAuth
from mailroom.choices import AccountProvider
from mailroom.models import Mailbox, MailboxStatus, MessageCopy, Provider
from mailroom.settings import Settings
from mailroom.workspace import start_connection
from tests.graphql.conftest import Api, make_team
from tests.helpers import ingest, message, team
from tests.oauth.conftest import Browser, mailroom, stored

RECONNECT = """mutation($m: ID!, $password: String) {
  reconnectMailbox(mailbox: $m, password: $password) { __typename
    ... on ConsentRequired { url provider } ... on Forbidden { message }
    ... on InvalidInput { message } } }"""


async def _connected(settings: Settings, browser: Browser, made: object) -> Mailbox:
    workspace, member = made.workspace, made.alice  # type: ignore[attr-defined]
    link = await start_connection(settings, workspace, member, AccountProvider.GOOGLE)
    page = await browser.consent(link.url)
    assert page.status_code == 200, page.text
    return await Mailbox.get(provider=Provider.GMAIL, owner_id=member.id)


async def _revoked(mailbox: Mailbox) -> None:
    await Mailbox.filter(id=mailbox.id).update(
        status=MailboxStatus.NEEDS_REAUTH,
        last_error="Google no longer accepts Mailroom's access",
        last_error_at=datetime.now(UTC),
        cursor={"history_id": "4242"},
    )


async def test_reconnect_from_the_command_line_keeps_the_mail(
    oauth: Settings, google: GoogleOAuth, browser: Browser
) -> None:
    made = await team()
    mailbox = await _connected(oauth, browser, made)
    raws = [message(message_id=f"<m{n}@globex.com>", subject=f"Plan {n}") for n in range(3)]
    await ingest(mailbox, *raws)
    before = stored(oauth, mailbox)
    await _revoked(mailbox)

    started = mailroom(oauth, "mailbox", "reconnect", "acme", "alice@acme.com")
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip().splitlines()[-1]
    assert parse_qs(urlsplit(url).query)["login_hint"] == ["alice@acme.com"]
    page = await browser.consent(url)
    assert page.status_code == 200 and "Reconnected alice@acme.com" in page.text

    after = await Mailbox.get(id=mailbox.id)
    assert (after.status, after.last_error, after.last_error_at) == (
        MailboxStatus.PENDING,
        None,
        None,
    )
    assert after.cursor == {"history_id": "4242"}  # the sync goes on from where it was
    assert await MessageCopy.filter(mailbox_id=mailbox.id).count() == 3
    renewed = stored(oauth, after)
    assert renewed.refresh_token != before.refresh_token
    assert google.account_of(renewed.access_token) == "alice@acme.com"
    assert await Mailbox.filter(provider=Provider.GMAIL).count() == 1


async def test_reconnecting_with_another_account_changes_nothing(
    oauth: Settings, google: GoogleOAuth, browser: Browser
) -> None:
    made = await team()
    mailbox = await _connected(oauth, browser, made)
    await _revoked(mailbox)
    held = (await Mailbox.get(id=mailbox.id)).credentials
    started = mailroom(oauth, "mailbox", "reconnect", "acme", "alice@acme.com")
    google.account = "alice.private@gmail.com"
    page = await browser.consent(started.stdout.strip().splitlines()[-1])
    assert page.status_code == 400
    assert "You signed in to Google as alice.private@gmail.com" in page.text
    assert "choose alice@acme.com" in page.text
    after = await Mailbox.get(id=mailbox.id)
    assert (after.status, after.credentials) == (MailboxStatus.NEEDS_REAUTH, held)
    assert google.revoked == ["alice.private@gmail.com"]  # the grant nothing uses


async def test_a_password_is_refused_for_a_mailbox_connected_by_consent(
    oauth: Settings, browser: Browser
) -> None:
    made = await team()
    await _connected(oauth, browser, made)
    args = ("mailbox", "reconnect", "acme", "alice@acme.com", "--password-env", "PASSWORD")
    refused = mailroom(oauth, *args, extra={"PASSWORD": "hunter2"})
    assert refused.returncode == 1 and "reconnected by consent" in refused.stderr


async def test_reconnect_through_the_api(
    oauth: Settings, google: GoogleOAuth, browser: Browser
) -> None:
    made = await make_team()
    google.account = "bob@acme.com"
    link = await start_connection(oauth, made.workspace, made.bob, AccountProvider.GOOGLE)
    assert (await browser.consent(link.url)).status_code == 200
    mailbox = await Mailbox.get(provider=Provider.GMAIL)
    await _revoked(mailbox)
    api = Api(browser.client, oauth)

    async def reconnect(token: str, password: str | None = None) -> dict[str, str]:
        variables = {"m": str(mailbox.id), "password": password}
        answer: dict[str, str] = (await api.data(token, RECONNECT, variables))["reconnectMailbox"]
        return answer

    assert (await reconnect(made.carol_token))["__typename"] == "Forbidden"
    assert (await reconnect(made.bob_token, "hunter2"))["__typename"] == "InvalidInput"
    by_admin = await reconnect(made.alice_token)  # an admin starts it; Bob gives the consent
    assert by_admin["__typename"] == "ConsentRequired" and by_admin["provider"] == "Google"
    page = await browser.consent(by_admin["url"])
    assert page.status_code == 200 and "Reconnected bob@acme.com" in page.text
    assert (await Mailbox.get(id=mailbox.id)).status is MailboxStatus.PENDING
