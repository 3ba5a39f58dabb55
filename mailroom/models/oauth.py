"""A consent under way: what an OAuth `state` stands for until the provider sends the browser
back (or ten minutes pass). The state itself is never stored, only its digest, and the PKCE
verifier is sealed by the vault: reading the table does not let anyone finish a connection."""

from __future__ import annotations

from uuid import UUID

from tortoise import fields

from mailroom.choices import Provider
from mailroom.models.base import Entity
from mailroom.models.mailbox import Mailbox
from mailroom.models.workspace import Member, Workspace


class OAuthState(Entity):
    # SHA-256 of the state sent to the provider, hex.
    digest = fields.CharField(max_length=64, unique=True)
    provider = fields.CharEnumField(Provider, max_length=16)
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name=False, on_delete=fields.CASCADE
    )
    member_id: UUID
    # Set when reconnecting: the consent may only renew this mailbox.
    mailbox: fields.ForeignKeyNullableRelation[Mailbox] = fields.ForeignKeyField(
        "models.Mailbox", related_name=False, null=True, on_delete=fields.CASCADE
    )
    mailbox_id: UUID | None
    verifier = fields.TextField()  # the PKCE code verifier, sealed
    expires_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "oauth_state"
