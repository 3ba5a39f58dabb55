"""What every stored row shares: a time-ordered UUID key and provenance for resolver records."""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model
from uuid_utils.compat import uuid7


class Entity(Model):
    """A row with a UUIDv7 key, generated here so that batches can be inserted in one statement
    with their keys already known, and so that keys reveal nothing about other workspaces."""

    id = fields.UUIDField(primary_key=True, default=uuid7)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        abstract = True


class Origin(StrEnum):
    """Who made a record."""

    HAND = "HAND"  # a member, through the API or CLI; the resolver never overwrites it
    RESOLVER = "RESOLVER"  # the resolver, from a message or event
    MERGE = "MERGE"  # carried over from a person or company merged into this one


class Provenance(Entity):
    """Why a record exists: who made it, by which rule, from which message and mailbox."""

    origin = fields.CharEnumField(Origin, max_length=16, default=Origin.HAND)
    origin_rule = fields.CharField(max_length=64, null=True)
    origin_message_id = fields.UUIDField(null=True)
    origin_event_id = fields.UUIDField(null=True)
    origin_mailbox_id = fields.UUIDField(null=True)

    class Meta:
        abstract = True
