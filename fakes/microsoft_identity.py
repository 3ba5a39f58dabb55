"""A faithful local Microsoft identity platform (v2.0 endpoints) for tests, as Microsoft documents
the OAuth 2.0 authorization code flow with PKCE (learn.microsoft.com/entra/identity-platform/
v2-oauth2-auth-code-flow), its error responses (reference-error-codes) and ID tokens (id-tokens):

- `GET /{tenant}/oauth2/v2.0/authorize` checks the application (CLIENT_ID) and the exact
  registered redirect URI, and answers a request failing them with the sign-in page's error,
  never a redirect; so are accounts the tenant in the path does not admit (a personal account
  at `organizations`: AADSTS500208; another tenant's account at a tenant id: AADSTS50020).
  Other faults go back to the redirect URI as `error`, `error_description` (with Trace ID,
  Correlation ID and Timestamp lines) and `state`. A good request is answered as the
  consenting user would: 302 with `code`, `state`, `session_state`.
- `POST /{tenant}/oauth2/v2.0/token`: `authorization_code` (single-use codes, AADSTS54005 when
  redeemed again; the redirect URI of the authorization; the PKCE verifier against the S256
  challenge; client_secret in the form or HTTP Basic) and `refresh_token`. Answers
  `{token_type, scope, expires_in, ext_expires_in, access_token, refresh_token, id_token}`.
  Every refresh rotates the refresh token; with `strict_rotation` (the default, stricter than
  Microsoft, which keeps old ones valid a while) a refresh token used once is refused with
  invalid_grant, which proves that the client stores each new one.
- The ID token: RS256 with a key made here (JWKS at `/{tenant}/discovery/v2.0/keys`), v2.0
  claims: `iss` = {login_url}/{tid}/v2.0 (the fake's own URL as login_url), `aud` = CLIENT_ID,
  `tid`, `oid`, `sub` (pairwise), `preferred_username`, `email` (with the email scope), `name`,
  `ver` 2.0, `iat`, `nbf`, `exp`, `nonce` when the authorization sent one.
- `GET /{tenant}/v2.0/.well-known/openid-configuration`.

Error bodies are Microsoft's: `{"error", "error_description": "AADSTS70000: ...\\r\\nTrace ID:
...", "error_codes", "timestamp", "trace_id", "correlation_id", "error_uri"}`, 400 (401 for
invalid_client).

Controls, settable from any thread: `account` ((email, tenant id) of who signs in and
consents; CONSUMER_TENANT for a personal account), `decline`, `admin_consent_required` (None,
"AADSTS65001", "AADSTS90094"), `strict_rotation`, `refresh_fault` ("invalid_grant" or an AADSTS
code such as "AADSTS50173", "AADSTS70008", "AADSTS700082"; "interaction_required" or
"AADSTS50076"; "invalid_client"; a status 500 or 503), `refresh_delay`, `withhold_refresh_token`,
`access_lifetime`, `claims` (ID token claims to override), `revoke_all(email)`,
`expire_access_tokens()`, `issue(account)`. Observations: `refresh_calls`, `code_calls`,
`authorizations` (the query of each authorization request that reached the consent),
`concurrent_refreshes_max` (the most refreshes of one grant in flight at once).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from fakes.server import LocalServer

CLIENT_ID = "5f1c3b9e-2d4a-4e8b-9c61-0a7d2e4f8b13"
CLIENT_SECRET = "Xq48Q~local.test-secret_for-Mailroom~0000000"
APP_NAME = "Mailroom"
TENANT_ID = "b7e3c2a1-5d9f-4c8e-a1b2-3f4e5d6c7b8a"  # the work or school tenant of the tests
CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"  # personal Microsoft accounts
GRAPH = "https://graph.microsoft.com/"
OIDC_SCOPES = ("openid", "profile", "email", "offline_access")
GRAPH_SCOPES = ("User.Read", "Mail.Read", "Calendars.Read")
CODE_LIFETIME = 600  # "typically, they expire after about 10 minutes"
ACCESS_LIFETIME = 3599
MAX_FORM_BYTES = 64 * 1024
MISSING = "The request body must contain the following parameter: "
MALFORMED = "Invalid request. Request is malformed or invalid."
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)
_NAMESPACE = uuid.UUID("4f6a2c1e-8b3d-4e5f-9a7b-1c2d3e4f5a6b")
# Messages of the AADSTS codes answered here (reference-error-codes), {0} the client id.
MESSAGES = {
    50020: "User account from identity provider does not exist in tenant and cannot access "
    "the application '{0}'({1}) in that tenant.",
    50076: "Due to a configuration change made by your administrator, or because you moved "
    "to a new location, you must use multi-factor authentication to access "
    "'00000003-0000-0000-c000-000000000000'.",
    50173: "The provided grant has expired due to it being revoked, a fresh auth token is "
    "needed. The user might have changed or reset their password.",
    54005: "OAuth2 Authorization code was already redeemed, please retry with a new valid "
    "code or use an existing refresh token.",
    65001: "The user or administrator has not consented to use the application with ID '{0}' "
    "named '{1}'. Send an interactive authorization request for this user and resource.",
    65004: "User declined to consent to access the app.",
    70000: "Provided grant is invalid or malformed.",
    70008: "The provided authorization code or refresh token has expired due to inactivity. "
    "Send a new interactive authorization request for this user and resource.",
    700082: "The refresh token has expired due to inactivity. The token was issued on "
    "2024-01-01T00:00:00.0000000Z and was inactive for 90.00:00:00.",
    90094: "Admin consent is required for the permissions requested by this application. An "
    "admin consent request may be sent to the admin.",
    500208: "The domain is not a valid login domain for the account type.",
    501481: "The Code_Verifier does not match the code_challenge supplied in the "
    "authorization request.",
    700005: "Provided Authorization Code is intended to use against other tenant, thus rejected.",
    700016: "Application with identifier '{0}' was not found in the directory.",
    7000215: "Invalid client secret provided. Ensure the secret being sent in the request is "
    "the client secret value, not the client secret ID, for a secret added to app '{0}'.",
    7000218: "The request body must contain the following parameter: 'client_assertion' or "
    "'client_secret'.",
    50000: "There was an error issuing a token or an issue with our sign-in service.",
    90033: "A transient error has occurred. Please try again.",
}
FAULTS = {  # refresh_fault -> (status, error, AADSTS code)
    "invalid_grant": (400, "invalid_grant", 70008),
    "AADSTS70008": (400, "invalid_grant", 70008),
    "AADSTS700082": (400, "invalid_grant", 700082),
    "AADSTS50173": (400, "invalid_grant", 50173),
    "AADSTS70000": (400, "invalid_grant", 70000),
    "AADSTS65001": (400, "invalid_grant", 65001),
    "interaction_required": (400, "interaction_required", 50076),
    "AADSTS50076": (400, "interaction_required", 50076),
    "invalid_client": (401, "invalid_client", 7000215),
    500: (500, "server_error", 50000),
    503: (503, "temporarily_unavailable", 90033),
}


def object_id(email: str, tenant: str = TENANT_ID) -> str:
    """The account's `oid` (and its Graph user id): stable per address; a personal account's
    has the zeros Microsoft gives them."""
    value = str(uuid.uuid5(_NAMESPACE, email.lower()))
    return "00000000-0000-0000-" + value[19:] if tenant == CONSUMER_TENANT else value


@dataclass
class Authorization:
    """What a code stands for until it is redeemed."""

    email: str
    tid: str
    path_tenant: str
    redirect_uri: str
    scopes: tuple[str, ...]
    challenge: str
    nonce: str | None
    expires: float


@dataclass
class Grant:
    """One account's consent to the client: its refresh token and the access tokens issued."""

    email: str
    tid: str
    scopes: tuple[str, ...]
    refresh_token: str | None
    spent: set[str] = field(default_factory=set)  # refresh tokens rotated away
    access_tokens: dict[str, float] = field(default_factory=dict)  # token -> expiry
    revoked: bool = False
    refreshing: int = 0


