"""The workspace, its members, their API tokens, its mailboxes and blocklist, as the API shows
them."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any
from uuid import UUID

import strawberry
from strawberry.permission import PermissionExtension

from mailroom.graphql.context import Info
from mailroom.graphql.permissions import IsAdmin, IsAdminOrMailboxOwner
from mailroom.models import ApiToken, BlocklistEntry, Mailbox, Member, Workspace
from mailroom.workspace import (
    blocklist_of,
    member_by_id,
    members_of,
    stored_messages,
    tokens_of,
)


@strawberry.enum(name="RecordCreationMode")
class RecordCreationModeType(Enum):
    ALL = "ALL"
    SELECTIVE = "SELECTIVE"
    NONE = "NONE"


@strawberry.enum(
    name="SenderPolicy",
    description="How the forwarding gateway decides that mail comes from a member: VERIFIED, "
    "it must pass DKIM or SPF aligned with its From; ADDRESS_ONLY, the From address is enough "
    "(behind the operator's own mail server).",
)
class SenderPolicyType(Enum):
    VERIFIED = "VERIFIED"
    ADDRESS_ONLY = "ADDRESS_ONLY"


@strawberry.enum(name="SharingLevel")
class SharingLevel(Enum):
    METADATA = "METADATA"
    SUBJECT = "SUBJECT"
    FULL = "FULL"


@strawberry.type(name="Member")
class MemberType:
    id: strawberry.ID
    email: str
    aliases: list[str]
    role: str
    name: str | None

    @classmethod
    def of(cls, row: Member) -> MemberType:
        return cls(
            id=strawberry.ID(str(row.id)),
            email=row.email,
            aliases=list(row.aliases),
            role=row.role.value,
            name=row.name,
        )


@strawberry.type(name="ApiToken")
class ApiTokenType:
    """A token's record; the token itself is shown once, when it is made, and never kept."""

    id: strawberry.ID
    prefix: str = strawberry.field(description="The token's first characters.")
    member: MemberType
    created_at: datetime
    last_used_at: datetime | None = strawberry.field(
        description="To within a quarter of an hour; null if never used."
    )

    @classmethod
    def of(cls, row: ApiToken, member: Member) -> ApiTokenType:
        return cls(
            id=strawberry.ID(str(row.id)),
            prefix=row.prefix,
            member=MemberType.of(member),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
        )


@strawberry.type(name="Progress")
class ProgressType:
    done: int
    total: int


@strawberry.type(
    name="Reconciliation",
    description="What the provider held against what was stored, when last compared "
    "(`mailroom mailbox reconcile`).",
)
class ReconciliationType:
    at: datetime
    provider: int
    stored: int
    missing: int
    extra: int
    repaired: bool
    items: strawberry.Private[tuple[list[str], list[str]]]
    owner_id: strawberry.Private[UUID]  # the mailbox's, for IsAdminOrMailboxOwner

    @strawberry.field(
        extensions=[PermissionExtension([IsAdminOrMailboxOwner()], fail_silently=True)],
        description="The provider's keys of the messages missing (at most 1,000); null unless "
        "you are an admin or the mailbox's owner.",
    )  # type: ignore[untyped-decorator]
    def missing_items(self) -> list[str] | None:
        return self.items[0]

    @strawberry.field(
        extensions=[PermissionExtension([IsAdminOrMailboxOwner()], fail_silently=True)],
        description="The provider's keys of the messages extra (at most 1,000); null unless "
        "you are an admin or the mailbox's owner.",
    )  # type: ignore[untyped-decorator]
    def extra_items(self) -> list[str] | None:
        return self.items[1]

    @classmethod
    def of(cls, found: dict[str, Any], owner_id: UUID) -> ReconciliationType:
        return cls(
            at=datetime.fromisoformat(found["at"]),
            provider=int(found["provider"]),
            stored=int(found["stored"]),
            missing=int(found["missing"]),
            extra=int(found["extra"]),
            repaired=bool(found.get("repaired")),
            items=(list(found.get("missing_items", [])), list(found.get("extra_items", []))),
            owner_id=owner_id,
        )


