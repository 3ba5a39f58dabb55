"""Accounts connected by consent (OAuth 2.0 authorization code with PKCE): Google now,
Microsoft next. The workspace's rules (plans, who connected what) are `workspace.consent`'s;
this package speaks to the provider and keeps the tokens.

Module       What it holds                                      Public names
-----------  -------------------------------------------------  ---------------------------------
providers    what Mailroom knows of a provider: endpoints,      OAuthProvider, provider_for,
             client, scopes, how the account's address is       mailbox_kind, redirect_uri,
             found                                              PROVIDER_NAMES
states       the `state` of a consent under way: bound to       Consent, issue_state, take_state
             workspace, member, provider (and mailbox), its
             PKCE verifier sealed, single use, ten minutes
client       authlib's httpx client: consent URL, code,         authorization_url, exchange_code,
             refresh, revoke; its errors translated once        refresh, revoke, GrantRefused
identity     the account's address from the ID token's          account_address
             checked claims
credentials  the tokens as a mailbox keeps them, sealed         Credentials
tokens       access tokens for the sync: refreshed when due,    AccessTokens
             one refresh per account at a time across
             processes; a refused grant -> NEEDS_REAUTH
rowlock      a mailbox's row held until the transaction ends    locked_mailbox
callback     `GET /oauth/callback`, the page it answers with    OAuthCallback, Connected, Finish
page         that page, escaped

Errors (from `mailroom.errors`): a refused grant is an AuthError (`GrantRefused`), a provider
that cannot be reached a TransientError, a consent that cannot finish (a used or expired state,
an unverified address, a missing refresh token) an InvalidInputError, a missing client or key a
SettingsError.
"""

from __future__ import annotations

from mailroom.oauth.callback import Connected, Finish, OAuthCallback
from mailroom.oauth.client import (
    GrantRefused,
    authorization_url,
    exchange_code,
    refresh,
    revoke,
)
from mailroom.oauth.credentials import Credentials
from mailroom.oauth.identity import account_address
from mailroom.oauth.providers import (
    PROVIDER_NAMES,
    OAuthProvider,
    mailbox_kind,
    provider_for,
    redirect_uri,
)
from mailroom.oauth.states import Consent, issue_state, take_state
from mailroom.oauth.tokens import AccessTokens

__all__ = [
    "PROVIDER_NAMES",
    "AccessTokens",
    "Connected",
    "Consent",
    "Credentials",
    "Finish",
    "GrantRefused",
    "OAuthCallback",
    "OAuthProvider",
    "account_address",
    "authorization_url",
    "exchange_code",
    "issue_state",
    "mailbox_kind",
    "provider_for",
    "redirect_uri",
    "refresh",
    "revoke",
    "take_state",
]