class MicrosoftIdentity:
    """The server's state; `app` serves it, `serve()` runs it on a free loopback port."""

    def __init__(
        self,
        account: tuple[str, str] = ("alice@contoso.com", TENANT_ID),
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        redirect_uris: tuple[str, ...] = (),
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uris = list(redirect_uris)
        self.login_url = ""  # set by serve()
        # Controls.
        self.account = account
        self.decline = False
        self.admin_consent_required: str | None = None  # "AADSTS65001" or "AADSTS90094"
        self.strict_rotation = True
        self.refresh_fault: str | int | None = None
        self.refresh_delay = 0.0
        self.withhold_refresh_token = False
        self.access_lifetime = ACCESS_LIFETIME
        self.claims: dict[str, Any] = {}
        # Observations.
        self.refresh_calls = 0
        self.code_calls = 0
        self.authorizations: list[dict[str, str]] = []
        self.concurrent_refreshes_max = 0
        self._key = RSAKey.generate_key(2048, parameters={"kid": "local-ms-1", "use": "sig"})
        self._codes: dict[str, Authorization] = {}
        self._redeemed: set[str] = set()
        self._grants: list[Grant] = []
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/{tenant}/oauth2/v2.0/authorize", self._authorize, methods=["GET"]),
                Route("/{tenant}/oauth2/v2.0/token", self._token, methods=["POST"]),
                Route("/{tenant}/discovery/v2.0/keys", self._keys, methods=["GET"]),
                Route(
                    "/{tenant}/v2.0/.well-known/openid-configuration",
                    self._configuration,
                    methods=["GET"],
                ),
            ]
        )

    # --- what tests read and set -------------------------------------------------------------

    def authorize_url(self, tenant: str = "organizations") -> str:
        return f"{self.login_url}/{tenant}/oauth2/v2.0/authorize"

    def token_url(self, tenant: str = "organizations") -> str:
        return f"{self.login_url}/{tenant}/oauth2/v2.0/token"

    def account_of(self, access_token: str) -> str | None:
        """Whose live access token this is (for a local Graph that checks them)."""
        now = time.time()
        with self._lock:
            for grant in self._grants:
                expiry = grant.access_tokens.get(access_token)
                if expiry is not None and not grant.revoked and expiry > now:
                    return grant.email
        return None

    def issue(self, account: str | tuple[str, str], scopes: tuple[str, ...] = ()) -> dict[str, Any]:
        """A token answer for a grant made without a browser (to set up a mailbox)."""
        email, tid = (account, TENANT_ID) if isinstance(account, str) else account
        granted = scopes or ("openid", "email", "offline_access", *GRAPH_SCOPES)
        with self._lock:
            grant = Grant(email, tid, granted, _refresh_token(tid))
            self._grants.append(grant)
            return self._answer(grant, granted, None)

    def revoke_all(self, email: str) -> None:
        """As an administrator revoking the user's sessions (or a password reset) does."""
        with self._lock:
            for grant in self._grants:
                if grant.email.lower() == email.lower():
                    grant.revoked = True

    def expire_access_tokens(self) -> None:
        """Every access token issued so far expires now (one that expires mid-sync)."""
        with self._lock:
            for grant in self._grants:
                grant.access_tokens = dict.fromkeys(grant.access_tokens, 0.0)

    @contextmanager
    def serve(self) -> Iterator[MicrosoftIdentity]:
        with LocalServer(self.app) as server:
            self.login_url = server.url
            yield self

    # --- the authorization endpoint ------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        query = request.query_params
        tenant = request.path_params["tenant"]
        if _tenant_kind(tenant) is None:
            return _page(400, 90002, f"Tenant '{tenant}' not found.")
        client_id, redirect_uri = query.get("client_id", ""), query.get("redirect_uri", "")
        if client_id != self.client_id:
            return _page(400, 700016, MESSAGES[700016].format(client_id))
        if redirect_uri not in self.redirect_uris:
            return _page(
                400,
                50011,
                f"The redirect URI '{redirect_uri}' specified in the request does not match "
                f"the redirect URIs configured for the application '{client_id}'.",
            )
        email, tid = self.account
        refused = _admits(tenant, tid)
        if refused is not None:
            return _page(400, refused, MESSAGES[refused].format(client_id, APP_NAME))
        back: dict[str, str] = {}
        problem = _authorization_problem(query)
        if problem is not None:
            back = _redirect_error(*problem)
        elif self.decline:
            back = _redirect_error("access_denied", 65004, MESSAGES[65004])
            back["error_subcode"] = "cancel"
        elif self.admin_consent_required:
            number = int(self.admin_consent_required.removeprefix("AADSTS"))
            message = MESSAGES[number].format(client_id, APP_NAME)
            back = _redirect_error("consent_required", number, message)
        if problem is None:
            with self._lock:
                self.authorizations.append(dict(query))
        if not back:
            code = "1.A" + secrets.token_urlsafe(96)
            with self._lock:
                self._codes[code] = Authorization(
                    email=email,
                    tid=tid,
                    path_tenant=tenant,
                    redirect_uri=redirect_uri,
                    scopes=_scopes(query.get("scope", "")) or (),
                    challenge=query["code_challenge"],
                    nonce=query.get("nonce"),
                    expires=time.time() + CODE_LIFETIME,
                )
            back = {"code": code}
            if "state" in query:
                back["state"] = query["state"]
            back["session_state"] = str(uuid.uuid4())
        elif "state" in query:
            back["state"] = query["state"]
        return RedirectResponse(f"{redirect_uri}?{urlencode(back)}", status_code=302)

    # --- the token endpoint --------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if _tenant_kind(tenant) is None:
            return _error(400, "invalid_request", 90002, f"Tenant '{tenant}' not found.")
        form = await _form(request)
        if form is None:
            return _error(400, "invalid_request", 90004, "The request isn't properly formatted.")
        refused = self._client_refused(request, form)
        if refused is not None:
            return refused
        grant_type = form.get("grant_type")
        if not grant_type:
            return _missing("grant_type")
        if grant_type == "authorization_code":
            return self._code_grant(tenant, form)
        if grant_type == "refresh_token":
            return await self._refresh_grant(tenant, form)
        return _error(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant_type}'.",
        )

    def _client_refused(self, request: Request, form: dict[str, str]) -> Response | None:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            try:
                decoded = base64.b64decode(value, validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                decoded = ""
            user, _, password = decoded.partition(":")
            # RFC 6749 2.3.1: each part form-encoded before joining.
            client_id, secret = unquote_plus(user), unquote_plus(password)
        if not client_id:
            return _missing("client_id")
        if client_id != self.client_id:
            return _error(400, "unauthorized_client", 700016, MESSAGES[700016].format(client_id))
        if not secret:
            return _error(401, "invalid_client", 7000218, MESSAGES[7000218])
        if not hmac.compare_digest(secret.encode(), self.client_secret.encode()):
            return _error(401, "invalid_client", 7000215, MESSAGES[7000215].format(client_id))
        return None

    def _code_grant(self, tenant: str, form: dict[str, str]) -> Response:
        for name in ("code", "redirect_uri"):
            if not form.get(name):
                return _missing(name)
        code = form["code"]
        with self._lock:
            self.code_calls += 1
            authorization = self._codes.pop(code, None)  # single use
            redeemed = code in self._redeemed
            self._redeemed.add(code)
        if authorization is None:
            if redeemed:
                return _error(400, "invalid_grant", 54005, MESSAGES[54005])
            return _error(400, "invalid_grant", 70000, MESSAGES[70000])
        if authorization.expires < time.time():
            return _error(400, "invalid_grant", 70008, MESSAGES[70008])
        if tenant not in (authorization.path_tenant, authorization.tid):
            return _error(400, "invalid_grant", 700005, MESSAGES[700005])
        if form["redirect_uri"] != authorization.redirect_uri:
            return _error(
                400,
                "invalid_grant",
                70000,
                "The redirect_uri does not match the one of the authorization request.",
            )
        verifier = form.get("code_verifier", "")
        if not hmac.compare_digest(_s256(verifier), authorization.challenge):
            return _error(400, "invalid_grant", 501481, MESSAGES[501481])
        issue = "offline_access" in authorization.scopes and not self.withhold_refresh_token
        with self._lock:
            grant = Grant(
                authorization.email,
                authorization.tid,
                authorization.scopes,
                _refresh_token(authorization.tid) if issue else None,
            )
            self._grants.append(grant)
            body = self._answer(grant, authorization.scopes, authorization.nonce)
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    async def _refresh_grant(self, tenant: str, form: dict[str, str]) -> Response:
        token = form.get("refresh_token")
        if not token:
            return _missing("refresh_token")
        with self._lock:
            self.refresh_calls += 1
            grant = next(
                (g for g in self._grants if token == g.refresh_token or token in g.spent), None
            )
            if grant is not None:
                grant.refreshing += 1
                self.concurrent_refreshes_max = max(self.concurrent_refreshes_max, grant.refreshing)
        try:
            if self.refresh_delay:
                await asyncio.sleep(self.refresh_delay)
            return self._refresh(tenant, form, token, grant)
        finally:
            if grant is not None:
                with self._lock:
                    grant.refreshing -= 1

    def _refresh(
        self, tenant: str, form: dict[str, str], token: str, grant: Grant | None
    ) -> Response:
        fault = self.refresh_fault
        if fault is not None:
            status, error, code = FAULTS[fault]
            return _error(status, error, code, MESSAGES[code].format(self.client_id, APP_NAME))
        if grant is None:
            return _error(400, "invalid_grant", 9002313, MALFORMED)
        if grant.revoked:
            return _error(400, "invalid_grant", 50173, MESSAGES[50173])
        if _admits(tenant, grant.tid) is not None:
            return _error(400, "invalid_grant", 700005, MESSAGES[700005])
        requested = _scopes(form.get("scope", "")) if form.get("scope") else grant.scopes
        if requested is None:
            return _error(400, "invalid_scope", 70011, "The value of 'scope' is not valid.")
        if not set(requested) <= set(grant.scopes) | {"openid", "profile", "email"}:
            consent = MESSAGES[65001].format(self.client_id, APP_NAME)
            return _error(400, "invalid_grant", 65001, consent)
        with self._lock:
            if token != grant.refresh_token and self.strict_rotation:
                return _error(400, "invalid_grant", 70000, MESSAGES[70000])
            if grant.refresh_token is not None:
                grant.spent.add(grant.refresh_token)
            grant.refresh_token = _refresh_token(grant.tid)
            body = self._answer(grant, requested, None)
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _answer(self, grant: Grant, scopes: tuple[str, ...], nonce: str | None) -> dict[str, Any]:
        """A token answer for `grant` (the lock held)."""
        access = ("EwB" if grant.tid == CONSUMER_TENANT else "eyJ0eXAiOiJKV1Qi") + (
            secrets.token_urlsafe(96)
        )
        grant.access_tokens[access] = time.time() + self.access_lifetime
        shown = [f"{GRAPH}{s}" for s in scopes if s in GRAPH_SCOPES]
        shown += [s for s in scopes if s in ("openid", "profile", "email")]
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": " ".join(shown),
            "expires_in": self.access_lifetime,
            "ext_expires_in": self.access_lifetime,
            "access_token": access,
        }
        if grant.refresh_token is not None:
            body["refresh_token"] = grant.refresh_token
        if "openid" in scopes:
            body["id_token"] = self._id_token(grant, scopes, nonce)
        return body

    def _id_token(self, grant: Grant, scopes: tuple[str, ...], nonce: str | None) -> str:
        now = int(time.time())
        oid = object_id(grant.email, grant.tid)
        pairwise = hashlib.sha256(f"{self.client_id}:{oid}".encode()).digest()
        claims: dict[str, Any] = {
            "aud": self.client_id,
            "iss": f"{self.login_url}/{grant.tid}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "aio": secrets.token_urlsafe(48),
            "name": grant.email.split("@")[0].replace(".", " ").title(),
            "oid": oid,
            "preferred_username": grant.email,
            "rh": "0.A" + secrets.token_urlsafe(40) + ".",
            "sub": base64.urlsafe_b64encode(pairwise).decode().rstrip("="),
            "tid": grant.tid,
            "uti": secrets.token_urlsafe(16),
            "ver": "2.0",
        }
        if "email" in scopes:
            claims["email"] = grant.email
        if nonce is not None:
            claims["nonce"] = nonce
        claims.update(self.claims)
        return jwt.encode({"typ": "JWT", "alg": "RS256", "kid": "local-ms-1"}, claims, self._key)

    # --- discovery -----------------------------------------------------------------------------

    async def _keys(self, request: Request) -> Response:
        key = self._key.as_dict(private=False)
        key["issuer"] = f"{self.login_url}/{_issuer_tenant(request.path_params['tenant'])}/v2.0"
        return JSONResponse({"keys": [key]})

    async def _configuration(self, request: Request) -> Response:
        tenant = request.path_params["tenant"]
        base = f"{self.login_url}/{tenant}"
        return JSONResponse(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{self.login_url}/{_issuer_tenant(tenant)}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "claims_supported": [
                    "sub",
                    "iss",
                    "aud",
                    "exp",
                    "iat",
                    "nbf",
                    "name",
                    "nonce",
                    "oid",
                    "preferred_username",
                    "email",
                    "tid",
                    "ver",
                ],
            }  # fmt: skip
        )


