"""Access tokens for a mailbox's sync: the one held while it is valid, a refreshed one when it
expires or the provider rejects it.

Refreshes of one account are serialized, across the tasks of a process (a lock per mailbox)
and across processes (the mailbox's row, locked in the transaction that stores the result:
`rowlock`). Whoever gets the lock second reads the credentials again and uses the token the
first one stored rather than refreshing once more. A refresh token that comes back (rotation)
is stored in that same transaction, so none is ever lost between use and storage.

A refused grant (`invalid_grant`: the owner revoked Mailroom's access or changed their
password) moves the mailbox to NEEDS_REAUTH with a sentence its owner understands, and raises
that as an AuthError; a provider that is down or slow raises TransientError.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from mailroom import logs
from mailroom.errors import AuthError, NotFoundError
from mailroom.models import Mailbox, MailboxStatus, Workspace
from mailroom.oauth.client import GrantRefused, refresh
from mailroom.oauth.credentials import Credentials
from mailroom.oauth.providers import (
    ADMIN_CONSENT,
    OAuthProvider,
    admin_consent_needed,
    provider_for,
)
from mailroom.oauth.rowlock import locked_mailbox
from mailroom.settings import Settings
from mailroom.vault import Vault

log = logging.getLogger(__name__)

# A token that expires sooner than this is refreshed first: a request made with it could
# otherwise be refused on arrival.
LEEWAY = 60.0


class AccessTokens:
    """One per process (or per sync worker): it holds the per-mailbox locks."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._locks: dict[UUID, asyncio.Lock] = {}

    async def current(self, mailbox: Mailbox) -> str:
        """A valid access token for the mailbox, refreshed first if it expires within a
        minute."""
        held = Credentials.opened(self._vault(), mailbox)
        if held.fresh_for(LEEWAY):
            return held.access_token
        return await self._renew(mailbox, lambda stored: not stored.fresh_for(LEEWAY))

    async def refreshed(self, mailbox: Mailbox, rejected: str) -> str:
        """A new access token after the provider answered 401 to `rejected`: refreshed unless
        another task or process has replaced `rejected` meanwhile."""
        return await self._renew(mailbox, lambda stored: stored.access_token == rejected)

    async def _renew(self, mailbox: Mailbox, needed: Callable[[Credentials], bool]) -> str:
        vault = self._vault()
        refused: AuthError | None = None
        async with self._lock(mailbox.id), in_transaction() as connection:
            row = await locked_mailbox(connection, mailbox.id)
            if row is None:
                raise NotFoundError(
                    f"{mailbox.address} was removed while it synced", mailbox=mailbox.address
                )
            if row.status is MailboxStatus.NEEDS_REAUTH:
                refused = AuthError(row.last_error or _reconnect(row), mailbox=row.address)
            else:
                stored = Credentials.opened(vault, row)
                if needed(stored):
                    provider = provider_for(self._settings, row.provider)
                    try:
                        token = await refresh(provider, stored.refresh_token)
                    except GrantRefused as error:
                        refused = await self._refused(connection, row, provider, error)
                    else:
                        renewed = stored.renewed(token)
                        row.credentials = renewed.sealed(vault)  # with the newest key
                        await row.save(using_db=connection, update_fields=["credentials"])
                        _refreshed(row, rotated=renewed.refresh_token != stored.refresh_token)
        if refused is not None:  # raised after the transaction, which keeps the new status
            mailbox.status, mailbox.last_error = row.status, row.last_error
            raise refused
        mailbox.credentials = row.credentials
        return Credentials.opened(vault, row).access_token

    async def _refused(
        self,
        connection: BaseDBAsyncClient,
        row: Mailbox,
        provider: OAuthProvider,
        error: GrantRefused,
    ) -> AuthError:
        workspace = await Workspace.filter(id=row.workspace_id).using_db(connection).first()
        slug = workspace.slug if workspace is not None else None
        message = _refusal(provider, row.address, error) + "; " + _reconnect(row, slug)
        row.status = MailboxStatus.NEEDS_REAUTH
        row.last_error = message
        row.last_error_at = datetime.now(UTC)
        await row.save(
            using_db=connection,
            update_fields=["status", "last_error", "last_error_at"],
        )
        log.warning(
            "access refused",
            extra=logs.fields(mailbox=row.address, workspace=slug, reason=error.error),
        )
        return AuthError(message, workspace=slug, mailbox=row.address)

    def _lock(self, mailbox_id: UUID) -> asyncio.Lock:
        return self._locks.setdefault(mailbox_id, asyncio.Lock())

    def _vault(self) -> Vault:
        # Made when used: a process with no OAuth mailbox needs no key.
        return Vault(self._settings.secret_key)


def _refusal(provider: OAuthProvider, address: str, error: GrantRefused) -> str:
    if error.error == "invalid_grant":
        return (
            f"{provider.name} no longer accepts Mailroom's access to {address}: the account's "
            "owner revoked it or changed their password"
        )
    if error.error == "interaction_required":
        return (
            f"{provider.name} wants the owner of {address} to sign in again (their "
            "organization requires multi-factor authentication or another check)"
        )
    if error.error == "consent_required" or admin_consent_needed(error.error, error.description):
        return (
            f"{provider.name} no longer has consent for Mailroom to read {address}: {ADMIN_CONSENT}"
        )
    if error.error in ("invalid_client", "unauthorized_client"):
        return (
            f"{provider.name} refuses Mailroom's OAuth client (MAILROOM_{provider.setting}"
            f"_CLIENT_ID, MAILROOM_{provider.setting}_CLIENT_SECRET), so it cannot renew the "
            f"access to {address}; once the operator has fixed them"
        )
    return f"{provider.name} refused to renew Mailroom's access to {address} ({error.error})"


def _reconnect(row: Mailbox, slug: str | None = None) -> str:
    return f"reconnect with `mailroom mailbox reconnect {slug or 'SLUG'} {row.address}`"


def _refreshed(row: Mailbox, *, rotated: bool) -> None:
    log.info("access token refreshed", extra=logs.fields(mailbox=row.address, rotated=rotated))
