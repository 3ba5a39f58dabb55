"""Access tokens for the sync (`AccessTokens`), against the local Google: used while valid,
refreshed when due, one refresh per account however many tasks and processes ask, a refused
grant turned into NEEDS_REAUTH with words its owner understands."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from fakes.google_oauth import GoogleOAuth
from mailroom.errors import AuthError, SettingsError, TransientError
from mailroom.models import Mailbox, MailboxStatus
from mailroom.oauth import AccessTokens
from mailroom.settings import Settings
from mailroom.vault import Vault, new_key
from tests.helpers import team
from tests.oauth.conftest import gmail_mailbox, stored


async def test_a_valid_token_is_used_as_it_is(oauth: Settings, google: GoogleOAuth) -> None:
    made = await team()
    mailbox = await gmail_mailbox(oauth, google, made.alice)
    held = stored(oauth, mailbox).access_token
    assert await AccessTokens(oauth).current(mailbox) == held
    assert google.refresh_calls == 0


async def test_a_token_about_to_expire_is_refreshed_and_stored(
    oauth: Settings, google: GoogleOAuth
) -> None:
    made = await team()
    mailbox = await gmail_mailbox(oauth, google, made.alice, expires_in=30)
    before = stored(oauth, mailbox)
    token = await AccessTokens(oauth).current(mailbox)
    assert token != before.access_token and google.account_of(token) == "alice@acme.com"
    assert google.refresh_calls == 1
    after = stored(oauth, await Mailbox.get(id=mailbox.id))
    assert after.access_token == token and after.fresh_for(3000)
    assert after.refresh_token == before.refresh_token  # Google sent none: the one held stays
    # Another process's AccessTokens reads the stored token: no second refresh.
    assert await AccessTokens(oauth).current(await Mailbox.get(id=mailbox.id)) == token
    assert google.refresh_calls == 1


async def test_a_rotated_refresh_token_is_stored(oauth: Settings, google: GoogleOAuth) -> None:
    made = await team()
    google.rotate = True
    mailbox = await gmail_mailbox(oauth, google, made.alice, expires_in=0)
    first = stored(oauth, mailbox).refresh_token
    tokens = AccessTokens(oauth)
    await tokens.current(mailbox)
    second = stored(oauth, await Mailbox.get(id=mailbox.id)).refresh_token
    assert second != first
    # The old one is dead at Google now; the stored one works.
    renewed = await tokens.refreshed(mailbox, stored(oauth, mailbox).access_token)
    assert google.account_of(renewed) == "alice@acme.com" and google.refresh_calls == 2


async def test_concurrent_tasks_cause_one_refresh(oauth: Settings, google: GoogleOAuth) -> None:
    made = await team()
    mailbox = await gmail_mailbox(oauth, google, made.alice, expires_in=10)
    google.refresh_delay = 0.3
    shared = AccessTokens(oauth)
    # Tasks sharing one AccessTokens, and others with their own (as two sync workers in a
    # process would have), each with its own copy of the row.
    copies = [await Mailbox.get(id=mailbox.id) for _ in range(4)]
    tokens = await asyncio.gather(
        shared.current(copies[0]),
        shared.current(copies[1]),
        AccessTokens(oauth).current(copies[2]),
        AccessTokens(oauth).current(copies[3]),
    )
    assert len(set(tokens)) == 1 and google.refresh_calls == 1


async def test_a_rejected_token_is_refreshed_once(oauth: Settings, google: GoogleOAuth) -> None:
    made = await team()
    mailbox = await gmail_mailbox(oauth, google, made.alice)
    tokens = AccessTokens(oauth)
    rejected = await tokens.current(mailbox)
    google.refresh_delay = 0.2
    # Two requests got 401 with the same token: one refresh, both get its result.
    late = await Mailbox.get(id=mailbox.id)
    first, second = await asyncio.gather(
        tokens.refreshed(mailbox, rejected), AccessTokens(oauth).refreshed(late, rejected)
    )
    assert first == second != rejected and google.refresh_calls == 1
    # A 401 to a token already replaced: the replacement, without asking Google again.
    assert await tokens.refreshed(late, rejected) == first and google.refresh_calls == 1


SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys, time
    from uuid import UUID
    from mailroom.db import database
    from mailroom.models import Mailbox
    from mailroom.oauth import AccessTokens
    from mailroom.settings import load_settings

    async def main():
        settings = load_settings()
        async with database(settings, create=False):
            mailbox = await Mailbox.get(id=UUID(sys.argv[1]))
            while not os.path.exists(sys.argv[2]):  # both processes start together
                time.sleep(0.005)
            print(await AccessTokens(settings).current(mailbox))

    asyncio.run(main())
    """
)


