"""`GET /oauth/callback`: where a provider sends the browser back after a consent, with `code`
and `state`, or `error` and `state` when the person declined.

Only the HTTP edge is here: reading the query, and the page that says what happened. Finishing
a connection is the workspace's (its plan, who else connected the account): `create_app` hands
this handler the service that does it, `Finish`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from mailroom import logs
from mailroom.errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    MailroomError,
    NotFoundError,
    SettingsError,
    SyncError,
)
from mailroom.oauth.page import page
from mailroom.oauth.providers import ADMIN_CONSENT, PROVIDER_NAMES, admin_consent_needed
from mailroom.oauth.states import START_AGAIN, take_state
from mailroom.settings import Settings
from mailroom.vault import Vault

log = logging.getLogger(__name__)

# First match wins: an AuthError is a SyncError too.
STATUS: tuple[tuple[type[MailroomError], int, str], ...] = (
    (InvalidInputError, 400, "Nothing was connected"),
    (ConflictError, 409, "Nothing was connected"),
    (ForbiddenError, 403, "Nothing was connected"),
    (NotFoundError, 404, "Nothing was connected"),
    (AuthError, 400, "The consent was not accepted"),
    (SyncError, 502, "The provider could not be reached"),
    (SettingsError, 500, "Mailroom is not set up for this"),
)


@dataclass(frozen=True, slots=True)
class Connected:
    """What a finished consent did."""

    provider: str  # "Google"
    address: str  # the account's, now the mailbox's
    workspace: str  # slug
    member: str  # the mailbox owner's address
    reconnected: bool


class Finish(Protocol):
    """Takes the state, exchanges the code, checks the account and saves the mailbox."""

    async def __call__(self, settings: Settings, state: str, code: str) -> Connected: ...


class OAuthCallback:
    """The ASGI endpoint."""

    def __init__(self, settings: Settings, finish: Finish) -> None:
        self.settings = settings
        self.finish = finish

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await self.respond(Request(scope, receive))
        await response(scope, receive, send)

    async def respond(self, request: Request) -> Response:
        query = request.query_params
        state, code, error = query.get("state"), query.get("code"), query.get("error")
        if not state:
            return page(
                "This link is incomplete",
                "It carries no state, so Mailroom cannot tell which connection it finishes; "
                f"nothing was connected. To connect a mailbox, {START_AGAIN}.",
                status=400,
            )
        try:
            if error:
                return await self._declined(state, error, query.get("error_description"))
            if not code:
                raise InvalidInputError(
                    f"the provider sent neither a code nor an error; {START_AGAIN}"
                )
            connected = await self.finish(self.settings, state, code)
        except MailroomError as failure:
            return _refused(failure)
        log.info(
            "mailbox reconnected" if connected.reconnected else "mailbox connected",
            extra=logs.fields(
                workspace=connected.workspace, mailbox=connected.address, member=connected.member
            ),
        )
        verb = "Reconnected" if connected.reconnected else "Connected"
        return page(
            f"{verb} {connected.address}",
            f"Mailroom may now read the mail of the {connected.provider} account "
            f"{connected.address}, for {connected.member} in the workspace {connected.workspace}.",
            "Its mail will be synced from here on. You can close this page.",
        )

    async def _declined(self, state: str, error: str, description: str | None) -> Response:
        # The state is used up either way: the same link cannot be finished later.
        consent = await take_state(Vault(self.settings.secret_key), state)
        name = PROVIDER_NAMES.get(consent.provider, "The provider")
        if error == "consent_required" or admin_consent_needed(error, description):
            client = self.settings.microsoft_client_id or "MAILROOM_MICROSOFT_CLIENT_ID"
            return page(
                "An administrator must allow Mailroom",
                f"Nothing was connected: {ADMIN_CONSENT} (Mailroom's application id: {client}).",
                status=403,
                detail=description,
            )
        if error == "access_denied":
            return page(
                "Nothing was connected",
                f"Mailroom was not allowed to read the {name} account, so nothing was "
                f"connected. To try again, {START_AGAIN}.",
                status=403,
                detail=description,
            )
        return page(
            "Nothing was connected",
            f"{name} could not finish the consent ({error}), so nothing was connected. To try "
            f"again, {START_AGAIN}.",
            status=400,
            detail=description,
        )


def _refused(error: MailroomError) -> Response:
    log.info("connection refused", extra=logs.fields(error, error=str(error)))
    for kind, status, title in STATUS:
        if isinstance(error, kind):
            return page(title, _sentence(str(error)), status=status)
    return page("Nothing was connected", _sentence(str(error)), status=500)


def _sentence(text: str) -> str:
    """An error's message as a sentence; one that starts with an address keeps it as is."""
    if "@" not in text.split(" ", 1)[0]:
        text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."
