"""The local Microsoft identity platform (fakes/microsoft_identity.py) against Microsoft's
documented behaviour, over HTTP: the authorization code flow with PKCE, refresh token
rotation, ID token claims, and the refusals sent back to the app or shown to the person."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from fakes.microsoft_identity import (
    CLIENT_ID,
    CLIENT_SECRET,
    CONSUMER_TENANT,
    TENANT_ID,
    MicrosoftIdentity,
)

CALLBACK = "http://mailroom.test/oauth/callback"
SCOPE = "offline_access openid email User.Read Mail.Read Calendars.Read"


@pytest.fixture
def identity() -> Iterator[MicrosoftIdentity]:
    with MicrosoftIdentity(redirect_uris=(CALLBACK,)).serve() as server:
        yield server


@pytest.fixture
async def client(identity: MicrosoftIdentity) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=identity.login_url) as client:
        yield client


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def authorize(
    client: httpx.AsyncClient, tenant: str = "organizations", **params: str
) -> httpx.Response:
    query = {
        "client_id": CLIENT_ID,
        "response_type": "code",
        "redirect_uri": CALLBACK,
        "response_mode": "query",
        "scope": SCOPE,
        "state": "st4te",
        "prompt": "select_account",
        **params,
    }
    return await client.get(f"/{tenant}/oauth2/v2.0/authorize?{urlencode(query)}")


def returned(answer: httpx.Response) -> dict[str, str]:
    """The query Microsoft sends the browser back to the app with."""
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(CALLBACK + "?")
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


async def consent(client: httpx.AsyncClient, tenant: str = "organizations") -> dict[str, Any]:
    """The token answer for a code the person consented to."""
    verifier, challenge = pkce()
    back = returned(
        await authorize(client, tenant, code_challenge=challenge, code_challenge_method="S256")
    )
    answer = await client.post(
        f"/{tenant}/oauth2/v2.0/token",
        data={
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "grant_type": "authorization_code",
            "code": back["code"],
            "redirect_uri": CALLBACK,
            "code_verifier": verifier,
        },
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def refresh(client: httpx.AsyncClient, token: str, basic: bool = False) -> httpx.Response:
    form = {"grant_type": "refresh_token", "refresh_token": token, "scope": SCOPE}
    if basic:
        return await client.post(
            "/organizations/oauth2/v2.0/token", data=form, auth=(CLIENT_ID, CLIENT_SECRET)
        )
    form |= {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    return await client.post("/organizations/oauth2/v2.0/token", data=form)


async def claims(client: httpx.AsyncClient, id_token: str, tenant: str) -> dict[str, Any]:
    keys = KeySet.import_key_set((await client.get(f"/{tenant}/discovery/v2.0/keys")).json())
    return dict(jwt.decode(id_token, keys).claims)


async def test_code_with_pkce_then_refreshes_that_rotate(
    identity: MicrosoftIdentity, client: httpx.AsyncClient
) -> None:
    verifier, challenge = pkce()
    back = returned(await authorize(client, code_challenge=challenge, code_challenge_method="S256"))
    form = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "authorization_code",
        "code": back["code"],
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    tokens = (await client.post("/organizations/oauth2/v2.0/token", data=form)).json()
    again = (await client.post("/organizations/oauth2/v2.0/token", data=form)).json()

    assert back["state"] == "st4te" and "session_state" in back
    assert list(tokens) == [
        "token_type", "scope", "expires_in", "ext_expires_in", "access_token", "refresh_token",
        "id_token",
    ]  # fmt: skip
    assert (
        tokens["expires_in"] == 3599
        and "https://graph.microsoft.com/Mail.Read" in (tokens["scope"])
    )
    assert again["error"] == "invalid_grant" and again["error_codes"] == [54005]
    assert again["error_description"].startswith("AADSTS54005: ")
    assert "\r\nTrace ID: " in again["error_description"]
    assert identity.account_of(tokens["access_token"]) == "alice@contoso.com"

    first = await refresh(client, tokens["refresh_token"])
    second = await refresh(client, first.json()["refresh_token"], basic=True)
    reused = await refresh(client, tokens["refresh_token"])

    assert first.status_code == second.status_code == 200
    assert len({tokens["refresh_token"], first.json()["refresh_token"]}) == 2
    assert second.json()["refresh_token"] != first.json()["refresh_token"]
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    assert identity.refresh_calls == 3 and identity.code_calls == 2
    assert identity.concurrent_refreshes_max == 1
    assert identity.authorizations[0]["code_challenge_method"] == "S256"


async def test_work_account_claims(identity: MicrosoftIdentity, client: httpx.AsyncClient) -> None:
    tokens = await consent(client)

    found = await claims(client, tokens["id_token"], "organizations")

    assert found["iss"] == f"{identity.login_url}/{TENANT_ID}/v2.0"
    assert found["aud"] == CLIENT_ID and found["tid"] == TENANT_ID and found["ver"] == "2.0"
    assert found["preferred_username"] == found["email"] == "alice@contoso.com"
    assert found["nbf"] <= found["iat"] < found["exp"] and found["name"] == "Alice"


async def test_a_personal_account_signs_in_at_common_only(
    identity: MicrosoftIdentity, client: httpx.AsyncClient
) -> None:
    identity.account = ("carol@outlook.com", CONSUMER_TENANT)

    tokens = await consent(client, "common")
    refused = await authorize(client, code_challenge=pkce()[1], code_challenge_method="S256")

    found = await claims(client, tokens["id_token"], "common")
    assert found["tid"] == CONSUMER_TENANT
    assert found["iss"] == f"{identity.login_url}/{CONSUMER_TENANT}/v2.0"
    assert found["oid"].startswith("00000000-0000-0000-")
    assert found["preferred_username"] == "carol@outlook.com"
    assert refused.status_code == 400 and "location" not in refused.headers
    assert "AADSTS500208" in refused.text


async def test_refusals_go_back_to_the_app_or_stay_on_the_page(
    identity: MicrosoftIdentity, client: httpx.AsyncClient
) -> None:
    challenge = {"code_challenge": pkce()[1], "code_challenge_method": "S256"}
    identity.admin_consent_required = "AADSTS65001"
    admin = returned(await authorize(client, **challenge))
    identity.admin_consent_required = "AADSTS90094"
    approval = returned(await authorize(client, **challenge))
    identity.admin_consent_required, identity.decline = None, True
    declined = returned(await authorize(client, **challenge))
    unregistered = await authorize(client, redirect_uri="http://evil.example/cb", **challenge)
    no_pkce = returned(await authorize(client))

    assert admin["error"] == "consent_required" and admin["state"] == "st4te"
    assert admin["error_description"].startswith("AADSTS65001: The user or administrator")
    assert approval["error_description"].startswith("AADSTS90094: Admin consent is required")
    assert declined["error"] == "access_denied" and "AADSTS65004" in declined["error_description"]
    assert unregistered.status_code == 400 and "AADSTS50011" in unregistered.text
    assert "location" not in unregistered.headers
    assert no_pkce["error"] == "invalid_request" and "code" not in no_pkce


async def test_a_wrong_verifier_or_secret_is_refused(client: httpx.AsyncClient) -> None:
    back = returned(await authorize(client, code_challenge=pkce()[1], code_challenge_method="S256"))
    form = {
        "client_id": CLIENT_ID,
        "grant_type": "authorization_code",
        "code": back["code"],
        "redirect_uri": CALLBACK,
        "code_verifier": pkce()[0],
    }

    wrong_secret = await client.post(
        "/organizations/oauth2/v2.0/token", data={**form, "client_secret": "guess"}
    )
    wrong_verifier = await client.post(
        "/organizations/oauth2/v2.0/token", data={**form, "client_secret": CLIENT_SECRET}
    )

    assert wrong_secret.status_code == 401 and wrong_secret.json()["error_codes"] == [7000215]
    assert wrong_verifier.status_code == 400 and wrong_verifier.json()["error_codes"] == [501481]


async def test_faults_revocation_and_racing_refreshes(
    identity: MicrosoftIdentity, client: httpx.AsyncClient
) -> None:
    tokens = identity.issue("alice@contoso.com")
    identity.refresh_fault = "AADSTS50076"
    mfa = await refresh(client, tokens["refresh_token"])
    identity.refresh_fault = 503
    unavailable = await refresh(client, tokens["refresh_token"])
    identity.refresh_fault, identity.refresh_delay = None, 0.4
    raced = await asyncio.gather(*(refresh(client, tokens["refresh_token"]) for _ in range(2)))
    rotated = next(r for r in raced if r.status_code == 200).json()["refresh_token"]
    identity.revoke_all("alice@contoso.com")
    revoked = await refresh(client, rotated)

    assert mfa.json()["error"] == "interaction_required" and mfa.json()["error_codes"] == [50076]
    assert unavailable.status_code == 503
    assert unavailable.json()["error"] == "temporarily_unavailable"
    assert sorted(r.status_code for r in raced) == [200, 400]  # strict rotation
    assert identity.concurrent_refreshes_max == 2
    assert revoked.json()["error_codes"] == [50173]
    assert identity.account_of(tokens["access_token"]) is None
