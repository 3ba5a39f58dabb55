"""Whose account a consent was given for: the address in the ID token that came with the
tokens.

The ID token is read without checking its signature. OpenID Connect Core 3.1.3.7 allows it:
the token came straight from the provider's token endpoint over TLS, in answer to Mailroom's
own request authenticated by its client secret, so TLS already vouches for it. The claims that
say whom it was issued by and for, and until when, are still checked.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from collections.abc import Mapping
from typing import Any

from mailroom.errors import InvalidInputError
from mailroom.oauth.providers import OAuthProvider

# Clocks differ: an ID token that expired this recently is still taken.
CLOCK_SKEW = 300


def account_address(provider: OAuthProvider, id_token: str | None) -> str:
    """The account's address, from an ID token whose issuer, audience and lifetime hold."""
    claims = id_token_claims(provider, id_token)
    return provider.address_of(claims)


def id_token_claims(provider: OAuthProvider, id_token: str | None) -> Mapping[str, Any]:
    if not id_token:
        raise InvalidInputError(
            f"{provider.name} sent no ID token, so Mailroom cannot tell which account was "
            "connected (the consent lacked the openid scope); connect again"
        )
    claims = _payload(provider, id_token)
    issuers = {issuer.replace("{tid}", str(claims.get("tid", ""))) for issuer in provider.issuers}
    problems = []
    if claims.get("iss") not in issuers:
        problems.append(f"its issuer is {claims.get('iss')!r}")
    if not _for_client(claims, provider.client_id):
        problems.append("it was issued to another application")
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or expires + CLOCK_SKEW < time.time():
        problems.append("it has expired")
    if problems:
        raise InvalidInputError(
            f"{provider.name}'s answer does not identify the account: " + "; ".join(problems)
        )
    return claims


def _for_client(claims: Mapping[str, Any], client_id: str) -> bool:
    audience = claims.get("aud")
    if isinstance(audience, list):
        # Several audiences: the authorized party must then be Mailroom (Core 3.1.3.7, 4-5).
        return client_id in audience and claims.get("azp", client_id) == client_id
    return audience == client_id


def _payload(provider: OAuthProvider, id_token: str) -> dict[str, Any]:
    parts = id_token.split(".")
    try:
        if len(parts) != 3:
            raise ValueError("not three parts")
        text = parts[1] + "=" * (-len(parts[1]) % 4)
        claims = json.loads(base64.urlsafe_b64decode(text.encode("ascii")))
    except (ValueError, UnicodeError, binascii.Error) as error:
        raise InvalidInputError(f"{provider.name} sent an ID token that cannot be read") from error
    if not isinstance(claims, dict):
        raise InvalidInputError(f"{provider.name} sent an ID token that cannot be read")
    return claims
