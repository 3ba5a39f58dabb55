"""The plain values the node types hold: how much of an email the viewer may see, an email's
attachments, and why a person or company exists."""

from __future__ import annotations

from enum import Enum

import strawberry

from mailroom.graphql.loaders import ContactRow
from mailroom.models import Company, Origin, Person


@strawberry.enum(name="EmailAccess")
class EmailAccess(Enum):
    NONE = "NONE"
    METADATA = "METADATA"
    SUBJECT = "SUBJECT"
    FULL = "FULL"


@strawberry.enum(name="EventStatus")
class EventStatusType(Enum):
    CONFIRMED = "CONFIRMED"
    TENTATIVE = "TENTATIVE"
    CANCELLED = "CANCELLED"


@strawberry.enum(name="AttendeeResponse")
class ResponseType(Enum):
    NEEDS_ACTION = "NEEDS_ACTION"
    ACCEPTED = "ACCEPTED"
    TENTATIVE = "TENTATIVE"
    DECLINED = "DECLINED"


@strawberry.enum(name="AttendeeKind")
class AttendeeKindType(Enum):
    PERSON = "PERSON"
    ROOM = "ROOM"
    RESOURCE = "RESOURCE"
    GROUP = "GROUP"


@strawberry.enum(name="StrengthLevel")
class StrengthLevelType(Enum):
    NONE = "NONE"
    VERY_WEAK = "VERY_WEAK"
    WEAK = "WEAK"
    MODERATE = "MODERATE"
    STRONG = "STRONG"
    VERY_STRONG = "VERY_STRONG"


@strawberry.enum(name="InteractionKind")
class ExchangeType(Enum):
    SENT = strawberry.enum_value("SENT", description="The member wrote to the contact.")
    ANSWERED = strawberry.enum_value(
        "ANSWERED", description="The member replied to the contact's email (beside RECEIVED)."
    )
    RECEIVED = strawberry.enum_value("RECEIVED", description="The contact wrote to the member.")
    COPIED = strawberry.enum_value(
        "COPIED", description="Both were on an email that neither of them wrote to the other."
    )
    MET = strawberry.enum_value(
        "MET", description="Both were on a meeting that the member did not decline."
    )


@strawberry.type(name="Attachment")
class AttachmentType:
    filename: str | None
    content_type: str
    size: int
    inline: bool


@strawberry.type(name="Provenance")
class ProvenanceType:
    origin: str
    rule: str | None
    message_id: strawberry.ID | None
    mailbox_id: strawberry.ID | None

    @classmethod
    def of(cls, row: Person | Company | ContactRow) -> ProvenanceType:
        return cls(
            origin=row.origin.value if isinstance(row.origin, Origin) else str(row.origin),
            rule=row.origin_rule,
            message_id=strawberry.ID(str(row.origin_message_id)) if row.origin_message_id else None,
            mailbox_id=strawberry.ID(str(row.origin_mailbox_id)) if row.origin_mailbox_id else None,
        )
