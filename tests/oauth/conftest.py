"""A local Google OAuth server, Mailroom's app behind `MAILROOM_PUBLIC_URL`, and a browser that
follows the consent from one to the other, on each database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from fakes.google_oauth import CLIENT_ID, CLIENT_SECRET, GoogleOAuth
from mailroom.app import create_app
from mailroom.models import Mailbox, MailboxStatus, Member, Provider
from mailroom.oauth import Credentials
from mailroom.settings import Settings
from mailroom.vault import Vault, new_key

PUBLIC_URL = "http://mailroom.test"
CALLBACK = f"{PUBLIC_URL}/oauth/callback"


@pytest.fixture
def google() -> Iterator[GoogleOAuth]:
    with GoogleOAuth(redirect_uris=(CALLBACK,)).serve() as server:
        yield server


def google_settings(settings: Settings, google: GoogleOAuth, **values: Any) -> Settings:
    return settings.model_copy(
        update={
            "secret_key": new_key(),
            "public_url": PUBLIC_URL,
            "google_client_id": CLIENT_ID,
            "google_client_secret": CLIENT_SECRET,
            "google_auth_url": google.auth_url,
            "google_token_url": google.token_url,
            "google_revoke_url": google.revoke_url,
            "normalize_workers": 0,
            **values,
        }
    )


@pytest.fixture
def oauth(db: Settings, google: GoogleOAuth) -> Settings:
    return google_settings(db, google)


@dataclass
class Browser:
    """A person's browser: it opens a consent URL and follows Google's redirect back to
    Mailroom, as any browser does."""

    client: httpx.AsyncClient

    async def consent(self, url: str) -> httpx.Response:
        """The page Mailroom answers at the end."""
        to_google = await self.client.get(url)
        assert to_google.status_code == 302, to_google.text
        location = to_google.headers["location"]
        assert location.startswith(CALLBACK + "?"), location
        return await self.client.get(location)

    async def callback(self, query: str) -> httpx.Response:
        return await self.client.get(f"{CALLBACK}?{query}" if query else CALLBACK)

    async def redirect(self, url: str) -> str:
        """Where Google sends the browser back to, not followed."""
        to_google = await self.client.get(url)
        assert to_google.status_code == 302, to_google.text
        location: str = to_google.headers["location"]
        return location


@pytest.fixture
async def browser(oauth: Settings) -> AsyncIterator[Browser]:
    app = httpx.ASGITransport(app=create_app(oauth))
    # Mailroom's own address goes to the app; any other (the local Google) over the network.
    mounts = {PUBLIC_URL: app}
    async with httpx.AsyncClient(mounts=mounts, base_url=PUBLIC_URL, timeout=30) as client:
        yield Browser(client)


def mailroom(
    settings: Settings, *args: str, extra: dict[str, str] | None = None, drop: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """The command, as the operator runs it, with `settings` as its environment."""
    values = {
        "database_url": settings.database_url,
        "data_dir": str(settings.data_dir),
        "secret_key": settings.secret_key,
        "public_url": settings.public_url,
        "google_client_id": settings.google_client_id,
        "google_client_secret": settings.google_client_secret,
        "google_auth_url": settings.google_auth_url,
        "google_token_url": settings.google_token_url,
        "normalize_workers": "0",
    }
    clean = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    env = {f"MAILROOM_{k.upper()}": str(v) for k, v in values.items() if v and k not in drop}
    return subprocess.run(
        [sys.executable, "-m", "mailroom", *args],
        env={**clean, "COLUMNS": "200", **env, **(extra or {})},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def gmail_mailbox(
    settings: Settings, google: GoogleOAuth, owner: Member, *, expires_in: float = 3600
) -> Mailbox:
    """A connected Google mailbox of `owner`'s, with a live grant at the local Google."""
    token = google.issue(owner.email)
    token["expires_in"] = expires_in
    credentials = Credentials.from_token(token, token["refresh_token"])
    return await Mailbox.create(
        workspace_id=owner.workspace_id,
        owner=owner,
        provider=Provider.GMAIL,
        address=owner.email,
        status=MailboxStatus.ACTIVE,
        credentials=credentials.sealed(Vault(settings.secret_key)),
    )


def stored(settings: Settings, mailbox: Mailbox) -> Credentials:
    return Credentials.opened(Vault(settings.secret_key), mailbox)
