"""A mailbox: one source of a member's mail (an import, the forwarding address, IMAP, ...)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise import fields

from mailroom.choices import Provider as Provider  # re-exported, as the migrations name it
from mailroom.models.base import Entity
from mailroom.models.workspace import Member, Workspace


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
    # How to reach the provider (IMAP host, port, security, username); never a secret.
    connection: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    # Password or tokens, encrypted by the vault (never stored in clear).
    credentials = fields.TextField(null=True)
    # The last reconciliation (`sources/reconciliation.py`): when, the counts, the first keys.
    reconciliation: fields.Field[dict[str, Any] | None] = fields.JSONField(null=True)
    # Consecutive failures, for the retry backoff.
    failures = fields.IntField(default=0)
    # Which process syncs the mailbox, until when: one sync per mailbox at a time, whatever
    # the number of processes.
    lease_owner = fields.CharField(max_length=64, null=True)
    lease_until = fields.DatetimeField(null=True)

    class Meta:
        table = "mailbox"
        unique_together = (("workspace", "provider", "address"),)


class FolderCursor(Entity):
    """How far a mailbox's folder is synced: IMAP's UIDVALIDITY, the last UID stored, the
    HIGHESTMODSEQ seen (CONDSTORE), and the first sync's progress."""

    mailbox: fields.ForeignKeyRelation[Mailbox] = fields.ForeignKeyField(
        "models.Mailbox", related_name="folders", on_delete=fields.CASCADE
    )
    mailbox_id: UUID
    folder = fields.CharField(max_length=512)
    role = fields.CharField(max_length=16)  # inbox, sent, all, archive
    uidvalidity = fields.BigIntField(null=True)
    last_uid = fields.BigIntField(default=0)
    highestmodseq = fields.BigIntField(null=True)
    # The first sync goes newest first: it has stored every UID from `low_uid` to `last_uid`
    # and is done when `low_uid` reaches the first message (None: not started).
    low_uid = fields.BigIntField(null=True)
    total = fields.IntField(default=0)
    done = fields.IntField(default=0)
    synced_at = fields.DatetimeField(null=True)

    class Meta:
        table = "folder_cursor"
        unique_together = (("mailbox", "folder"),)


class ProviderItem(Entity):
    """A message as one mailbox's provider knows it (IMAP: folder, UIDVALIDITY and UID), so
    that a deletion there removes the right copy."""

    mailbox: fields.ForeignKeyRelation[Mailbox] = fields.ForeignKeyField(
        "models.Mailbox", related_name="items", on_delete=fields.CASCADE
    )
    mailbox_id: UUID
    item = fields.CharField(max_length=600)  # the provider's key, unique in the mailbox
    folder = fields.CharField(max_length=512, null=True)
    uidvalidity = fields.BigIntField(null=True)
    uid = fields.BigIntField(null=True)
    message: fields.ForeignKeyRelation[Any] = fields.ForeignKeyField(
        "models.Message", related_name=False, db_index=True, on_delete=fields.CASCADE
    )
    message_id: UUID

    class Meta:
        table = "provider_item"
        unique_together = (("mailbox", "item"),)
        indexes = (("mailbox_id", "folder", "uid"),)
