"""The mailboxes that push sources fill, one per member and source, made on first use: what a
member forwards or BCCs to the gateway, and what the operator imports from files for them.
Mailboxes that Mailroom syncs are connected instead (`mailroom.workspace.connecting`)."""

from __future__ import annotations

from mailroom.models import Mailbox, MailboxStatus, Member, Provider


async def forwarding_mailbox(member: Member) -> Mailbox:
    """The mailbox that holds what the member forwards or BCCs."""
    return await _own_mailbox(member, Provider.FORWARDING)


async def import_mailbox(member: Member) -> Mailbox:
    """The member's mailbox for file imports."""
    return await _own_mailbox(member, Provider.IMPORT)


async def _own_mailbox(member: Member, provider: Provider) -> Mailbox:
    mailbox, _ = await Mailbox.get_or_create(
        workspace_id=member.workspace_id,
        provider=provider,
        address=member.email,
        defaults={"owner": member, "status": MailboxStatus.ACTIVE},
    )
    return mailbox