async def test_concurrent_processes_cause_one_refresh(
    oauth: Settings, google: GoogleOAuth, tmp_path: Path
) -> None:
    made = await team()
    mailbox = await gmail_mailbox(oauth, google, made.alice, expires_in=10)
    google.refresh_delay = 0.5
    go = tmp_path / "go"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")}
    env.update(
        {
            "MAILROOM_DATABASE_URL": oauth.database_url,
            "MAILROOM_SECRET_KEY": str(oauth.secret_key),
            "MAILROOM_GOOGLE_CLIENT_ID": str(oauth.google_client_id),
            "MAILROOM_GOOGLE_CLIENT_SECRET": str(oauth.google_client_secret),
            "MAILROOM_GOOGLE_TOKEN_URL": oauth.google_token_url,
        }
    )
    command = [sys.executable, "-c", SCRIPT, str(mailbox.id), str(go)]
    workers = [
        subprocess.Popen(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    await asyncio.sleep(1.5)  # both are connected and waiting (they poll for the file)
    go.touch()
    outputs = [await asyncio.to_thread(worker.communicate, timeout=60) for worker in workers]
    assert [worker.returncode for worker in workers] == [0, 0], [err for _, err in outputs]
    tokens = {out.strip() for out, _ in outputs}
    assert len(tokens) == 1 and google.refresh_calls == 1, (tokens, google.refresh_calls)
    assert stored(oauth, await Mailbox.get(id=mailbox.id)).access_token in tokens


async def test_a_revoked_grant_needs_reauth(oauth: Settings, google: GoogleOAuth) -> None:
    made = await team()
    mailbox = await gmail_mailbox(oauth, google, made.alice, expires_in=0)
    google.revoke_all("alice@acme.com")
    tokens = AccessTokens(oauth)
    with pytest.raises(AuthError) as refused:
        await tokens.current(mailbox)
    said = str(refused.value)
    assert said == (
        "Google no longer accepts Mailroom's access to alice@acme.com: the account's owner "
        "revoked it or changed their password; reconnect with "
        "`mailroom mailbox reconnect acme alice@acme.com`"
    )
    row = await Mailbox.get(id=mailbox.id)
    assert (row.status, row.last_error) == (MailboxStatus.NEEDS_REAUTH, said)
    assert row.last_error_at is not None and mailbox.status is MailboxStatus.NEEDS_REAUTH
    # Until it is reconnected, the dead grant is not tried again.
    with pytest.raises(AuthError, match="no longer accepts"):
        await tokens.refreshed(row, stored(oauth, row).access_token)
    assert google.refresh_calls == 1


async def test_a_refused_client_says_which_settings(oauth: Settings, google: GoogleOAuth) -> None:
    made = await team()
    mailbox = await gmail_mailbox(oauth, google, made.alice, expires_in=0)
    google.refresh_fault = "invalid_client"
    with pytest.raises(AuthError, match="MAILROOM_GOOGLE_CLIENT_SECRET"):
        await AccessTokens(oauth).current(mailbox)


@pytest.mark.parametrize("fault", [500, 503, 429])
async def test_a_provider_that_fails_is_transient(
    oauth: Settings, google: GoogleOAuth, fault: int
) -> None:
    made = await team()
    mailbox = await gmail_mailbox(oauth, google, made.alice, expires_in=0)
    held = mailbox.credentials
    google.refresh_fault = fault
    with pytest.raises(TransientError, match=str(fault)):
        await AccessTokens(oauth).current(mailbox)
    row = await Mailbox.get(id=mailbox.id)
    assert (row.status, row.credentials) == (MailboxStatus.ACTIVE, held)
    google.refresh_fault = None  # back up: the same grant works
    assert google.account_of(await AccessTokens(oauth).current(row)) == "alice@acme.com"


async def test_a_slow_or_unreachable_provider_is_transient(
    oauth: Settings, google: GoogleOAuth
) -> None:
    made = await team()
    mailbox = await gmail_mailbox(oauth, google, made.alice, expires_in=0)
    google.refresh_delay = 2.0
    started = time.monotonic()
    with pytest.raises(TransientError, match="did not answer within 0.5 s"):
        await AccessTokens(oauth.model_copy(update={"gmail_timeout": 0.5})).current(mailbox)
    assert time.monotonic() - started < 1.5
    gone = oauth.model_copy(update={"google_token_url": "http://127.0.0.1:9/token"})
    with pytest.raises(TransientError, match="cannot be reached"):
        await AccessTokens(gone).current(mailbox)
    assert (await Mailbox.get(id=mailbox.id)).status is MailboxStatus.ACTIVE


async def test_a_new_key_reseals_what_the_old_one_sealed(
    oauth: Settings, google: GoogleOAuth
) -> None:
    made = await team()
    old = str(oauth.secret_key)
    mailbox = await gmail_mailbox(oauth, google, made.alice, expires_in=0)
    new = new_key()
    rotated = oauth.model_copy(update={"secret_key": f"{new}, {old}"})
    token = await AccessTokens(rotated).current(mailbox)  # opened with the old key
    row = await Mailbox.get(id=mailbox.id)
    assert row.credentials is not None
    assert Vault(new).open(row.credentials)["access_token"] == token  # written with the new
    with pytest.raises(SettingsError, match="none of the keys"):
        Vault(old).open(row.credentials)
