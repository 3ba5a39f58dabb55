"""Connecting a member's IMAP mailbox, and reconnecting it after its login stopped working.

The same checks whoever asks (the command line, the API): the member's plan has room for
another mailbox, the connection is one the workspace may make, the login works; only then is
the mailbox saved, its password sealed by the vault.
"""

from __future__ import annotations

import logging

from mailroom import logs
from mailroom.errors import ConflictError, InvalidInputError, SyncError
from mailroom.models import Mailbox, MailboxStatus, Member, Provider, Workspace
from mailroom.parsing.addresses.lists import normalize_address
from mailroom.settings import Settings
from mailroom.sources.imap.accounts import (
    check_login,
    connection_of,
    imap_password,
    stored_connection,
)
from mailroom.sources.imap.client import Connection
from mailroom.sources.imap.errors import kind
from mailroom.vault import Vault
from mailroom.workspace.actors import Actor, require_manager
from mailroom.workspace.members import valid_address
from mailroom.workspace.plans import check_room_for_mailbox
from mailroom.workspace.store import conflict_if_taken

log = logging.getLogger(__name__)


async def add_imap_mailbox(
    settings: Settings,
    workspace: Workspace,
    member: Member,
    connection: Connection,
    password: str,
    address: str | None = None,
) -> Mailbox:
    """Connect a mailbox of `member`'s. `address` is the mailbox's email address; by default
    the login name if it is one, else the member's address."""
    vault = Vault(settings.secret_key)  # before anything: no key, no stored password
    given = valid_address(address) if address is not None else None
    await check_room_for_mailbox(workspace, member)
    await _check_connection(settings, connection, password)
    address = given or normalize_address(connection.username) or member.email
    taken = f"{address} is already connected in {workspace.slug!r}"
    if await Mailbox.filter(workspace=workspace, provider=Provider.IMAP, address=address).exists():
        raise ConflictError(taken, workspace=workspace.slug, mailbox=address)
    with conflict_if_taken(taken, workspace=workspace.slug, mailbox=address):
        return await Mailbox.create(
            workspace=workspace,
            owner=member,
            provider=Provider.IMAP,
            address=address,
            status=MailboxStatus.PENDING,
            connection=stored_connection(connection),
            credentials=vault.seal({"password": password}),
        )


async def reconnect_imap_mailbox(
    settings: Settings, mailbox: Mailbox, password: str | None, *, by: Actor
) -> Mailbox:
    """Check the login again (with a new password, if given) and let the mailbox sync again.
    Its owner or an admin may."""
    require_manager(by, mailbox, "reconnect")
    vault = Vault(settings.secret_key)
    if password is None and not mailbox.credentials:
        raise InvalidInputError(
            f"{mailbox.address} has no stored credentials", mailbox=mailbox.address
        )
    secret = password if password is not None else imap_password(settings, mailbox)
    await _check_connection(settings, connection_of(mailbox), secret, mailbox.address)
    await Mailbox.filter(id=mailbox.id).update(
        credentials=vault.seal({"password": secret}),
        status=MailboxStatus.PENDING,
        failures=0,
        last_error=None,
        last_error_at=None,
        lease_until=None,
    )
    await mailbox.refresh_from_db()
    return mailbox


async def _check_connection(
    settings: Settings, connection: Connection, password: str, mailbox: str | None = None
) -> None:
    if connection.security == "none" and not settings.imap_allow_private_hosts:
        # Only a server on this machine or its network may be reached in clear text.
        raise InvalidInputError(
            "an unencrypted connection (--security none) is only for local hosts, which "
            "settings do not allow (MAILROOM_IMAP_ALLOW_PRIVATE_HOSTS)"
        )
    try:
        await check_login(settings, connection, password)
    except SyncError as error:
        # What the server said, never the password tried.
        line = logs.fields(
            error,
            mailbox=mailbox,
            host=connection.host,
            username=connection.username,
            reason=kind(error),
            error=str(error),
        )
        log.info("reconnect failed" if mailbox else "connect failed", extra=line)
        raise
