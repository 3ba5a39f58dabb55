"""A mailbox: one source of a member's mail (an import, the forwarding address, IMAP, ...)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise import fields

from mailroom.models.base import Entity
from mailroom.models.workspace import Member, Workspace


class Provider(StrEnum):
    IMPORT = "IMPORT"
    FORWARDING = "FORWARDING"
    IMAP = "IMAP"
    GMAIL = "GMAIL"
    MICROSOFT = "MICROSOFT"


class MailboxStatus(StrEnum):
    PENDING = "PENDING"
    SYNCING = "SYNCING"
    ACTIVE = "ACTIVE"
    NEEDS_REAUTH = "NEEDS_REAUTH"
    FAILED = "FAILED"


class Sharing(StrEnum):
    """How much of a mailbox's mail other members see, least first."""

    METADATA = "METADATA"
    SUBJECT = "SUBJECT"
    FULL = "FULL"


class Mailbox(Entity):
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name="mailboxes", on_delete=fields.CASCADE
    )
    workspace_id: UUID
    owner: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name="mailboxes", on_delete=fields.CASCADE
    )
    owner_id: UUID
    provider = fields.CharEnumField(Provider, max_length=16)
    address = fields.CharField(max_length=320)
    status = fields.CharEnumField(MailboxStatus, max_length=16, default=MailboxStatus.PENDING)
    default_sharing = fields.CharEnumField(Sharing, max_length=16, default=Sharing.METADATA)
    # Provider-specific position (IMAP folders' UIDVALIDITY and last UID, a Gmail historyId...).
    cursor: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    progress_total = fields.IntField(default=0)
    progress_done = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    last_error_at = fields.DatetimeField(null=True)
    last_synced_at = fields.DatetimeField(null=True)

    class Meta:
        table = "mailbox"
        unique_together = (("workspace", "provider", "address"),)
