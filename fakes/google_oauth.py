"""A faithful local Google OAuth 2.0 server for tests, as Google documents it for web server
applications (developers.google.com/identity/protocols/oauth2/web-server) and OpenID Connect:

- `GET /o/oauth2/v2/auth` checks the request as Google does (client_id, an exact registered
  redirect_uri, response_type=code, known scopes, access_type, prompt, PKCE) and answers a bad
  one with Google's error page, never a redirect; a good one is answered as the consenting
  user would (302 to the redirect URI with `code`, `state`, `scope`, `authuser`, `prompt`), or
  with `error=access_denied` when the test says the user declines.
- `POST /token`: the `authorization_code` grant (single-use codes, the redirect URI of the
  authorization, the PKCE verifier against the challenge, client authentication by
  client_secret_post or client_secret_basic) and the `refresh_token` grant. A refresh token is
  issued only for `access_type=offline`, and then only when Google would: at the first
  consent, or when `prompt=consent` asked again. The ID token is a JWT signed RS256 with a key
  made here (served at `/oauth2/v3/certs`).
- `POST /revoke` revokes a grant whole, from its refresh token or one of its access tokens.

Error bodies are Google's: `{"error": "invalid_grant", "error_description": "Token has been
expired or revoked."}`. Faults on demand, set from any thread: `refresh_fault` ("invalid_grant",
"invalid_client", a status such as 500 or 503), `refresh_delay` (seconds), `rotate` (a new
refresh token at each refresh, the old one then refused), `decline`, `claims` (ID token claims
to change), `withhold_refresh_token`. Observations: `refresh_calls`, `code_calls`,
`authorizations` (the query of each good authorization request), `revoked`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from html import escape
from typing import Any
from urllib.parse import parse_qsl, urlencode

from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from fakes.server import LocalServer

CLIENT_ID = "1234-mailroom.apps.googleusercontent.com"
CLIENT_SECRET = "GOCSPX-local-secret"
ISSUER = "https://accounts.google.com"
KNOWN_SCOPES = {
    "openid",
    "email",
    "profile",
    "https://www.googleapis.com/auth/gmail.readonly",
    "https://www.googleapis.com/auth/calendar.readonly",
    "https://www.googleapis.com/auth/userinfo.email",
}
CODE_LIFETIME = 600
ACCESS_LIFETIME = 3599
REVOKED = {"error": "invalid_grant", "error_description": "Token has been expired or revoked."}


@dataclass
class Authorization:
    """What a code stands for until it is exchanged."""

    account: str
    client_id: str
    redirect_uri: str
    scope: str
    challenge: str | None
    method: str
    offline: bool
    consent: bool
    expires: float


@dataclass
class Grant:
    """One user's grant to one client: its refresh token and the access tokens it issued."""

    account: str
    scope: str
    refresh_token: str | None
    access_tokens: set[str] = field(default_factory=set)
    revoked: bool = False