def _tenant_kind(tenant: str) -> str | None:
    """What the path's tenant names: an alias, a tenant id, a domain; None for nothing."""
    if tenant in ("common", "organizations", "consumers"):
        return tenant
    if _GUID.fullmatch(tenant):
        return "id"
    if re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", tenant, re.I):
        return "domain"
    return None


def _issuer_tenant(tenant: str) -> str:
    if tenant == "consumers":
        return CONSUMER_TENANT
    return tenant.lower() if _tenant_kind(tenant) == "id" else "{tenantid}"


def _admits(tenant: str, tid: str) -> int | None:
    """The AADSTS code refusing an account of tenant `tid` at the path's tenant, if refused."""
    consumer = tid == CONSUMER_TENANT
    kind = _tenant_kind(tenant)
    if (kind == "organizations" and consumer) or (kind == "consumers" and not consumer):
        return 500208
    if kind == "domain" and consumer:
        return 500208
    if kind == "id" and tenant.lower() != tid.lower():
        return 50020
    return None


def _scopes(text: str) -> tuple[str, ...] | None:
    """The scopes asked for, by their short names; None if one is unknown."""
    found: list[str] = []
    for scope in text.split():
        short = scope[len(GRAPH) :] if scope.lower().startswith(GRAPH) else scope
        if short == ".default":
            names = list(GRAPH_SCOPES)
        else:
            known = {s.lower(): s for s in (*OIDC_SCOPES, *GRAPH_SCOPES)}
            if short.lower() not in known:
                return None
            names = [known[short.lower()]]
        found += [name for name in names if name not in found]
    return tuple(found)


