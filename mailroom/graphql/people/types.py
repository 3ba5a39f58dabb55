"""What the API says about a person or company besides the record itself: why it exists. The
person and company types are in `graphql.nodes`, with the emails they refer to."""

from __future__ import annotations

import strawberry

from mailroom.models import Company, Origin, Person


@strawberry.type(name="Provenance")
class ProvenanceType:
    origin: str
    rule: str | None
    message_id: strawberry.ID | None
    mailbox_id: strawberry.ID | None

    @classmethod
    def of(cls, row: Person | Company) -> ProvenanceType:
        return cls(
            origin=row.origin.value if isinstance(row.origin, Origin) else str(row.origin),
            rule=row.origin_rule,
            message_id=strawberry.ID(str(row.origin_message_id)) if row.origin_message_id else None,
            mailbox_id=strawberry.ID(str(row.origin_mailbox_id)) if row.origin_mailbox_id else None,
        )
