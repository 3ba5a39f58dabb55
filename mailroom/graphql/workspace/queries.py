"""Who am I, my workspace, its mailboxes."""

from __future__ import annotations

import strawberry

from mailroom.graphql.context import Info
from mailroom.graphql.workspace.types import MailboxType, MemberType, WorkspaceType
from mailroom.workspace import mailboxes_of


@strawberry.type
class WorkspaceQueries:
    @strawberry.field
    def me(self, info: Info) -> MemberType:
        return MemberType.of(info.context.member)

    @strawberry.field
    def workspace(self, info: Info) -> WorkspaceType:
        return WorkspaceType.of(info.context.workspace)

    @strawberry.field
    async def mailboxes(self, info: Info) -> list[MailboxType]:
        return [MailboxType.of(m) for m in await mailboxes_of(info.context.workspace.id)]