def _authorization_problem(query: Mapping[str, str]) -> tuple[str, int, str] | None:
    """(error, AADSTS code, message) of an authorization request that goes back with an error,
    after its application and redirect URI were found good."""
    for name in ("response_type", "scope"):
        if not query.get(name):
            return "invalid_request", 900144, f"{MISSING}'{name}'."
    if query["response_type"] != "code":
        return (
            "unsupported_response_type",
            70005,
            f"The provided value for the input parameter 'response_type' is not allowed for "
            f"this request: '{query['response_type']}'.",
        )
    if query.get("response_mode", "query") != "query":
        return "invalid_request", 70007, "This test server answers with response_mode=query only."
    scopes = _scopes(query["scope"])
    if scopes is None:
        return (
            "invalid_scope",
            70011,
            f"The provided value for the input parameter 'scope' is not valid. One or more "
            f"scopes in '{query['scope']}' are not known.",
        )
    for needed in ("openid", "offline_access"):
        if needed not in scopes:
            # Microsoft would just leave out the ID token or the refresh token: Mailroom must
            # always ask for both.
            return "invalid_scope", 70011, f"This test server requires the '{needed}' scope."
    prompts = query.get("prompt", "").split()
    if any(p not in ("login", "none", "consent", "select_account") for p in prompts):
        return "invalid_request", 90023, f"Unsupported 'prompt' value: '{query.get('prompt')}'."
    challenge, method = query.get("code_challenge"), query.get("code_challenge_method")
    if not challenge:
        # Microsoft takes a web app's request without PKCE; Mailroom must never send one.
        return "invalid_request", 900144, f"{MISSING}'code_challenge' (PKCE, required here)."
    if method != "S256":
        return "invalid_request", 50147, "This test server requires code_challenge_method=S256."
    if not re.fullmatch(r"[A-Za-z0-9_-]{43}", challenge):
        return "invalid_request", 501491, "Invalid size of Code_Challenge parameter."
    if not query.get("state"):
        return "invalid_request", 900144, f"{MISSING}'state' (required here)."
    return None


