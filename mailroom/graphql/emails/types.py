"""What the API says about an email besides the email itself: how much of it the viewer may see,
its attachments, and the filter a client narrows the list with. The email and thread types are
in `graphql.nodes`, with the people and companies they refer to."""

from __future__ import annotations

from datetime import datetime
from enum import Enum

import strawberry


@strawberry.enum(name="EmailAccess")
class EmailAccess(Enum):
    NONE = "NONE"
    METADATA = "METADATA"
    SUBJECT = "SUBJECT"
    FULL = "FULL"


@strawberry.type(name="Attachment")
class AttachmentType:
    filename: str | None
    content_type: str
    size: int
    inline: bool


@strawberry.input
class EmailFilter:
    person: strawberry.ID | None = None
    company: strawberry.ID | None = None
    thread: strawberry.ID | None = None
    mailbox: strawberry.ID | None = None
    sent_after: datetime | None = None
    sent_before: datetime | None = None
