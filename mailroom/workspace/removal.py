"""Removing a mailbox, as its owner or an admin may: the mail only it had goes (a message
another mailbox also saw stays), every record it made stays, and the relationship figures stop
counting it. The deletion itself is the store's (`intake.removal`)."""

from __future__ import annotations

from mailroom.intake.removal import remove_mailbox as delete_mailbox
from mailroom.models import Mailbox
from mailroom.workspace.actors import Actor, require_manager


async def remove_mailbox(actor: Actor, mailbox: Mailbox) -> int:
    """How many messages went with it."""
    require_manager(actor, mailbox, "remove")
    return await delete_mailbox(mailbox.id, mailbox.workspace_id)
