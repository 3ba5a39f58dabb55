"""The workspace's members and their API tokens, for admins: adding and removing members, making
tokens (each shown once) and revoking them; a member may revoke their own. Who may is the
service layer's rule, the same as the command line's."""

from __future__ import annotations

from typing import Annotated

import strawberry

from mailroom.graphql.context import Info
from mailroom.graphql.errors import Conflict, Forbidden, InvalidInput, NotFound, mutation
from mailroom.graphql.ids import parse_id
from mailroom.graphql.workspace.types import ApiTokenType, MemberType
from mailroom.workspace import (
    add_member,
    issue_token,
    member_by_id,
    remove_member,
    revoke_token,
    token_by_id,
    workspace_member,
)


@strawberry.input
class MemberInput:
    email: str
    admin: bool = False
    name: str | None = None
    aliases: list[str] = strawberry.field(
        default_factory=list, description="Other addresses the member sends from."
    )


@strawberry.type
class RemovedMember:
    id: strawberry.ID
    email: str
    mailboxes_removed: int
    messages_removed: int = strawberry.field(
        description="The mail only their mailboxes had; people and companies stay."
    )


@strawberry.type
class CreatedApiToken:
    token: str = strawberry.field(description="Shown this once: only its hash is kept.")
    api_token: ApiTokenType


AddMemberResult = Annotated[
    MemberType | Forbidden | InvalidInput | Conflict, strawberry.union("AddMemberResult")
]
RemoveMemberResult = Annotated[
    RemovedMember | Forbidden | NotFound | Conflict, strawberry.union("RemoveMemberResult")
]
CreateApiTokenResult = Annotated[
    CreatedApiToken | Forbidden | NotFound, strawberry.union("CreateApiTokenResult")
]
RevokeApiTokenResult = Annotated[
    ApiTokenType | Forbidden | NotFound, strawberry.union("RevokeApiTokenResult")
]


@strawberry.type
class MemberMutations:
    @mutation
    async def add_member(self, info: Info, input: MemberInput) -> AddMemberResult:  # noqa: A002
        context = info.context
        member = await add_member(
            context.workspace,
            input.email,
            admin=input.admin,
            aliases=input.aliases,
            name=input.name,
            by=context.actor,
        )
        return MemberType.of(member)

    @mutation
    async def remove_member(self, info: Info, member: strawberry.ID) -> RemoveMemberResult:
        """Each of their mailboxes goes as `removeMailbox` removes one; their tokens stop
        working; the last admin stays."""
        context = info.context
        row = await workspace_member(context.workspace, parse_id(member))
        removed = await remove_member(context.actor, context.workspace, row)
        return RemovedMember(
            id=strawberry.ID(str(row.id)),
            email=row.email,
            mailboxes_removed=removed.mailboxes,
            messages_removed=removed.messages,
        )

    @mutation
    async def create_api_token(self, info: Info, member: strawberry.ID) -> CreateApiTokenResult:
        context = info.context
        holder = await workspace_member(context.workspace, parse_id(member))
        issued = await issue_token(context.actor, holder)
        return CreatedApiToken(token=issued.token, api_token=ApiTokenType.of(issued.row, holder))

    @mutation
    async def revoke_api_token(self, info: Info, id: strawberry.ID) -> RevokeApiTokenResult:  # noqa: A002
        """Refused from the next request on."""
        context = info.context
        row = await token_by_id(context.workspace, parse_id(id))
        revoked = await revoke_token(context.actor, context.workspace, row)
        holder = await member_by_id(context.workspace.id, revoked.member_id)
        assert holder is not None  # a member's tokens go with the member
        return ApiTokenType.of(revoked, holder)
