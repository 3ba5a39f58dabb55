"""The records the resolver keeps: people, companies, their addresses and domains, and the
relationship figures kept on them (models/intelligence.py holds what they are kept from)."""

from __future__ import annotations

from enum import StrEnum
from typing import Any
from uuid import UUID

from tortoise import fields

from mailroom.models.base import Provenance
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
    # Relationship figures, kept by resolver/figures.py from the interactions that have
    # happened (a meeting next week is not yet one): any kind, email, meetings.
    first_interaction_at = fields.DatetimeField(null=True)
    last_interaction_at = fields.DatetimeField(null=True)
    first_email_at = fields.DatetimeField(null=True)
    last_email_at = fields.DatetimeField(null=True)
    first_meeting_at = fields.DatetimeField(null=True)
    last_meeting_at = fields.DatetimeField(null=True)
    # The strongest member's connection score, in the form resolver/strength.py stores (the
    # same decay for every row, so it orders as the score does at any moment), and the member.
    strength = fields.FloatField(default=0.0, db_default=0.0)
    strongest_member: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Member", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    strongest_member_id: UUID | None

    class Meta:
        table = "company"
        # (workspace, created_at, id): the API's stable order, pages without a sort.
        indexes = (
            ("workspace_id", "name"),
            ("workspace_id", "created_at", "id"),
            ("workspace_id", "last_interaction_at"),
            ("workspace_id", "strength"),
        )


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
    # Relationship figures, kept by resolver/figures.py from the interactions that have
    # happened (a meeting next week is not yet one): any kind, email, meetings.
    first_interaction_at = fields.DatetimeField(null=True)
    last_interaction_at = fields.DatetimeField(null=True)
    first_email_at = fields.DatetimeField(null=True)
    last_email_at = fields.DatetimeField(null=True)
    first_meeting_at = fields.DatetimeField(null=True)
    last_meeting_at = fields.DatetimeField(null=True)
    # The strongest member's connection score, in the form resolver/strength.py stores (the
    # same decay for every row, so it orders as the score does at any moment), and the member.
    strength = fields.FloatField(default=0.0, db_default=0.0)
    strongest_member: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Member", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    strongest_member_id: UUID | None

    class Meta:
        table = "person"
        # (workspace, created_at, id): the API's stable order, pages without a sort.
        indexes = (
            ("workspace_id", "name"),
            ("workspace_id", "created_at", "id"),
            ("workspace_id", "last_interaction_at"),
            ("workspace_id", "strength"),
        )


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
    """An interaction's channel."""

    EMAIL = "EMAIL"
    MEETING = "MEETING"
