"""What relationship figures are kept from: each member's interactions with each contact, and
the connection score they add up to.

An interaction is one member's part in one message or meeting with one contact address, person
or not: a company's figures count the mail of its domain that made no person. The rows are
derived from messages, copies and events (resolver/interactions.py says how), so they can be
rebuilt at any time, and a test holds the kept figures equal to rebuilt ones.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise import fields

from mailroom.models.base import Entity
from mailroom.models.records import Company, InteractionKind, Person
from mailroom.models.workspace import Member, Workspace


class Exchange(StrEnum):
    """What the member and the contact did, which sets the interaction's weight."""

    SENT = "SENT"  # the member wrote to the contact
    ANSWERED = "ANSWERED"  # the member replied to this message of the contact's (beside RECEIVED)
    RECEIVED = "RECEIVED"  # the contact wrote to the member
    COPIED = "COPIED"  # both were on mail that neither of them wrote, or that the member got
    MET = "MET"  # both were on a meeting the member did not decline


class Interaction(Entity):
    """A member's interaction with a contact address in a message or a meeting."""

    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name=False, on_delete=fields.CASCADE
    )
    member_id: UUID
    address = fields.CharField(max_length=320)
    # The address's registrable domain; its company's figures count it when no person has it.
    domain = fields.CharField(max_length=255, default="")
    person: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    person_id: UUID | None
    # The person's company, or for an address without a person its domain's company.
    company: fields.ForeignKeyNullableRelation[Company] = fields.ForeignKeyField(
        "models.Company", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    company_id: UUID | None
    message: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Message", related_name=False, null=True, on_delete=fields.CASCADE
    )
    message_id: UUID | None
    event: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Event", related_name=False, null=True, on_delete=fields.CASCADE
    )
    event_id: UUID | None
    kind = fields.CharEnumField(InteractionKind, max_length=16)
    exchange = fields.CharEnumField(Exchange, max_length=16)
    occurred_at = fields.DatetimeField()
    # What this adds to the member's score with the contact, in the stored form
    # (resolver/strength.py): its weight, grown by the time from the decay's epoch.
    value = fields.FloatField()
    # Whether it has happened: meetings ahead (and mail dated ahead) count once their time
    # comes, when `resolver.figures.settle` passes them.
    counted = fields.BooleanField()
    # Pairs a reply with what it answers: a RECEIVED row's own Message-ID, a SENT row's
    # In-Reply-To, an ANSWERED row's (that of the message it marks), each as a digest.
    link = fields.CharField(max_length=32, null=True)

    class Meta:
        table = "interaction"
        unique_together = (
            ("message", "member", "address", "exchange"),
            ("event", "member", "address", "exchange"),
        )
        # A person's or company's first and last of a kind; replies paired by link; the
        # rows of an address or a domain when a person or company comes to hold them; what
        # is due to be counted.
        indexes = (
            ("person_id", "kind", "counted", "occurred_at"),
            ("company_id", "kind", "counted", "occurred_at"),
            ("workspace_id", "link"),
            ("workspace_id", "address"),
            ("workspace_id", "domain"),
            ("counted", "occurred_at"),
        )


class Connection(Entity):
    """A member's connection with a person or a company: the sum of the counted interactions'
    values, and how many there are. Exactly one of person and company is set."""

    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    member: fields.ForeignKeyRelation[Member] = fields.ForeignKeyField(
        "models.Member", related_name=False, on_delete=fields.CASCADE
    )
    member_id: UUID
    person: fields.ForeignKeyNullableRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name=False, null=True, on_delete=fields.CASCADE
    )
    person_id: UUID | None
    company: fields.ForeignKeyNullableRelation[Company] = fields.ForeignKeyField(
        "models.Company", related_name=False, null=True, on_delete=fields.CASCADE
    )
    company_id: UUID | None
    score = fields.FloatField(default=0.0)
    interactions = fields.IntField(default=0)

    class Meta:
        table = "connection"
        unique_together = (("member", "person"), ("member", "company"))
        indexes = (("person_id", "score"), ("company_id", "score"))
