"""Workspace settings: the record creation mode, the sender policy and the blocklist (admins
only, as the service layer decides)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from mailroom.graphql.context import Info
from mailroom.graphql.errors import Conflict, Forbidden, InvalidInput, NotFound, mutation
from mailroom.graphql.ids import parse_id
from mailroom.graphql.workspace.types import (
    BlocklistEntryType,
    RecordCreationModeType,
    SenderPolicyType,
    WorkspaceType,
)
from mailroom.models import RecordCreationMode, SenderPolicy
from mailroom.workspace import (
    add_blocklist_entry,
    remove_blocklist_entry,
    set_record_creation_mode,
    set_sender_policy,
)

SetModeResult = Annotated[WorkspaceType | Forbidden, strawberry.union("SetModeResult")]
SetPolicyResult = Annotated[WorkspaceType | Forbidden, strawberry.union("SetSenderPolicyResult")]
BlocklistResult = Annotated[
    BlocklistEntryType | Forbidden | InvalidInput | Conflict, strawberry.union("BlocklistResult")
]
RemoveResult = Annotated[
    BlocklistEntryType | Forbidden | NotFound, strawberry.union("RemoveBlocklistResult")
]


@strawberry.type
class WorkspaceMutations:
    @mutation
    async def set_record_creation_mode(
        self, info: Info, mode: RecordCreationModeType
    ) -> SetModeResult:
        """Not retroactive: it decides what new mail makes."""
        context = info.context
        workspace = await set_record_creation_mode(
            context.actor, context.workspace, RecordCreationMode(mode.value)
        )
        return WorkspaceType.of(workspace)

    @mutation
    async def set_sender_policy(self, info: Info, policy: SenderPolicyType) -> SetPolicyResult:
        """How the forwarding gateway decides that mail comes from a member."""
        context = info.context
        workspace = await set_sender_policy(
            context.actor, context.workspace, SenderPolicy(policy.value)
        )
        return WorkspaceType.of(workspace)

    @mutation
    async def add_blocklist_entry(self, info: Info, value: str) -> BlocklistResult:
        """An address (sales@spam.com), a domain (spam.com, which covers its subdomains),
        @spam.com, or a web address (https://spam.com), of which the host counts."""
        context = info.context
        return BlocklistEntryType.of(
            await add_blocklist_entry(context.actor, context.workspace, value)
        )

    @mutation
    async def remove_blocklist_entry(self, info: Info, id: strawberry.ID) -> RemoveResult:  # noqa: A002
        context = info.context
        return BlocklistEntryType.of(
            await remove_blocklist_entry(context.actor, context.workspace, parse_id(id))
        )
