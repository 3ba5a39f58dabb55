"""The message aggregate: raw bytes, the message, its copies, participants and attachments."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise import fields

from mailroom.envelope import Role
from mailroom.models.base import Entity
from mailroom.models.mailbox import Mailbox, Sharing
from mailroom.models.workspace import Workspace


class Direction(StrEnum):
    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"


# A participant's role is the header its address was found in: the envelope's own enum, one
# for both (the name is kept for the migrations that import it from here).
ParticipantRole = Role


class RawMessage(Entity):
    """The bytes exactly as they arrived, stored before anything parses them."""

    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    sha256 = fields.CharField(max_length=64)
    size = fields.BigIntField()
    data = fields.BinaryField()

    class Meta:
        table = "raw_message"
        unique_together = (("workspace", "sha256"),)


class Thread(Entity):
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    subject = fields.TextField(null=True)
    normalized_subject = fields.CharField(max_length=255, default="")
    first_message_at = fields.DatetimeField(null=True)
    last_message_at = fields.DatetimeField(null=True)
    message_count = fields.IntField(default=0)

    class Meta:
        table = "thread"
        indexes = (("workspace_id", "normalized_subject"), ("workspace_id", "last_message_at"))


class ThreadKey(Entity):
    """Maps a Message-ID, seen or only referenced, to its thread.

    Referenced-but-unseen ids are kept too (jwz's empty containers): a message that arrives
    later joins the thread its replies already started. `key` is a digest of the id so that the
    index stays narrow whatever the senders put in their headers.
    """

    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    key = fields.CharField(max_length=32)
    thread: fields.ForeignKeyRelation[Thread] = fields.ForeignKeyField(
        "models.Thread", related_name="keys", db_index=True, on_delete=fields.CASCADE
    )
    thread_id: UUID

    class Meta:
        table = "thread_key"
        unique_together = (("workspace", "key"),)


class Message(Entity):
    """One message per workspace, however many mailboxes saw it.

    `dedupe_key` is `m:` + a digest of the Message-ID, or `c:` + a digest of the content when the
    message has none, each digested together with what the message shows (subject, bodies,
    attachments): a sighting with the same id but other content is another message.
    """

    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    dedupe_key = fields.CharField(max_length=66)
    # The Message-ID header (every other `*_id` here is a key of a row).
    internet_message_id = fields.TextField(null=True)
    raw_message: fields.ForeignKeyRelation[RawMessage] = fields.ForeignKeyField(
        "models.RawMessage", related_name=False, on_delete=fields.RESTRICT
    )
    raw_message_id: UUID
    thread: fields.ForeignKeyNullableRelation[Thread] = fields.ForeignKeyField(
        "models.Thread",
        related_name="messages",
        db_index=True,
        null=True,
        on_delete=fields.SET_NULL,
    )
    thread_id: UUID | None
    subject = fields.TextField(null=True)
    normalized_subject = fields.CharField(max_length=255, default="")
    sent_at = fields.DatetimeField()
    # Minutes east of UTC as written in the Date header, so the sender's local time can be shown.
    utc_offset = fields.SmallIntField(default=0)
    date_source = fields.CharField(max_length=16)
    in_reply_to = fields.TextField(null=True)
    references: fields.Field[list[str]] = fields.JSONField(default=list)
    text = fields.TextField(null=True)
    html = fields.TextField(null=True)
    snippet = fields.CharField(max_length=200, default="")
    has_attachments = fields.BooleanField(default=False)
    list_id = fields.CharField(max_length=255, null=True)
    bulk = fields.BooleanField(default=False)
    bulk_signals: fields.Field[list[str]] = fields.JSONField(default=list)
    calendar: fields.Field[list[dict[str, Any]]] = fields.JSONField(default=list)
    defects: fields.Field[list[str]] = fields.JSONField(default=list)
    size = fields.BigIntField(default=0)

    class Meta:
        table = "message"
        unique_together = (("workspace", "dedupe_key"),)
        indexes = (("workspace_id", "sent_at"), ("thread_id", "sent_at"))


class MessageCopy(Entity):
    """A mailbox's (or source's) sighting of a message."""

    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    message: fields.ForeignKeyRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="copies", db_index=True, on_delete=fields.CASCADE
    )
    message_id: UUID
    mailbox: fields.ForeignKeyRelation[Mailbox] = fields.ForeignKeyField(
        "models.Mailbox", related_name="copies", on_delete=fields.CASCADE
    )
    mailbox_id: UUID
    # The bytes this copy came with; the same as those of the message unless relays added headers.
    raw_message: fields.ForeignKeyRelation[RawMessage] = fields.ForeignKeyField(
        "models.RawMessage", related_name=False, on_delete=fields.RESTRICT
    )
    raw_message_id: UUID
    direction = fields.CharEnumField(Direction, max_length=16)
    provider_id = fields.CharField(max_length=512, null=True)
    provider_thread_id = fields.CharField(max_length=255, null=True)
    folder = fields.CharField(max_length=255, null=True)
    labels: fields.Field[list[str]] = fields.JSONField(default=list)

    class Meta:
        table = "message_copy"
        unique_together = (("mailbox", "message"),)
        indexes = (("mailbox_id", "provider_id"), ("mailbox_id", "provider_thread_id"))


class Participant(Entity):
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    message: fields.ForeignKeyRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="participants", db_index=True, on_delete=fields.CASCADE
    )
    message_id: UUID
    role = fields.CharEnumField(Role, max_length=16)
    position = fields.SmallIntField(default=0)
    address = fields.CharField(max_length=320)
    # The address's registrable domain: a company's mail is found by it, person or not.
    domain = fields.CharField(max_length=255, default="")
    name = fields.TextField(null=True)
    person: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Person", related_name="participations", null=True, on_delete=fields.SET_NULL
    )
    person_id: UUID | None
    # The message's sent_at, copied here so that a person's or a domain's latest mail is one
    # backward walk of an index, without reading the (large) message rows to sort them.
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "participant"
        indexes = (
            ("workspace_id", "address", "sent_at"),
            ("person_id", "sent_at", "message_id"),
            ("workspace_id", "domain", "sent_at", "message_id"),
        )


class Attachment(Entity):
    message: fields.ForeignKeyRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="attachments", db_index=True, on_delete=fields.CASCADE
    )
    message_id: UUID
    position = fields.SmallIntField(default=0)
    filename = fields.TextField(null=True)
    content_type = fields.CharField(max_length=255)
    size = fields.BigIntField()
    sha256 = fields.CharField(max_length=64)
    inline = fields.BooleanField(default=False)
    content_id = fields.CharField(max_length=255, null=True)

    class Meta:
        table = "attachment"


class PendingIngest(Entity):
    """Bytes that are stored but not yet processed into a message.

    Written in the same transaction as the raw bytes and deleted in the one that stores the
    message, so whatever was acknowledged and then interrupted is found again at start.
    """

    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    mailbox: fields.ForeignKeyRelation[Mailbox] = fields.ForeignKeyField(
        "models.Mailbox", related_name=False, on_delete=fields.CASCADE
    )
    mailbox_id: UUID
    raw_message: fields.ForeignKeyRelation[RawMessage] = fields.ForeignKeyField(
        "models.RawMessage", related_name=False, on_delete=fields.CASCADE
    )
    raw_message_id: UUID
    facts: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(null=True)

    class Meta:
        table = "pending_ingest"


class ThreadShare(Entity):
    """A member's share of their own copies of a thread's messages beyond their mailboxes'
    default sharing: with the whole workspace (no member) or with one member, at a level.

    It raises only the messages that `shared_by` holds: a thread may hold other members' mail
    too (anyone can join a thread by naming its Message-IDs), and that is never theirs to
    share."""

    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    thread: fields.ForeignKeyRelation[Thread] = fields.ForeignKeyField(
        "models.Thread", related_name="shares", db_index=True, on_delete=fields.CASCADE
    )
    thread_id: UUID
    member: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Member", related_name=False, null=True, on_delete=fields.CASCADE
    )
    member_id: UUID | None
    level = fields.CharEnumField(Sharing, max_length=16)
    shared_by: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Member", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    shared_by_id: UUID | None

    class Meta:
        table = "thread_share"
        unique_together = (("thread", "member", "shared_by"),)
