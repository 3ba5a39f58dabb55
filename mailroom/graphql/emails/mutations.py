"""Sharing a thread beyond its mailboxes' default: with the workspace or named members.

A share covers the sharer's own copies of the thread's messages and nothing else (see
`visibility`); each member's shares of a thread are their own, taken back by them alone."""

from __future__ import annotations

from typing import Annotated

import strawberry

from mailroom.graphql.context import Info
from mailroom.graphql.emails.types import ThreadType
from mailroom.graphql.errors import Forbidden, InvalidInput, NotFound
from mailroom.graphql.ids import parse_id
from mailroom.graphql.workspace.types import SharingLevel
from mailroom.models import Member, MessageCopy, Sharing, Thread, ThreadShare

ShareResult = Annotated[
    ThreadType | NotFound | Forbidden | InvalidInput, strawberry.union("ShareResult")
]


@strawberry.type
class EmailMutations:
    @strawberry.mutation
    async def share_thread(
        self,
        info: Info,
        thread: strawberry.ID,
        level: SharingLevel,
        members: list[strawberry.ID] | None = None,
    ) -> ShareResult:
        """Share your own copies of the thread's messages with the whole workspace, or with
        `members`: what other members wrote into the thread stays as they share it."""
        row, refusal = await _own_thread(info, thread)
        if row is None:
            return refusal or NotFound()
        targets = await _members(info, members)
        if targets is None:
            return InvalidInput(message="a member to share with is not in this workspace")
        for member_id in targets:
            await ThreadShare.update_or_create(
                workspace=info.context.workspace,
                thread=row,
                member_id=member_id,
                shared_by=info.context.member,
                defaults={"level": Sharing(level.value)},
            )
        return ThreadType.of(row)

    @strawberry.mutation
    async def unshare_thread(
        self, info: Info, thread: strawberry.ID, members: list[strawberry.ID] | None = None
    ) -> ShareResult:
        """Take back your share with the workspace (no `members`) or with the members named."""
        row, refusal = await _own_thread(info, thread)
        if row is None:
            return refusal or NotFound()
        targets = await _members(info, members)
        if targets is None:
            return InvalidInput(message="a member is not in this workspace")
        for member_id in targets:
            await ThreadShare.filter(
                thread=row, member_id=member_id, shared_by=info.context.member
            ).delete()
        return ThreadType.of(row)


async def _own_thread(info: Info, thread: strawberry.ID) -> tuple[Thread | None, Forbidden | None]:
    row = await Thread.get_or_none(workspace=info.context.workspace, id=parse_id(thread))
    if row is None:
        return None, None
    holds = await MessageCopy.filter(
        workspace_id=info.context.workspace.id,
        message__thread_id=row.id,
        mailbox__owner_id=info.context.member.id,
    ).exists()
    if not holds:
        return None, Forbidden(message="only a member whose mailbox holds the thread may share it")
    return row, None


async def _members(info: Info, members: list[strawberry.ID] | None) -> list[object] | None:
    """None (the workspace) as a list of one, or the members' ids; None if one is unknown."""
    if members is None:
        return [None]
    ids = [parse_id(m) for m in members]
    found = await Member.filter(workspace=info.context.workspace, id__in=ids).count()
    return list(ids) if found == len(set(ids)) else None
