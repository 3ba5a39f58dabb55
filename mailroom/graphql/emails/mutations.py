"""Sharing a thread beyond its mailboxes' default: with the workspace or named members. Who may,
and what a share covers, is the service layer's (`workspace.sharing`)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import strawberry

from mailroom.graphql.context import Info
from mailroom.graphql.errors import Forbidden, InvalidInput, NotFound, mutation
from mailroom.graphql.ids import parse_id
from mailroom.graphql.nodes import ThreadType
from mailroom.graphql.workspace.types import SharingLevel
from mailroom.models import Sharing
from mailroom.workspace import share_thread, unshare_thread

ShareResult = Annotated[
    ThreadType | NotFound | Forbidden | InvalidInput, strawberry.union("ShareResult")
]


@strawberry.type
class EmailMutations:
    @mutation
    async def share_thread(
        self,
        info: Info,
        thread: strawberry.ID,
        level: SharingLevel,
        members: list[strawberry.ID] | None = None,
    ) -> ShareResult:
        """Share your own copies of the thread's messages with the whole workspace, or with
        `members`: what other members wrote into the thread stays as they share it."""
        context = info.context
        row = await share_thread(
            context.member,
            context.workspace,
            parse_id(thread),
            Sharing(level.value),
            _ids(members),
        )
        return ThreadType.of(row)

    @mutation
    async def unshare_thread(
        self, info: Info, thread: strawberry.ID, members: list[strawberry.ID] | None = None
    ) -> ShareResult:
        """Take back your share with the workspace (no `members`) or with the members named."""
        context = info.context
        row = await unshare_thread(
            context.member, context.workspace, parse_id(thread), _ids(members)
        )
        return ThreadType.of(row)


def _ids(members: list[strawberry.ID] | None) -> list[UUID] | None:
    return [parse_id(m) for m in members] if members is not None else None