async def _form(request: Request) -> dict[str, str] | None:
    """An application/x-www-form-urlencoded body, as the token endpoint takes; None if it is
    none or too large."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if kind != "application/x-www-form-urlencoded" or len(body) > MAX_FORM_BYTES:
        return None
    try:
        return dict(parse_qsl(body.decode(), keep_blank_values=True))
    except UnicodeDecodeError:
        return None


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _refresh_token(tid: str) -> str:
    if tid == CONSUMER_TENANT:
        return "M.C5" + secrets.token_urlsafe(160)
    return "1.A" + secrets.token_urlsafe(240)


def _trace() -> tuple[str, str, str]:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return str(uuid.uuid4()), str(uuid.uuid4()), now


def _described(code: int, message: str) -> tuple[str, dict[str, Any]]:
    """The error_description Microsoft writes (the code, the message, trace lines) and the
    fields that go with it."""
    trace_id, correlation_id, timestamp = _trace()
    description = (
        f"AADSTS{code}: {message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: "
        f"{correlation_id}\r\nTimestamp: {timestamp}"
    )
    return description, {
        "error_codes": [code],
        "timestamp": timestamp,
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"https://login.microsoftonline.com/error?code={code}",
    }


def _error(status: int, error: str, code: int, message: str) -> JSONResponse:
    description, fields = _described(code, message)
    body = {"error": error, "error_description": description, **fields}
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache"}
    if status == 503:
        headers["Retry-After"] = "1"
    return JSONResponse(body, status_code=status, headers=headers)


def _missing(name: str) -> JSONResponse:
    return _error(400, "invalid_request", 900144, f"{MISSING}'{name}'.")


def _redirect_error(error: str, code: int, message: str) -> dict[str, str]:
    description, _ = _described(code, message)
    return {"error": error, "error_description": description}


def _page(status: int, code: int, message: str) -> HTMLResponse:
    """The sign-in page's error, for a request Microsoft will not send back to the app."""
    trace_id, correlation_id, timestamp = _trace()
    return HTMLResponse(
        f"<html><head><title>Sign in to your account</title></head><body><h1>Sorry, but "
        f"we're having trouble signing you in.</h1><p>AADSTS{code}: {escape(message)}</p>"
        f"<p>Request Id: {trace_id}<br>Correlation Id: {correlation_id}<br>Timestamp: "
        f"{timestamp}</p></body></html>",
        status_code=status,
    )
