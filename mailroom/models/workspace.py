"""The workspace aggregate: the tenant, its members, their API tokens and its blocklist."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from tortoise import fields

# Re-exported: the migrations and `mailroom.models` name them from here.
from mailroom.choices import Plan as Plan
from mailroom.choices import RecordCreationMode as RecordCreationMode
from mailroom.choices import SenderPolicy as SenderPolicy
from mailroom.models.base import Entity


class MemberRole(StrEnum):
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"


class BlockKind(StrEnum):
    ADDRESS = "ADDRESS"
    DOMAIN = "DOMAIN"


class Workspace(Entity):
    slug = fields.CharField(max_length=64, unique=True)
    name = fields.CharField(max_length=200)
    plan = fields.CharEnumField(Plan, max_length=16, default=Plan.FREE)
    record_creation_mode = fields.CharEnumField(
        RecordCreationMode, max_length=16, default=RecordCreationMode.SELECTIVE
    )
    sender_policy = fields.CharEnumField(SenderPolicy, max_length=16, default=SenderPolicy.VERIFIED)

    class Meta:
        table = "workspace"


class Member(Entity):
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="members", on_delete=fields.CASCADE
    )
    workspace_id: UUID
    email = fields.CharField(max_length=320)
    # Other addresses the member sends from; normalized like `email`.
    aliases: fields.Field[list[str]] = fields.JSONField(default=list)
    role = fields.CharEnumField(MemberRole, max_length=16, default=MemberRole.MEMBER)
    name = fields.CharField(max_length=200, null=True)
    # The secret part of the member's personal forwarding address (slug+TOKEN@mail domain).
    forwarding_token = fields.CharField(max_length=64, unique=True, null=True)

    class Meta:
        table = "member"
        unique_together = (("workspace", "email"),)

    @property
    def addresses(self) -> set[str]:
        return self.addresses_of(self.email, self.aliases)

    @staticmethod
    def addresses_of(email: str, aliases: list[str]) -> set[str]:
        return {email, *aliases}


class ApiToken(Entity):
    """A bearer token. Only its SHA-256 is stored, the token itself is shown once."""

    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="tokens", on_delete=fields.CASCADE
    )
    workspace_id: UUID
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="tokens", on_delete=fields.CASCADE
    )
    member_id: UUID
    token_hash = fields.CharField(max_length=64, unique=True)
    prefix = fields.CharField(max_length=16)
    last_used_at = fields.DatetimeField(null=True)
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "api_token"


class BlocklistEntry(Entity):
    """An address or a domain (covering its subdomains) that never makes records and whose mail
    is hidden from everyone but its owners."""

    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="blocklist", on_delete=fields.CASCADE
    )
    workspace_id: UUID
    kind = fields.CharEnumField(BlockKind, max_length=16)
    value = fields.CharField(max_length=320)
    created_by: fields.ForeignKeyNullableRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    created_by_id: UUID | None

    class Meta:
        table = "blocklist_entry"
        unique_together = (("workspace", "kind", "value"),)
