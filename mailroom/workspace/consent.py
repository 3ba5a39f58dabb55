"""Connecting a member's Google or Microsoft 365 account by consent, and reconnecting one
whose access was revoked: the same rules whoever asks (the command line, the API).

Starting gives a consent URL for the account's owner to open, bound by its `state` to the
workspace, the member and (reconnecting) the mailbox. Finishing, when the provider sends the
browser back to `/oauth/callback`, takes the state, exchanges the code, reads whose account it
is (for Microsoft, also that Graph can read its mailbox), and only then saves: the plan must
have room, the account must not be another member's mailbox in the workspace already, a
reconnect must be the same account. Mail already synced is never touched.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mailroom.choices import AccountProvider, Provider
from mailroom.errors import ConflictError, InvalidInputError, MailroomError, NotFoundError
from mailroom.models import Mailbox, MailboxStatus, Member, Workspace
from mailroom.oauth import (
    Connected,
    Consent,
    Credentials,
    OAuthProvider,
    account_address,
    authorization_url,
    exchange_code,
    issue_state,
    mailbox_kind,
    provider_for,
    redirect_uri,
    revoke,
    take_state,
)
from mailroom.settings import Settings
from mailroom.sources.graph.account import check_mailbox
from mailroom.vault import Vault
from mailroom.workspace.actors import Actor, require_manager
from mailroom.workspace.plans import check_room_for_mailbox
from mailroom.workspace.store import conflict_if_taken


@dataclass(frozen=True, slots=True)
class ConsentLink:
    """Where the account's owner gives their consent, until `expires_at`."""

    url: str
    provider: str  # "Google"
    expires_at: datetime


async def start_connection(
    settings: Settings, workspace: Workspace, member: Member, account: AccountProvider
) -> ConsentLink:
    """A consent URL that connects an account of `account`'s provider as `member`'s mailbox."""
    provider = provider_for(settings, account)  # no client: one line naming the setting
    vault = Vault(settings.secret_key)  # no key: no tokens could be stored at the end
    await check_room_for_mailbox(workspace, member)
    state, consent = await issue_state(vault, mailbox_kind(account), workspace.id, member.id)
    return _link(settings, provider, state, consent, member.email)


async def start_reconnection(settings: Settings, mailbox: Mailbox, *, by: Actor) -> ConsentLink:
    """A consent URL that renews the access to `mailbox`'s account (its owner or an admin may
    ask; the consent must then be given by the account's owner)."""
    require_manager(by, mailbox, "reconnect")
    provider = provider_for(settings, mailbox.provider)
    vault = Vault(settings.secret_key)
    state, consent = await issue_state(
        vault, mailbox.provider, mailbox.workspace_id, mailbox.owner_id, mailbox.id
    )
    return _link(settings, provider, state, consent, mailbox.address)


async def finish_connection(settings: Settings, state: str, code: str) -> Connected:
    """What `/oauth/callback` does with a code: the connection its state was issued for."""
    vault = Vault(settings.secret_key)
    consent = await take_state(vault, state)
    provider = provider_for(settings, consent.provider)
    token = await exchange_code(provider, redirect_uri(settings), code, consent.verifier)
    address: str | None = None
    try:
        address = account_address(provider, token.get("id_token"))
        if not token.get("refresh_token"):
            raise InvalidInputError(
                f"{provider.name} sent no refresh token, which Mailroom needs to keep reading "
                f"{address} without asking you again. {provider.no_refresh_token}"
            )
        if provider.kind is Provider.MICROSOFT:
            await check_mailbox(settings, str(token["access_token"]))
        credentials = Credentials.from_token(token, str(token["refresh_token"]))
        return await _save(vault, provider, consent, address, credentials)
    except MailroomError:
        await _forget(provider, address, token)
        raise


async def _save(
    vault: Vault,
    provider: OAuthProvider,
    consent: Consent,
    address: str,
    credentials: Credentials,
) -> Connected:
    workspace = await Workspace.get(id=consent.workspace_id)
    member = await Member.get(id=consent.member_id)
    if consent.mailbox_id is not None:
        mailbox = await Mailbox.get_or_none(id=consent.mailbox_id, workspace_id=workspace.id)
        if mailbox is None:
            raise NotFoundError(f"the mailbox was removed meanwhile; {_again('connect')}")
        if mailbox.address != address:
            raise InvalidInputError(
                f"you signed in to {provider.name} as {address}, but the mailbox being "
                f"reconnected is {mailbox.address}; nothing was changed. Reconnect again and "
                f"choose {mailbox.address}",
                workspace=workspace.slug,
                mailbox=mailbox.address,
            )
        await _renew(vault, mailbox, credentials)
        return _connected(provider, mailbox, workspace, member, reconnected=True)
    existing = await Mailbox.get_or_none(
        workspace_id=workspace.id, provider=provider.kind, address=address
    )
    if existing is not None:
        if existing.owner_id != member.id:
            owner = await Member.get(id=existing.owner_id)
            raise ConflictError(
                f"{address} is already connected in the workspace {workspace.slug} by "
                f"{owner.email}; an account is synced once per workspace, by the member who "
                "connected it",
                workspace=workspace.slug,
                mailbox=address,
            )
        # The same member connecting the same account again: its access is renewed.
        await _renew(vault, existing, credentials)
        return _connected(provider, existing, workspace, member, reconnected=True)
    await check_room_for_mailbox(workspace, member)
    taken = f"{address} was connected in the workspace {workspace.slug} meanwhile"
    with conflict_if_taken(taken, workspace=workspace.slug, mailbox=address):
        mailbox = await Mailbox.create(
            workspace=workspace,
            owner=member,
            provider=provider.kind,
            address=address,
            status=MailboxStatus.PENDING,
            credentials=credentials.sealed(vault),
        )
    return _connected(provider, mailbox, workspace, member, reconnected=False)


async def _renew(vault: Vault, mailbox: Mailbox, credentials: Credentials) -> None:
    """New tokens, and the mailbox syncs again from where it was: its mail, cursor and
    progress stay."""
    await Mailbox.filter(id=mailbox.id).update(
        credentials=credentials.sealed(vault),
        status=MailboxStatus.PENDING,
        failures=0,
        last_error=None,
        last_error_at=None,
        lease_until=None,
    )


async def _forget(provider: OAuthProvider, address: str | None, token: dict[str, Any]) -> None:
    """Revoke the grant of a consent that connected nothing, unless a mailbox (of any
    workspace here) holds the same account: Google revokes a grant whole, that mailbox's tokens
    with it. An account that could not be told is left alone for the same reason."""
    if address is None or await Mailbox.exists(provider=provider.kind, address=address):
        return
    await revoke(provider, str(token.get("refresh_token") or token["access_token"]))


def _link(
    settings: Settings, provider: OAuthProvider, state: str, consent: Consent, login_hint: str
) -> ConsentLink:
    url = authorization_url(provider, redirect_uri(settings), state, consent.verifier, login_hint)
    return ConsentLink(url, provider.name, consent.expires_at)


def _connected(
    provider: OAuthProvider,
    mailbox: Mailbox,
    workspace: Workspace,
    member: Member,
    *,
    reconnected: bool,
) -> Connected:
    return Connected(provider.name, mailbox.address, workspace.slug, member.email, reconnected)


def _again(verb: str) -> str:
    return f"{verb} it again from Mailroom"
