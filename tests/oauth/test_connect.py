"""Connecting a Google account: started by the command line or the API, finished by the
browser's return to `/oauth/callback`, against the local Google."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
from starlette.applications import Starlette
from starlette.routing import Route

from fakes.google_oauth import CLIENT_ID, GoogleOAuth
from mailroom.graphql.endpoint import GraphQLEndpoint
from mailroom.models import Mailbox, MailboxStatus, OAuthState, Provider
from mailroom.settings import Settings
from tests.cli.runner import one_line
from tests.graphql.conftest import Api, make_team
from tests.helpers import team
from tests.oauth.conftest import (
    CALLBACK,
    PUBLIC_URL,
    Browser,
    google_settings,
    mailroom,
    stored,
)

SCOPES = (
    "openid email https://www.googleapis.com/auth/gmail.readonly "
    "https://www.googleapis.com/auth/calendar.readonly"
)
CONNECT = """mutation { connectMailbox(provider: GOOGLE) { __typename
  ... on ConsentRequired { url provider expiresAt } ... on InvalidInput { message }
  ... on Conflict { message } } }"""


async def test_connect_from_the_command_line(
    oauth: Settings, google: GoogleOAuth, browser: Browser
) -> None:
    await team()
    started = mailroom(
        oauth, "mailbox", "connect", "acme", "alice@acme.com", "--provider", "GOOGLE"
    )
    assert started.returncode == 0, started.stderr
    url = started.stdout.strip().splitlines()[-1]
    query = parse_qs(urlsplit(url).query)
    assert url.startswith(google.auth_url + "?")
    asked = {key: values[0] for key, values in query.items()}
    assert len(asked.pop("state")) >= 32 and len(asked.pop("code_challenge")) == 43
    assert asked == {
        "client_id": CLIENT_ID,
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "scope": SCOPES,
        "access_type": "offline",
        "prompt": "consent",
        "login_hint": "alice@acme.com",
        "code_challenge_method": "S256",
    }

    page = await browser.consent(url)
    assert page.status_code == 200, page.text
    assert "Connected alice@acme.com" in page.text and "acme" in page.text
    mailbox = await Mailbox.get(provider=Provider.GMAIL)
    assert (mailbox.address, mailbox.status) == ("alice@acme.com", MailboxStatus.PENDING)
    credentials = stored(oauth, mailbox)
    assert google.account_of(credentials.access_token) == "alice@acme.com"
    assert credentials.scope == SCOPES and credentials.fresh_for(3000)
    # Sealed: neither token is in the row as text, and neither is on the page.
    assert mailbox.credentials is not None
    for token in (credentials.refresh_token, credentials.access_token):
        assert token not in mailbox.credentials and token not in page.text
    assert await OAuthState.all().count() == 0  # used up


async def test_connect_through_the_api(
    oauth: Settings, google: GoogleOAuth, browser: Browser
) -> None:
    made = await make_team()
    api = Api(browser.client, oauth)
    answer = (await api.data(made.bob_token, CONNECT))["connectMailbox"]
    assert answer["__typename"] == "ConsentRequired" and answer["provider"] == "Google"
    assert parse_qs(urlsplit(answer["url"]).query)["login_hint"] == ["bob@acme.com"]
    google.account = "bob@acme.com"
    page = await browser.consent(answer["url"])
    assert page.status_code == 200 and "Connected bob@acme.com" in page.text
    boxes = await api.data(
        made.bob_token, "{ mailboxes { address provider status owner { email } } }"
    )
    gmail = [box for box in boxes["mailboxes"] if box["provider"] == "GMAIL"]
    assert gmail == [
        {
            "address": "bob@acme.com",
            "provider": "GMAIL",
            "status": "PENDING",
            "owner": {"email": "bob@acme.com"},
        }
    ]


async def test_without_a_client_or_a_key_nothing_starts(oauth: Settings) -> None:
    await team()
    args = ("mailbox", "connect", "acme", "alice@acme.com", "--provider", "google")
    no_client = mailroom(oauth, *args, drop=("google_client_id",))
    assert no_client.returncode == 1 and no_client.stdout == ""
    assert "MAILROOM_GOOGLE_CLIENT_ID is not set" in one_line(no_client)
    no_key = mailroom(oauth, *args, drop=("secret_key",))
    assert no_key.returncode == 1 and "MAILROOM_SECRET_KEY" in one_line(no_key)
    assert await OAuthState.all().count() == 0


async def test_the_api_says_which_setting_is_missing(db: Settings, google: GoogleOAuth) -> None:
    made = await make_team()
    settings = google_settings(db, google, google_client_id=None)
    app = Starlette(routes=[Route("/graphql", GraphQLEndpoint(settings), methods=["POST"])])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=PUBLIC_URL) as client:
        answer = (await Api(client, settings).data(made.alice_token, CONNECT))["connectMailbox"]
    assert answer["__typename"] == "InvalidInput"
    assert "MAILROOM_GOOGLE_CLIENT_ID is not set" in answer["message"]
