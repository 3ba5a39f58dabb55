"""The records the resolver keeps: people, companies, their addresses and domains, and the
interactions that feed relationship figures."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise import fields

from mailroom.models.base import Entity, Provenance
from mailroom.models.message import Message
from mailroom.models.workspace import Workspace


class NameSource(StrEnum):
    """How a record's name was found, weakest first: a stronger source replaces a weaker one,
    and nothing replaces a name set by hand."""

    DERIVED = "DERIVED"  # from an address's local part or a domain
    DISPLAY = "DISPLAY"  # from a display name in a message
    HAND = "HAND"


class Company(Provenance):
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    name = fields.CharField(max_length=255)
    name_source = fields.CharEnumField(NameSource, max_length=16, default=NameSource.DERIVED)
    first_email_at = fields.DatetimeField(null=True)
    last_email_at = fields.DatetimeField(null=True)

    class Meta:
        table = "company"
        # (workspace, created_at, id): the API's stable order, pages without a sort.
        indexes = (("workspace_id", "name"), ("workspace_id", "created_at", "id"))


class CompanyDomain(Provenance):
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    company: fields.ForeignKeyRelation[Company] = fields.ForeignKeyField(
        "models.Company", related_name="domains", db_index=True, on_delete=fields.CASCADE
    )
    company_id: UUID
    domain = fields.CharField(max_length=255)

    class Meta:
        table = "company_domain"
        unique_together = (("workspace", "domain"),)


class Person(Provenance):
    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    name = fields.CharField(max_length=255, null=True)
    name_source = fields.CharEnumField(NameSource, max_length=16, default=NameSource.DERIVED)
    company: fields.ForeignKeyNullableRelation[Company] = fields.ForeignKeyField(
        "models.Company", related_name="people", db_index=True, null=True, on_delete=fields.SET_NULL
    )
    company_id: UUID | None
    # True when a member chose the company; the resolver then leaves it alone.
    company_set_by_hand = fields.BooleanField(default=False)
    first_email_at = fields.DatetimeField(null=True)
    last_email_at = fields.DatetimeField(null=True)

    class Meta:
        table = "person"
        # (workspace, created_at, id): the API's stable order, pages without a sort.
        indexes = (("workspace_id", "name"), ("workspace_id", "created_at", "id"))


class PersonEmail(Provenance):
    """An address of a person. An address belongs to at most one person in a workspace."""

    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="emails", db_index=True, on_delete=fields.CASCADE
    )
    person_id: UUID
    address = fields.CharField(max_length=320)
    # The registrable domain (`acme.co.uk` for `jo@mail.acme.co.uk`): what companies match on.
    domain = fields.CharField(max_length=255)

    class Meta:
        table = "person_email"
        unique_together = (("workspace", "address"),)
        indexes = (("workspace_id", "domain"),)


class InteractionKind(StrEnum):
    EMAIL = "EMAIL"
    MEETING = "MEETING"


class Interaction(Entity):
    """A person took part in a message or a meeting. Which members were involved is read from
    the message's or event's copies, so removing a mailbox needs no bookkeeping here."""

    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    person: fields.ForeignKeyRelation[Person] = fields.ForeignKeyField(
        "models.Person", related_name="interactions", on_delete=fields.CASCADE
    )
    person_id: UUID
    message: fields.ForeignKeyNullableRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name=False, null=True, db_index=True, on_delete=fields.CASCADE
    )
    message_id: UUID | None
    event: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Event", related_name=False, null=True, db_index=True, on_delete=fields.CASCADE
    )
    event_id: UUID | None
    kind = fields.CharEnumField(InteractionKind, max_length=16, default=InteractionKind.EMAIL)
    occurred_at = fields.DatetimeField()

    class Meta:
        table = "interaction"
        unique_together = (("person", "message"), ("person", "event"))
        # (person, occurred_at) answers a person's first and last interaction without a scan.
        indexes = (("workspace_id", "occurred_at"), ("person_id", "occurred_at"))
