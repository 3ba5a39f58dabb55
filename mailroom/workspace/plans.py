"""Plans and what they allow: connected (synced) mailboxes per member. Forwarding and import
mailboxes are not counted: every member has one of each, whatever the plan."""

from __future__ import annotations

from mailroom.errors import ConflictError
from mailroom.models import Mailbox, Member, Plan, Workspace
from mailroom.workspace.mailboxes import SYNCED_PROVIDERS

# Connected mailboxes per member by plan; None: no limit.
MAILBOXES_PER_MEMBER: dict[Plan, int | None] = {
    Plan.FREE: 1,
    Plan.PLUS: 1,
    Plan.PRO: 2,
    Plan.ENTERPRISE: None,
}


async def check_room_for_mailbox(workspace: Workspace, member: Member) -> None:
    """Refuse (ConflictError) a mailbox the member's plan has no room for."""
    limit = MAILBOXES_PER_MEMBER[workspace.plan]
    if limit is None:
        return
    connected = await Mailbox.filter(owner=member, provider__in=SYNCED_PROVIDERS).count()
    if connected >= limit:
        raise ConflictError(
            f"{member.email} already has {connected} connected mailbox(es), the most the "
            f"{workspace.plan} plan allows",
            workspace=workspace.slug,
        )
