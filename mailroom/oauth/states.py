"""OAuth `state`: what a consent under way is for (workspace, member, provider, and the mailbox
when reconnecting), kept on the server with its PKCE verifier, good once, for ten minutes.

The state goes to the provider and comes back in the browser's address bar; only its SHA-256
is stored, so the table alone cannot finish a consent. Taking a state deletes its row, and
only the caller whose delete removed it goes on: two requests with one state (a replay, a
double click) finish at most one connection.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from uuid import UUID

from mailroom.choices import Provider
from mailroom.errors import InvalidInputError
from mailroom.models import OAuthState
from mailroom.vault import Vault

LIFETIME = timedelta(minutes=10)
START_AGAIN = "start connecting again from Mailroom"


@dataclass(frozen=True, slots=True)
class Consent:
    """A consent under way, as its state stands for it."""

    provider: Provider
    workspace_id: UUID
    member_id: UUID
    mailbox_id: UUID | None  # reconnecting this mailbox
    verifier: str = field(repr=False)  # PKCE
    expires_at: datetime


async def issue_state(
    vault: Vault,
    provider: Provider,
    workspace_id: UUID,
    member_id: UUID,
    mailbox_id: UUID | None = None,
) -> tuple[str, Consent]:
    """A new state and what it stands for."""
    now = datetime.now(UTC)
    # States nobody came back with: nothing else removes them.
    await OAuthState.filter(expires_at__lt=now).delete()
    state = secrets.token_urlsafe(32)
    # RFC 7636 4.1: 43 to 128 characters of [A-Za-z0-9-._~]; 64 random bytes give 86.
    consent = Consent(
        provider,
        workspace_id,
        member_id,
        mailbox_id,
        secrets.token_urlsafe(64),
        now + LIFETIME,
    )
    await OAuthState.create(
        digest=_digest(state),
        provider=provider,
        workspace_id=workspace_id,
        member_id=member_id,
        mailbox_id=mailbox_id,
        verifier=vault.seal({"verifier": consent.verifier}),
        expires_at=consent.expires_at,
    )
    return state, consent


async def take_state(vault: Vault, state: str) -> Consent:
    """What `state` stands for, once: the state is used up whatever follows."""
    row = await OAuthState.filter(digest=_digest(state)).first()
    # The delete is the claim: of two requests that read the row, one deletes it.
    if row is None or not await OAuthState.filter(id=row.id).delete():
        raise InvalidInputError(
            "this link is not one Mailroom is waiting for: it was already used, or it was "
            f"changed on the way; {START_AGAIN}"
        )
    if row.expires_at <= datetime.now(UTC):
        raise InvalidInputError(
            f"this link has expired: a consent must be given within "
            f"{int(LIFETIME.total_seconds() // 60)} minutes of starting it; {START_AGAIN}"
        )
    return Consent(
        row.provider,
        row.workspace_id,
        row.member_id,
        row.mailbox_id,
        str(vault.open(row.verifier)["verifier"]),
        row.expires_at,
    )


def _digest(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8", "surrogatepass")).hexdigest()
