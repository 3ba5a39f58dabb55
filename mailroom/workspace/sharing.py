"""Sharing beyond the visibility policy's defaults: a mailbox's default sharing level, set by its
owner, and a member's shares of a thread with the workspace or with named members.

A share covers the sharer's own copies of the thread's messages and nothing else (see
`visibility`); each member's shares of a thread are their own, taken back by them alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

from mailroom.errors import ForbiddenError, InvalidInputError
from mailroom.models import Mailbox, Member, MessageCopy, Sharing, Thread, ThreadShare, Workspace
from mailroom.workspace.actors import Actor, require_owner
from mailroom.workspace.store import in_workspace


async def set_mailbox_sharing(actor: Actor, mailbox: Mailbox, level: Sharing) -> Mailbox:
    """Only its owner may; it applies to the mail already synced too."""
    require_owner(actor, mailbox, "change its sharing")
    mailbox.default_sharing = level
    await mailbox.save(update_fields=["default_sharing"])
    return mailbox


async def share_thread(
    sharer: Member,
    workspace: Workspace,
    thread_id: UUID,
    level: Sharing,
    members: Sequence[UUID] | None = None,
) -> Thread:
    """Share the sharer's copies of the thread's messages with the whole workspace (`members`
    None) or with the members named: what others wrote into the thread stays as they share it."""
    thread = await _held_thread(sharer, workspace, thread_id)
    targets = await _targets(workspace, members, "a member to share with is not in this workspace")
    for member_id in targets:
        await ThreadShare.update_or_create(
            workspace=workspace,
            thread=thread,
            member_id=member_id,
            shared_by=sharer,
            defaults={"level": level},
        )
    return thread


async def unshare_thread(
    sharer: Member, workspace: Workspace, thread_id: UUID, members: Sequence[UUID] | None = None
) -> Thread:
    """Take back the sharer's share with the workspace (`members` None) or with those named."""
    thread = await _held_thread(sharer, workspace, thread_id)
    targets = await _targets(workspace, members, "a member is not in this workspace")
    for member_id in targets:
        await ThreadShare.filter(thread=thread, member_id=member_id, shared_by=sharer).delete()
    return thread


async def _held_thread(sharer: Member, workspace: Workspace, thread_id: UUID) -> Thread:
    """The thread, if the sharer's mailboxes hold a message of it: only then is it theirs to
    share."""
    thread = await in_workspace(Thread, workspace, thread_id)
    holds = await MessageCopy.filter(
        workspace_id=workspace.id, message__thread_id=thread.id, mailbox__owner_id=sharer.id
    ).exists()
    if not holds:
        raise ForbiddenError(
            "only a member whose mailbox holds the thread may share it", workspace=workspace.slug
        )
    return thread


async def _targets(
    workspace: Workspace, members: Sequence[UUID] | None, unknown: str
) -> list[UUID | None]:
    """None (the workspace) as a list of one, or the members' ids, all of this workspace."""
    if members is None:
        return [None]
    found = await Member.filter(workspace=workspace, id__in=list(members)).count()
    if found != len(set(members)):
        raise InvalidInputError(unknown, workspace=workspace.slug)
    return list(members)
