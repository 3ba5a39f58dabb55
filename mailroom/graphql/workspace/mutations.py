"""Workspace settings: the record creation mode and the blocklist, for admins."""

from __future__ import annotations

from typing import Annotated

import strawberry
from tortoise.exceptions import IntegrityError

from mailroom.graphql.context import Info
from mailroom.graphql.errors import Conflict, Forbidden, InvalidInput, NotFound
from mailroom.graphql.ids import parse_id
from mailroom.graphql.workspace.types import (
    BlocklistEntryType,
    RecordCreationModeType,
    WorkspaceType,
)
from mailroom.models import BlockKind, BlocklistEntry, RecordCreationMode
from mailroom.parsing.addresses.lists import normalize_address
from mailroom.parsing.addresses.owners import registrable_domain

ADMINS_ONLY = "only an admin of the workspace may change this"

SetModeResult = Annotated[WorkspaceType | Forbidden, strawberry.union("SetModeResult")]
BlocklistResult = Annotated[
    BlocklistEntryType | Forbidden | InvalidInput | Conflict, strawberry.union("BlocklistResult")
]
RemoveResult = Annotated[
    BlocklistEntryType | Forbidden | NotFound, strawberry.union("RemoveBlocklistResult")
]


@strawberry.type
class WorkspaceMutations:
    @strawberry.mutation
    async def set_record_creation_mode(
        self, info: Info, mode: RecordCreationModeType
    ) -> SetModeResult:
        """Not retroactive: it decides what new mail makes."""
        if not info.context.is_admin:
            return Forbidden(message=ADMINS_ONLY)
        workspace = info.context.workspace
        workspace.record_creation_mode = RecordCreationMode(mode.value)
        await workspace.save(update_fields=["record_creation_mode"])
        return WorkspaceType.of(workspace)

    @strawberry.mutation
    async def add_blocklist_entry(self, info: Info, value: str) -> BlocklistResult:
        """An address, or a domain (which covers its subdomains)."""
        if not info.context.is_admin:
            return Forbidden(message=ADMINS_ONLY)
        entry = _entry(value)
        if entry is None:
            return InvalidInput(message=f"{value!r} is neither an email address nor a domain")
        kind, normalized = entry
        try:
            row = await BlocklistEntry.create(
                workspace=info.context.workspace,
                kind=kind,
                value=normalized,
                created_by=info.context.member,
            )
        except IntegrityError:
            return Conflict(message=f"{normalized} is already blocklisted")
        return BlocklistEntryType.of(row)

    @strawberry.mutation
    async def remove_blocklist_entry(self, info: Info, id: strawberry.ID) -> RemoveResult:  # noqa: A002
        if not info.context.is_admin:
            return Forbidden(message=ADMINS_ONLY)
        row = await BlocklistEntry.get_or_none(workspace=info.context.workspace, id=parse_id(id))
        if row is None:
            return NotFound()
        await row.delete()
        return BlocklistEntryType.of(row)


def _entry(value: str) -> tuple[BlockKind, str] | None:
    text = value.strip().lower()
    if "@" in text:
        address = normalize_address(text)
        return (BlockKind.ADDRESS, address) if address else None
    domain = text.lstrip("@.")
    return (BlockKind.DOMAIN, domain) if registrable_domain(domain) else None
