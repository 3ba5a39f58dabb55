"""Connecting a member's CalDAV calendars, and reconnecting them after the login stopped
working.

The same checks as for an IMAP mailbox, whoever asks: the member's plan has room for another
connected mailbox, the URL is one the workspace may reach, the login works and the server has
an event calendar there; only then is the mailbox saved, its password sealed by the vault.
"""

from __future__ import annotations

import logging

from mailroom import logs
from mailroom.errors import ConflictError, SyncError
from mailroom.models import Mailbox, MailboxStatus, Member, Provider, Workspace
from mailroom.parsing.addresses.lists import normalize_address
from mailroom.settings import Settings
from mailroom.sources.caldav import Account, account_of, check_account
from mailroom.sources.caldav.account import stored_connection
from mailroom.sources.supervision import reason
from mailroom.vault import Vault
from mailroom.workspace.actors import Actor, require_manager
from mailroom.workspace.members import valid_address
from mailroom.workspace.plans import check_room_for_mailbox
from mailroom.workspace.store import conflict_if_taken

log = logging.getLogger(__name__)


async def add_caldav_mailbox(
    settings: Settings,
    workspace: Workspace,
    member: Member,
    account: Account,
    *,
    allow_private_host: bool = False,
    address: str | None = None,
) -> tuple[Mailbox, int]:
    """Connect `member`'s CalDAV calendars. `address` names the mailbox; by default the login
    name if it is an email address, else the member's. Returns the mailbox and how many event
    calendars the server has."""
    vault = Vault(settings.secret_key)  # before anything: no key, no stored password
    given = valid_address(address) if address is not None else None
    await check_room_for_mailbox(workspace, member)
    calendars = await _check(settings, account)
    address = given or normalize_address(account.username) or member.email
    taken = f"{address} is already connected in {workspace.slug!r}"
    if await Mailbox.filter(
        workspace=workspace, provider=Provider.CALDAV, address=address
    ).exists():
        raise ConflictError(taken, workspace=workspace.slug, mailbox=address)
    with conflict_if_taken(taken, workspace=workspace.slug, mailbox=address):
        mailbox = await Mailbox.create(
            workspace=workspace,
            owner=member,
            provider=Provider.CALDAV,
            address=address,
            status=MailboxStatus.PENDING,
            connection=stored_connection(account, allow_private=allow_private_host),
            credentials=vault.seal({"password": account.password}),
        )
    return mailbox, calendars


async def reconnect_caldav_mailbox(
    settings: Settings, mailbox: Mailbox, password: str | None, *, by: Actor
) -> Mailbox:
    """Check the login again (with a new password, if given) and let the mailbox sync again.
    Its owner or an admin may."""
    require_manager(by, mailbox, "reconnect")
    vault = Vault(settings.secret_key)
    account = account_of(settings, mailbox, password)
    await _check(settings, account, mailbox.address)
    await Mailbox.filter(id=mailbox.id).update(
        credentials=vault.seal({"password": account.password}),
        status=MailboxStatus.PENDING,
        failures=0,
        last_error=None,
        last_error_at=None,
        lease_until=None,
    )
    await mailbox.refresh_from_db()
    return mailbox


async def _check(settings: Settings, account: Account, mailbox: str | None = None) -> int:
    try:
        return len(await check_account(settings, account))
    except SyncError as error:
        # What the server said, never the password tried.
        line = logs.fields(
            error,
            mailbox=mailbox,
            url=account.url,
            username=account.username,
            reason=reason(error),
            error=str(error),
        )
        log.info("reconnect failed" if mailbox else "connect failed", extra=line)
        raise
