"""Talking to a provider's OAuth endpoints, through authlib's httpx client: the consent URL
(PKCE, S256), exchanging a code, refreshing, revoking. authlib's and httpx's errors are
translated here, once:

    the provider answers an OAuth error (400, 401)     GrantRefused (an AuthError), with its
                                                       `error` and `error_description`
    5xx, 429, a timeout, a connection that fails       TransientError
    anything else that is not a token                  ProtocolError

Tokens never reach a log line or an error message from here.
"""

from __future__ import annotations

import warnings
from typing import Any

import httpx

from mailroom.errors import AuthError, ProtocolError, TransientError
from mailroom.oauth.providers import OAuthProvider
from mailroom.tls import http_context

with warnings.catch_warnings():
    # authlib 1.9 prefers the httpx2 package and warns when it finds httpx instead; it supports
    # both, and Mailroom pins httpx. Only the import warns; the filter goes with the block. Its
    # `deprecate` module puts an "always" filter first when imported, so it is imported first.
    import authlib.deprecate  # type: ignore[import-untyped]  # noqa: F401

    warnings.filterwarnings("ignore", message="The httpx module is deprecated")
    from authlib.integrations.httpx_client import (  # type: ignore[import-untyped]
        AsyncOAuth2Client,
        OAuthError,
    )

# Status codes after which the same request may work later.
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


class GrantRefused(AuthError):
    """The provider refused a code or a refresh token (`invalid_grant`: revoked, expired,
    already used) or Mailroom's client itself (`invalid_client`)."""

    def __init__(self, provider: str, error: str, description: str | None) -> None:
        said = f"{error}: {description}" if description else error
        super().__init__(f"{provider} refused: {said}")
        self.error = error
        self.description = description


def authorization_url(
    provider: OAuthProvider,
    redirect_uri: str,
    state: str,
    verifier: str,
    login_hint: str | None = None,
) -> str:
    """The consent URL a person opens in their browser."""
    client = _client(provider, redirect_uri=redirect_uri, scope=" ".join(provider.scopes))
    extra = dict(provider.authorize_params)
    if login_hint:
        extra["login_hint"] = login_hint
    url, _ = client.create_authorization_url(
        provider.auth_url, state=state, code_verifier=verifier, **extra
    )
    return str(url)


async def exchange_code(
    provider: OAuthProvider, redirect_uri: str, code: str, verifier: str
) -> dict[str, Any]:
    """The provider's token answer for an authorization code (with the PKCE verifier)."""
    async with _client(provider, redirect_uri=redirect_uri) as client:
        return await _asking(
            provider,
            client.fetch_token(
                provider.token_url,
                grant_type="authorization_code",
                code=code,
                code_verifier=verifier,
                redirect_uri=redirect_uri,
            ),
        )


async def refresh(provider: OAuthProvider, refresh_token: str) -> dict[str, Any]:
    """A new access token (and, from some providers, a new refresh token)."""
    # No scope on the client: authlib would ask for it again with the refresh, which Google
    # takes as a request to narrow the grant.
    options = {"scope": " ".join(provider.scopes)} if provider.scope_on_refresh else {}
    async with _client(provider, **options) as client:
        return await _asking(
            provider, client.refresh_token(provider.token_url, refresh_token=refresh_token)
        )


async def revoke(provider: OAuthProvider, token: str) -> bool:
    """Ask the provider to forget a grant Mailroom will not keep; whether it did. Never
    raises: a grant left behind expires or is revoked by its owner, and the caller is already
    answering something else."""
    if provider.revoke_url is None:
        return False
    try:
        async with _client(provider) as client:
            response = await client.revoke_token(provider.revoke_url, token=token)
    except (httpx.HTTPError, OAuthError):
        return False
    return bool(response.status_code == 200)


def _client(provider: OAuthProvider, **options: Any) -> Any:
    # client_secret_post: what Google's and Microsoft's documentation show, and both accept.
    client = AsyncOAuth2Client(
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        token_endpoint_auth_method="client_secret_post",
        code_challenge_method="S256",
        timeout=provider.token_timeout,
        follow_redirects=False,
        verify=http_context(),
        **options,
    )
    for hook in ("access_token_response", "refresh_token_response"):
        client.register_compliance_hook(hook, _retryable_first)
    return client


def _retryable_first(response: httpx.Response) -> httpx.Response:
    """A busy provider's 429 or 503 can carry an OAuth error body; it is no verdict on the
    grant, so it must not be read as one."""
    if response.status_code in RETRYABLE:
        response.raise_for_status()
    return response


async def _asking(provider: OAuthProvider, request: Any) -> dict[str, Any]:
    try:
        token = await request
    except OAuthError as error:
        raise GrantRefused(provider.name, str(error.error), error.description) from None
    except httpx.HTTPStatusError as error:
        status = error.response.status_code
        if status in RETRYABLE:
            raise TransientError(f"{provider.name}'s token endpoint answered {status}") from None
        raise ProtocolError(
            f"{provider.name}'s token endpoint answered {status} without an OAuth error"
        ) from None
    except httpx.TimeoutException:
        raise TransientError(
            f"{provider.name}'s token endpoint did not answer within {provider.token_timeout:g} s"
        ) from None
    except httpx.HTTPError as error:
        raise TransientError(
            f"{provider.name}'s token endpoint cannot be reached: {type(error).__name__}"
        ) from None
    except ValueError as error:  # a body that is no JSON object
        raise ProtocolError(f"{provider.name}'s token endpoint: {error}") from None
    if not isinstance(token, dict) or not token.get("access_token"):
        raise ProtocolError(f"{provider.name}'s token endpoint sent no access token")
    return dict(token)