class GoogleOAuth:
    """The server's state; `app` serves it, `serve()` runs it on a free loopback port."""

    def __init__(
        self,
        account: str = "alice@acme.com",
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        redirect_uris: tuple[str, ...] = (),
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.redirect_uris = list(redirect_uris)
        self.account = account  # whom the browser is signed in as
        self.email_verified = True
        self.decline = False  # the user clicks "Cancel" on the consent screen
        self.claims: dict[str, Any] = {}  # ID token claims to override
        self.refresh_fault: str | int | None = None
        self.refresh_delay = 0.0
        self.rotate = False
        # As Google does for a grant that exists when it did not ask for consent again.
        self.withhold_refresh_token = False
        self.refresh_calls = 0
        self.code_calls = 0
        self.authorizations: list[dict[str, str]] = []
        self.revoked: list[str] = []
        self.base_url = ""
        self._key = RSAKey.generate_key(2048, parameters={"kid": "local-1", "use": "sig"})
        self._codes: dict[str, Authorization] = {}
        self._grants: list[Grant] = []
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/o/oauth2/v2/auth", self._authorize, methods=["GET"]),
                Route("/token", self._token, methods=["POST"]),
                Route("/revoke", self._revoke, methods=["POST"]),
                Route("/oauth2/v3/certs", self._certs, methods=["GET"]),
            ]
        )

    # --- what tests read and set -------------------------------------------------------------

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/o/oauth2/v2/auth"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def revoke_url(self) -> str:
        return f"{self.base_url}/revoke"

    def account_of(self, access_token: str) -> str | None:
        """Whose live access token this is (for a local Gmail that checks them)."""
        with self._lock:
            for grant in self._grants:
                if not grant.revoked and access_token in grant.access_tokens:
                    return grant.account
        return None

    def issue(self, account: str, scope: str = "openid email") -> dict[str, Any]:
        """A token answer for a grant made without a browser (to set up a mailbox)."""
        with self._lock:
            grant = Grant(account, scope, "1//0" + secrets.token_urlsafe(48))
            self._grants.append(grant)
            return {**self._access(grant), "refresh_token": grant.refresh_token}

    def revoke_all(self, account: str) -> None:
        """As the user does at myaccount.google.com/permissions."""
        with self._lock:
            for grant in self._grants:
                if grant.account == account:
                    grant.revoked = True

    @contextmanager
    def serve(self) -> Iterator[GoogleOAuth]:
        with serving(self.app) as url:
            self.base_url = url
            yield self

    # --- the endpoints -------------------------------------------------------------------------

    async def _authorize(self, request: Request) -> Response:
        query = request.query_params
        client_id, redirect_uri = query.get("client_id"), query.get("redirect_uri")
        if client_id != self.client_id:
            return _error_page(401, "invalid_client", "The OAuth client was not found.")
        if redirect_uri not in self.redirect_uris:
            return _error_page(
                400,
                "redirect_uri_mismatch",
                "You can't sign in to this app because it doesn't comply with Google's OAuth "
                "2.0 policy. If you're the app developer, register the redirect URI in the "
                "Google Cloud Console.",
            )
        problem = self._authorization_problem(query)
        if problem:
            return _error_page(400, "invalid_request", problem)
        with self._lock:
            self.authorizations.append(dict(query))
        back: dict[str, str] = {}
        if self.decline:
            back["error"] = "access_denied"
        else:
            code = "4/0A" + secrets.token_urlsafe(40)
            prompt = query.get("prompt", "").split()
            with self._lock:
                self._codes[code] = Authorization(
                    account=self.account,
                    client_id=client_id,
                    redirect_uri=redirect_uri,
                    scope=query["scope"],
                    challenge=query.get("code_challenge"),
                    method=query.get("code_challenge_method", "plain"),
                    offline=query.get("access_type") == "offline",
                    consent="consent" in prompt,
                    expires=time.time() + CODE_LIFETIME,
                )
            back.update(code=code, scope=query["scope"], authuser="0")
            if prompt:
                back["prompt"] = " ".join(prompt)
        if "state" in query:
            back["state"] = query["state"]
        return RedirectResponse(f"{redirect_uri}?{urlencode(back)}", status_code=302)

    def _authorization_problem(self, query: Any) -> str | None:
        if query.get("response_type") != "code":
            return f"Invalid response_type: {query.get('response_type')!r}"
        scopes = query.get("scope", "").split()
        if not scopes:
            return "Missing required parameter: scope"
        unknown = [scope for scope in scopes if scope not in KNOWN_SCOPES]
        if unknown:
            return f"Some requested scopes were invalid. {{invalid={unknown}}}"
        if query.get("access_type", "online") not in ("online", "offline"):
            return f"Invalid access_type: {query.get('access_type')}"
        prompt = query.get("prompt", "").split()
        if any(p not in ("none", "consent", "select_account") for p in prompt) or (
            "none" in prompt and len(prompt) > 1
        ):
            return f"Invalid prompt: {query.get('prompt')}"
        challenge = query.get("code_challenge")
        method = query.get("code_challenge_method")
        if challenge is None:
            # Google takes a web client's request without PKCE; Mailroom must never send one.
            return "Missing required parameter: code_challenge (this test server requires PKCE)"
        if method not in (None, "S256", "plain"):
            return f"Invalid code_challenge_method: {method}"
        if method == "S256" and len(challenge) != 43:
            return "Invalid code_challenge"
        return None

    async def _token(self, request: Request) -> Response:
        form = await _form(request)
        refused = self._client_refused(request, form)
        if refused is not None:
            return refused
        grant_type = form.get("grant_type")
        if grant_type == "authorization_code":
            return self._code_grant(form)
        if grant_type == "refresh_token":
            return await self._refresh_grant(form)
        return _oauth_error(400, "unsupported_grant_type", f"Invalid grant_type: {grant_type}")

    def _client_refused(self, request: Request, form: dict[str, Any]) -> Response | None:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "basic":
            client_id, _, secret = base64.b64decode(value).decode().partition(":")
        if client_id != self.client_id:
            return _oauth_error(401, "invalid_client", "The OAuth client was not found.")
        if not secret or not hmac.compare_digest(str(secret), self.client_secret):
            return _oauth_error(401, "invalid_client", "Unauthorized")
        return None

    def _code_grant(self, form: dict[str, Any]) -> Response:
        with self._lock:
            self.code_calls += 1
            authorization = self._codes.pop(str(form.get("code", "")), None)  # single use
        if authorization is None or authorization.expires < time.time():
            return _oauth_error(400, "invalid_grant", "Bad Request")
        if form.get("redirect_uri") != authorization.redirect_uri:
            return _oauth_error(400, "redirect_uri_mismatch", "Bad Request")
        if authorization.challenge is not None:
            verifier = form.get("code_verifier")
            if not verifier:
                return _oauth_error(400, "invalid_grant", "Missing code verifier.")
            if not hmac.compare_digest(
                _challenge(str(verifier), authorization.method), authorization.challenge
            ):
                return _oauth_error(400, "invalid_grant", "Invalid code verifier.")
        with self._lock:
            first = not any(
                g.account == authorization.account and not g.revoked for g in self._grants
            )
            # Google sends a refresh token with the first consent, or when asked to prompt for
            # consent again; otherwise the app is expected to hold the one it had.
            issue = authorization.offline and (first or authorization.consent)
            issue = issue and not self.withhold_refresh_token
            grant = Grant(
                authorization.account,
                authorization.scope,
                "1//0" + secrets.token_urlsafe(48) if issue else None,
            )
            self._grants.append(grant)
            body = self._access(grant)
        if grant.refresh_token:
            body["refresh_token"] = grant.refresh_token
        if "openid" in authorization.scope.split():
            body["id_token"] = self._id_token(authorization)
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    async def _refresh_grant(self, form: dict[str, Any]) -> Response:
        with self._lock:
            self.refresh_calls += 1
        if self.refresh_delay:
            await asyncio.sleep(self.refresh_delay)
        fault = self.refresh_fault
        if isinstance(fault, int):
            return JSONResponse({"error": "internal_failure"}, status_code=fault)
        if fault == "invalid_client":
            return _oauth_error(401, "invalid_client", "Unauthorized")
        with self._lock:
            grant = next(
                (g for g in self._grants if g.refresh_token == form.get("refresh_token")), None
            )
            if fault == "invalid_grant" or grant is None or grant.revoked:
                return JSONResponse(REVOKED, status_code=400)
            body = self._access(grant)
            if self.rotate:
                grant.refresh_token = "1//0" + secrets.token_urlsafe(48)
                body["refresh_token"] = grant.refresh_token
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    def _access(self, grant: Grant) -> dict[str, Any]:
        token = "ya29.a0" + secrets.token_urlsafe(48)
        grant.access_tokens.add(token)
        return {
            "access_token": token,
            "expires_in": ACCESS_LIFETIME,
            "scope": grant.scope,
            "token_type": "Bearer",
        }

    def _id_token(self, authorization: Authorization) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "azp": authorization.client_id,
            "aud": authorization.client_id,
            "sub": str(int(hashlib.sha256(authorization.account.encode()).hexdigest()[:15], 16)),
            "email": authorization.account,
            "email_verified": self.email_verified,
            "iat": now,
            "exp": now + 3600,
            **self.claims,
        }
        header = {"alg": "RS256", "kid": "local-1", "typ": "JWT"}
        return jwt.encode(header, claims, self._key)

    async def _revoke(self, request: Request) -> Response:
        form = await _form(request)
        token = str(form.get("token") or request.query_params.get("token") or "")
        with self._lock:
            for grant in self._grants:
                if not grant.revoked and token in (grant.refresh_token, *grant.access_tokens):
                    grant.revoked = True
                    self.revoked.append(grant.account)
                    return JSONResponse({})
        return JSONResponse(
            {"error": "invalid_token", "error_description": "Token expired or revoked"},
            status_code=400,
        )

    async def _certs(self, request: Request) -> Response:
        return JSONResponse({"keys": [self._key.as_dict(private=False)]})


async def _form(request: Request) -> dict[str, Any]:
    """An application/x-www-form-urlencoded body (all Google's token endpoints take)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != (
        "application/x-www-form-urlencoded"
    ):
        return {}
    return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))


def _challenge(verifier: str, method: str) -> str:
    if method == "plain":
        return verifier
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status_code=status)


def _error_page(status: int, error: str, description: str) -> HTMLResponse:
    """What Google shows in the browser for a request it will not send back to the app."""
    return HTMLResponse(
        f"<html><body><h1>Access blocked: Authorization Error</h1><p>{escape(description)}</p>"
        f"<p>Error {status}: {escape(error)}</p></body></html>",
        status_code=status,
    )


@contextmanager
def serving(app: Any) -> Iterator[str]:
    """Serve an ASGI app on a free loopback port (`fakes.server.LocalServer`); its base URL."""
    with LocalServer(app) as server:
        yield server.url
