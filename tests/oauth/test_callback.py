"""What `/oauth/callback` refuses, and how it says so: states replayed, expired, changed or
missing, codes of another consent, declined consents, accounts it may not connect, and words
written by others, shown escaped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from fakes.google_oauth import GoogleOAuth
from mailroom.choices import AccountProvider
from mailroom.errors import ConflictError
from mailroom.models import Mailbox, OAuthState, Plan, Provider
from mailroom.settings import Settings
from mailroom.workspace import add_member, create_workspace, start_connection
from tests.helpers import Team, team
from tests.oauth.conftest import Browser

GOOGLE = AccountProvider.GOOGLE


async def _start(settings: Settings, made: Team, who: str = "alice") -> str:
    member = made.alice if who == "alice" else made.bob
    link = await start_connection(settings, made.workspace, member, GOOGLE)
    return link.url


async def _gmail_boxes() -> list[Mailbox]:
    return await Mailbox.filter(provider=Provider.GMAIL).order_by("created_at")


async def test_a_state_works_once(oauth: Settings, google: GoogleOAuth, browser: Browser) -> None:
    made = await team()
    back = await browser.redirect(await _start(oauth, made))
    first = await browser.client.get(back)
    assert first.status_code == 200, first.text
    replayed = await browser.client.get(back)
    assert replayed.status_code == 400
    assert "already used" in replayed.text and "Connected" not in replayed.text
    assert google.code_calls == 1  # the replay never reached Google
    assert len(await _gmail_boxes()) == 1


async def test_an_expired_state_is_refused(
    oauth: Settings, google: GoogleOAuth, browser: Browser
) -> None:
    made = await team()
    url = await _start(oauth, made)
    await OAuthState.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    page = await browser.consent(url)
    assert page.status_code == 400 and "expired" in page.text and "10 minutes" in page.text
    assert google.code_calls == 0 and await _gmail_boxes() == []
    assert await OAuthState.all().count() == 0


async def test_a_changed_or_missing_state_is_refused(
    oauth: Settings, google: GoogleOAuth, browser: Browser
) -> None:
    made = await team()
    back = await browser.redirect(await _start(oauth, made))
    query = {key: values[0] for key, values in parse_qs(urlsplit(back).query).items()}
    state = query["state"]
    changed = state[:-1] + ("A" if state[-1] != "A" else "B")
    page = await browser.callback(urlencode({**query, "state": changed}))
    assert page.status_code == 400 and "not one Mailroom is waiting for" in page.text
    missing = await browser.callback(urlencode({"code": query["code"]}))
    assert missing.status_code == 400 and "no state" in missing.text
    assert (await browser.callback("")).status_code == 400
    assert google.code_calls == 0 and await _gmail_boxes() == []
    # The real state still works: a forged one used nothing up.
    assert (await browser.client.get(back)).status_code == 200


async def test_a_code_needs_the_verifier_of_its_own_state(
    oauth: Settings, google: GoogleOAuth, browser: Browser
) -> None:
    """A code carried to the callback with another consent's state (another workspace's, say)
    fails at Google: PKCE binds the code to the verifier kept with its own state."""
    acme = await team()
    globex = await create_workspace("globex", plan=Plan.PRO)
    carol = await add_member(globex, "carol@globex.com")
    ours = await browser.redirect(await _start(oauth, acme))
    theirs = await browser.redirect((await start_connection(oauth, globex, carol, GOOGLE)).url)
    code = parse_qs(urlsplit(ours).query)["code"][0]
    state = parse_qs(urlsplit(theirs).query)["state"][0]
    page = await browser.callback(urlencode({"code": code, "state": state}))
    assert page.status_code == 400 and "Invalid code verifier" in page.text
    assert google.code_calls == 1 and await _gmail_boxes() == []
    # Each consent connects into the workspace that started it, and nowhere else.
    google.account = "carol@globex.com"
    page = await browser.consent((await start_connection(oauth, globex, carol, GOOGLE)).url)
    assert page.status_code == 200, page.text
    [mailbox] = await _gmail_boxes()
    assert (mailbox.workspace_id, mailbox.owner_id) == (globex.id, carol.id)


async def test_a_declined_consent_connects_nothing(
    oauth: Settings, google: GoogleOAuth, browser: Browser
) -> None:
    made = await team()
    google.decline = True
    url = await _start(oauth, made)
    page = await browser.consent(url)
    assert page.status_code == 403 and "was not allowed" in page.text
    assert await _gmail_boxes() == [] and await OAuthState.all().count() == 0


async def test_words_from_the_address_bar_are_shown_escaped(
    oauth: Settings, browser: Browser
) -> None:
    made = await team()
    back = await browser.redirect(await _start(oauth, made))
    state = parse_qs(urlsplit(back).query)["state"][0]
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    page = await browser.callback(
        urlencode({"state": state, "error": "access_denied", "error_description": attack})
    )
    assert page.status_code == 403
    assert "<script>" not in page.text and "<img" not in page.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page.text
    headers = page.headers
    assert headers["content-security-policy"].startswith("default-src 'none'")
    assert headers["referrer-policy"] == "no-referrer" and headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"


async def test_an_account_another_member_connected_is_refused(
    oauth: Settings, google: GoogleOAuth, browser: Browser
) -> None:
    made = await team()
    assert (await browser.consent(await _start(oauth, made))).status_code == 200
    google.account = "alice@acme.com"  # Bob signs in to Alice's account
    page = await browser.consent(await _start(oauth, made, "bob"))
    assert page.status_code == 409
    assert "alice@acme.com is already connected in the workspace acme by alice@acme.com" in (
        page.text
    )
    [mailbox] = await _gmail_boxes()
    assert mailbox.owner_id == made.alice.id
    # Google revokes a grant whole: revoking Bob's would have cut Alice's mailbox off.
    assert google.revoked == []


async def test_the_plan_limits_mailboxes_at_the_start_and_at_the_end(
    oauth: Settings, google: GoogleOAuth, browser: Browser
) -> None:
    made = await team()
    made.workspace.plan = Plan.FREE
    await made.workspace.save()
    url = await _start(oauth, made)  # room for one mailbox now
    await Mailbox.create(
        workspace=made.workspace, owner=made.alice, provider=Provider.IMAP, address="a@x.org"
    )
    page = await browser.consent(url)
    assert page.status_code == 409 and "the most the FREE plan allows" in page.text
    assert await _gmail_boxes() == []
    assert google.revoked == ["alice@acme.com"]  # a grant nothing uses is given back
    with pytest.raises(ConflictError, match="the most the FREE plan allows"):
        await _start(oauth, made)  # refused before anyone is sent to Google


async def test_an_account_google_has_not_verified_or_a_foreign_token_is_refused(
    oauth: Settings, google: GoogleOAuth, browser: Browser
) -> None:
    made = await team()
    for claims, said in (
        ({"email_verified": False}, "has not verified that alice@acme.com belongs"),
        ({"iss": "https://accounts.example.com"}, "its issuer is"),
        ({"aud": "someone-else.apps.googleusercontent.com"}, "issued to another application"),
        ({"exp": 1_000_000_000}, "it has expired"),
    ):
        google.claims = claims
        page = await browser.consent(await _start(oauth, made))
        assert page.status_code == 400 and said in page.text, (claims, page.text)
    assert await _gmail_boxes() == []


async def test_a_missing_refresh_token_is_explained(
    oauth: Settings, google: GoogleOAuth, browser: Browser
) -> None:
    made = await team()
    google.withhold_refresh_token = True
    page = await browser.consent(await _start(oauth, made))
    assert page.status_code == 400
    assert "sent no refresh token" in page.text and "myaccount.google.com/permissions" in page.text
    assert await _gmail_boxes() == []
