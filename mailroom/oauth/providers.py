"""What Mailroom needs to know of an identity provider to connect its accounts: one
`OAuthProvider` description per provider, built from the settings, read by the rest of the
package (the consent URL, the token endpoint, the ID token's checks, the refresh).

Google and Microsoft are described here; a third provider is one more function.
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
MICROSOFT_SCOPES = (
    "offline_access",
    "openid",
    "email",
    "User.Read",
    "Mail.Read",
    "Calendars.Read",
)
# The tenant of personal Microsoft accounts (outlook.com, hotmail.com): not Microsoft 365.
CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
# Google's ID tokens name either form of its issuer (OpenID Connect discovery says the URL).
GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
CALLBACK_PATH = "/oauth/callback"
# Microsoft's answers when a tenant lets only its administrators consent to an application:
# AADSTS65001 (no consent yet), AADSTS90094 (admin consent required), and the error itself.
ADMIN_CONSENT_CODES = ("AADSTS65001", "AADSTS90094")
ADMIN_CONSENT = (
    "your organization lets only its administrators allow applications. An administrator of "
    "your Microsoft 365 organization must grant consent to Mailroom for the organization (in "
    "the Microsoft Entra admin center: Enterprise applications, Mailroom, Permissions, "
    "'Grant admin consent'); then connect again"
)
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
    # Microsoft wants the scopes again with a refresh (a subset of those granted); Google
    # takes them as a request to narrow the grant.
    scope_on_refresh: bool = False

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
    if kind in (Provider.MICROSOFT, AccountProvider.MICROSOFT):
        return microsoft(settings)
    raise InvalidInputError(f"{kind.value.lower()} accounts are not connected by consent (OAuth)")


def mailbox_kind(account: AccountProvider) -> Provider:
    """The kind of mailbox an account of this provider becomes."""
    return {AccountProvider.GOOGLE: Provider.GMAIL, AccountProvider.MICROSOFT: Provider.MICROSOFT}[
        account
    ]


def _client_of(settings: Settings, name: str, where: str) -> tuple[str, str]:
    """The operator's OAuth client for a provider; refuses, naming the setting, when it is not
    configured."""
    client_id = getattr(settings, f"{name.lower()}_client_id")
    client_secret = getattr(settings, f"{name.lower()}_client_secret")
    for value, setting in (
        (client_id, f"MAILROOM_{name}_CLIENT_ID"),
        (client_secret, f"MAILROOM_{name}_CLIENT_SECRET"),
    ):
        if not value:
            raise SettingsError(
                f"{name.title()} accounts cannot be connected: {setting} is not set ({where}, "
                "README.md says how)"
            )
    return str(client_id), str(client_secret)


def google(settings: Settings) -> OAuthProvider:
    """Google's endpoints and the operator's OAuth client; refuses, naming the setting, when
    the client is not configured."""
    client_id, client_secret = _client_of(
        settings, "GOOGLE", "create an OAuth client in Google Cloud"
    )
    return OAuthProvider(
        kind=Provider.GMAIL,
        name="Google",
        setting="GOOGLE",
        client_id=client_id,
        client_secret=client_secret,
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


def microsoft(settings: Settings) -> OAuthProvider:
    """Microsoft's identity platform (v2.0 endpoints) for work or school accounts."""
    client_id, client_secret = _client_of(
        settings, "MICROSOFT", "register an application in Microsoft Entra"
    )
    login = settings.microsoft_login_url.rstrip("/")
    base = f"{login}/{settings.microsoft_tenant}/oauth2/v2.0"
    return OAuthProvider(
        kind=Provider.MICROSOFT,
        name="Microsoft",
        setting="MICROSOFT",
        client_id=client_id,
        client_secret=client_secret,
        auth_url=f"{base}/authorize",
        token_url=f"{base}/token",
        revoke_url=None,  # Microsoft has no revocation endpoint for a client
        scopes=MICROSOFT_SCOPES,
        # offline_access (a scope) brings the refresh token; the person picks the account.
        authorize_params={"prompt": "select_account", "response_mode": "query"},
        # A v2.0 ID token's issuer names the account's own tenant.
        issuers=frozenset({f"{login}/{{tid}}/v2.0"}),
        address_of=microsoft_address,
        no_refresh_token=(
            "Microsoft sends one only when the offline_access permission is granted; an "
            "administrator of your organization may have to allow it"
        ),
        timeout=settings.graph_timeout,
        scope_on_refresh=True,
    )


def microsoft_address(claims: Mapping[str, Any]) -> str:
    """A work or school account's address. Personal Microsoft accounts are refused: their mail
    (outlook.com, hotmail.com) is not Microsoft 365's."""
    if claims.get("tid") == CONSUMER_TENANT:
        raise InvalidInputError(
            "this is a personal Microsoft account (outlook.com, hotmail.com, live.com); "
            "Mailroom syncs Microsoft 365 work or school accounts only. Connect the account "
            "your organization gave you, or connect a personal mailbox by IMAP"
        )
    # preferred_username is the sign-in name (the UPN, an address for Microsoft 365 users);
    # `email` is present only when the tenant has one on file.
    for claim in ("email", "preferred_username"):
        value = claims.get(claim)
        if isinstance(value, str) and value:
            address = normalize_address(value)
            if address is not None:
                return address
    raise InvalidInputError(
        "Microsoft did not say which address the account has; connect again and allow "
        "Mailroom to see the address (the email permission)"
    )


def admin_consent_needed(error: str, description: str | None) -> bool:
    """Whether a provider's refusal means that only an administrator may consent."""
    return error == "admin_consent_required" or any(
        code in (description or "") for code in ADMIN_CONSENT_CODES
    )
