"""What Mailroom needs to know of an identity provider to connect its accounts: one
`OAuthProvider` description per provider, built from the settings, read by the rest of the
package (the consent URL, the token endpoint, the ID token's checks, the refresh).

Google is described here. Microsoft (issue 13) fits the same shape:

    OAuthProvider(
        kind=Provider.MICROSOFT, name="Microsoft", setting="MICROSOFT",
        auth_url=f"{login_url}/{tenant}/oauth2/v2.0/authorize",
        token_url=f"{login_url}/{tenant}/oauth2/v2.0/token",
        revoke_url=None,                      # Microsoft has no revocation endpoint
        scopes=("offline_access", "openid", "email", "User.Read", "Mail.Read",
                "Calendars.Read"),
        authorize_params={"prompt": "select_account"},  # offline_access asks for the refresh
        issuers=frozenset({f"{login_url}/{{tid}}/v2.0"}),
        address_of=work_account,              # refuses the consumer tenant, reads
                                              # preferred_username / email
        no_refresh_token="... the offline_access scope was not granted ...",
        timeout=settings.graph_timeout,
    )
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mailroom.choices import AccountProvider, Provider
from mailroom.errors import InvalidInputError, SettingsError
from mailroom.parsing.addresses.lists import normalize_address
from mailroom.settings import Settings

# Asked once for mail and calendar, so that syncing calendars later needs no new consent.
GOOGLE_SCOPES = (
    "openid",
    "email",
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/calendar.readonly",
)
# Google's ID tokens name either form of its issuer (OpenID Connect discovery says the URL).
GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
CALLBACK_PATH = "/oauth/callback"
# Providers as sentences name them, by the kind of mailbox their accounts become.
PROVIDER_NAMES = {Provider.GMAIL: "Google", Provider.MICROSOFT: "Microsoft"}
# A token request holds the mailbox's row lock (on SQLite the database's write lock, which
# other writers wait 30 s for: db.py's busy_timeout), so it gets less than that.
TOKEN_TIMEOUT_CAP = 20.0


@dataclass(frozen=True, slots=True)
class OAuthProvider:
    """An identity provider as Mailroom uses it: authorization code with PKCE (S256), a
    refresh token kept sealed, the account's address read from the ID token."""

    kind: Provider  # the kind of mailbox its accounts become
    name: str  # as sentences name it: "Google"
    setting: str  # the settings' infix: MAILROOM_{setting}_CLIENT_ID
    client_id: str
    client_secret: str = field(repr=False)
    auth_url: str
    token_url: str
    revoke_url: str | None
    scopes: tuple[str, ...]
    # Added to the consent URL: Google's access_type=offline and prompt=consent.
    authorize_params: Mapping[str, str]
    # The ID token's accepted `iss` values; "{tid}" stands for the token's own `tid` claim
    # (Microsoft's issuer names the account's tenant).
    issuers: frozenset[str]
    # The account's address from the ID token's checked claims; raises InvalidInputError,
    # saying why, for an account Mailroom refuses (an unverified address, a consumer tenant).
    address_of: Callable[[Mapping[str, Any]], str]
    # Why a token answer can lack the refresh token, and what the person should do.
    no_refresh_token: str
    timeout: float  # seconds for one request to the provider

    @property
    def token_timeout(self) -> float:
        return min(self.timeout, TOKEN_TIMEOUT_CAP)


def redirect_uri(settings: Settings) -> str:
    """Where providers send the browser back; registered with each provider as is."""
    return settings.public_url.rstrip("/") + CALLBACK_PATH


def provider_for(settings: Settings, kind: Provider | AccountProvider) -> OAuthProvider:
    """The provider of a mailbox kind (or of an account kind, as a person names it)."""
    if kind in (Provider.GMAIL, AccountProvider.GOOGLE):
        return google(settings)
    raise InvalidInputError(f"{kind.value.lower()} accounts are not connected by consent (OAuth)")


def mailbox_kind(account: AccountProvider) -> Provider:
    """The kind of mailbox an account of this provider becomes."""
    return {AccountProvider.GOOGLE: Provider.GMAIL}[account]


def google(settings: Settings) -> OAuthProvider:
    """Google's endpoints and the operator's OAuth client; refuses, naming the setting, when
    the client is not configured."""
    for value, name in (
        (settings.google_client_id, "MAILROOM_GOOGLE_CLIENT_ID"),
        (settings.google_client_secret, "MAILROOM_GOOGLE_CLIENT_SECRET"),
    ):
        if not value:
            raise SettingsError(
                f"Google accounts cannot be connected: {name} is not set (create an OAuth "
                "client in Google Cloud, README.md says how)"
            )
    assert settings.google_client_id and settings.google_client_secret  # checked just above
    return OAuthProvider(
        kind=Provider.GMAIL,
        name="Google",
        setting="GOOGLE",
        client_id=settings.google_client_id,
        client_secret=settings.google_client_secret,
        auth_url=settings.google_auth_url,
        token_url=settings.google_token_url,
        revoke_url=settings.google_revoke_url,
        scopes=GOOGLE_SCOPES,
        # offline: a refresh token; consent: Google sends one only when it asks for consent,
        # so a second connection of the same account would otherwise get none.
        authorize_params={"access_type": "offline", "prompt": "consent"},
        issuers=GOOGLE_ISSUERS,
        address_of=google_address,
        no_refresh_token=(
            "Google sends one only when it asks for consent. Remove Mailroom's access to the "
            "account at https://myaccount.google.com/permissions, then connect again"
        ),
        timeout=settings.gmail_timeout,
    )


def google_address(claims: Mapping[str, Any]) -> str:
    """A Google account's address, which Google must have verified: an unverified one could
    be anyone's (a Google account can be made for any address)."""
    email = claims.get("email")
    if not isinstance(email, str) or not email:
        raise InvalidInputError(
            "Google did not say which address the account has (the consent lacked the email "
            "scope); connect again and allow Mailroom to see the address"
        )
    if claims.get("email_verified") not in (True, "true"):  # older tokens say "true"
        raise InvalidInputError(
            f"Google has not verified that {email} belongs to the account, so Mailroom cannot "
            "connect it; verify the address with Google first"
        )
    address = normalize_address(email)
    if address is None:
        raise InvalidInputError(f"Google named the account's address as {email!r}, not an address")
    return address