@strawberry.type(name="Mailbox")
class MailboxType:
    id: strawberry.ID
    address: str
    provider: str
    status: str
    default_sharing: SharingLevel
    last_synced_at: datetime | None
    progress: ProgressType
    owner_id: strawberry.Private[UUID]
    row_id: strawberry.Private[UUID]
    error: strawberry.Private[tuple[str | None, datetime | None]]

    @strawberry.field(
        extensions=[PermissionExtension([IsAdminOrMailboxOwner()], fail_silently=True)],
        description="Null unless you are an admin or the mailbox's owner.",
    )  # type: ignore[untyped-decorator]
    def last_error(self) -> str | None:
        return self.error[0]

    @strawberry.field(
        extensions=[PermissionExtension([IsAdminOrMailboxOwner()], fail_silently=True)],
        description="Null unless you are an admin or the mailbox's owner.",
    )  # type: ignore[untyped-decorator]
    def last_error_at(self) -> datetime | None:
        return self.error[1]

    @strawberry.field(description="The last reconciliation, if one was made.")  # type: ignore[untyped-decorator]
    async def last_reconciliation(self) -> ReconciliationType | None:
        row = await Mailbox.get_or_none(id=self.row_id).only("id", "reconciliation")
        found = row.reconciliation if row is not None else None
        return ReconciliationType.of(found, self.owner_id) if found else None

    @strawberry.field
    async def owner(self, info: Info) -> MemberType | None:
        member = await member_by_id(info.context.workspace.id, self.owner_id)
        return MemberType.of(member) if member is not None else None

    @strawberry.field
    async def messages(self) -> int:
        return await stored_messages(self.row_id)

    @classmethod
    def of(cls, row: Mailbox) -> MailboxType:
        return cls(
            id=strawberry.ID(str(row.id)),
            address=row.address,
            provider=row.provider.value,
            status=row.status.value,
            default_sharing=SharingLevel(row.default_sharing.value),
            error=(row.last_error, row.last_error_at),
            last_synced_at=row.last_synced_at,
            progress=ProgressType(done=row.progress_done, total=row.progress_total),
            owner_id=row.owner_id,
            row_id=row.id,
        )


@strawberry.type(name="BlocklistEntry")
class BlocklistEntryType:
    id: strawberry.ID
    kind: str
    value: str

    @classmethod
    def of(cls, row: BlocklistEntry) -> BlocklistEntryType:
        return cls(id=strawberry.ID(str(row.id)), kind=row.kind.value, value=row.value)


@strawberry.type(name="Workspace")
class WorkspaceType:
    id: strawberry.ID
    slug: str
    name: str
    plan: str
    record_creation_mode: RecordCreationModeType
    sender_policy: SenderPolicyType

    @strawberry.field
    async def members(self, info: Info) -> list[MemberType]:
        return [MemberType.of(m) for m in await members_of(info.context.workspace.id)]

    @strawberry.field(permission_classes=[IsAdmin], description="For admins only.")  # type: ignore[untyped-decorator]
    async def blocklist(self, info: Info) -> list[BlocklistEntryType] | None:
        return [BlocklistEntryType.of(b) for b in await blocklist_of(info.context.workspace.id)]

    @strawberry.field(  # type: ignore[untyped-decorator]
        permission_classes=[IsAdmin],
        description="The tokens that work, oldest first. For admins only.",
    )
    async def api_tokens(self, info: Info) -> list[ApiTokenType] | None:
        context = info.context
        rows = await tokens_of(context.actor, context.workspace)
        return [ApiTokenType.of(row, row.member) for row in rows]

    @classmethod
    def of(cls, row: Workspace) -> WorkspaceType:
        return cls(
            id=strawberry.ID(str(row.id)),
            slug=row.slug,
            name=row.name,
            plan=row.plan.value,
            record_creation_mode=RecordCreationModeType(row.record_creation_mode.value),
            sender_policy=SenderPolicyType(row.sender_policy.value),
        )
