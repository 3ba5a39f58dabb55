"""People and companies as the API shows them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from mailroom.graphql.context import Info
from mailroom.graphql.emails.types import EmailType, seen
from mailroom.graphql.relay import Connection, connection_of, encode
from mailroom.models import Company, Origin, Participant, Person


@strawberry.type(name="Provenance")
class ProvenanceType:
    origin: str
    rule: str | None
    message_id: strawberry.ID | None
    mailbox_id: strawberry.ID | None


def _provenance(row: Person | Company) -> ProvenanceType:
    return ProvenanceType(
        origin=row.origin.value if isinstance(row.origin, Origin) else str(row.origin),
        rule=row.origin_rule,
        message_id=strawberry.ID(str(row.origin_message_id)) if row.origin_message_id else None,
        mailbox_id=strawberry.ID(str(row.origin_mailbox_id)) if row.origin_mailbox_id else None,
    )


@strawberry.type(name="Company")
class CompanyType:
    id: strawberry.ID
    name: str
    first_email_at: datetime | None
    last_email_at: datetime | None
    row: strawberry.Private[Company]

    @strawberry.field
    async def domains(self, info: Info) -> list[str]:
        domains: list[str] = await info.context.loaders.company_domains.load(self.row.id)
        return domains

    @strawberry.field
    def provenance(self) -> ProvenanceType:
        return _provenance(self.row)

    @strawberry.field
    async def people(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[PersonType]:
        from mailroom.graphql.people.queries import people_query
        from mailroom.graphql.relay import paginate

        query = (await people_query(info)).filter(company_id=self.row.id)
        return await paginate(
            query,
            first=first,
            after=after,
            key="created_at",
            descending=False,
            convert=PersonType.of,
        )

    @strawberry.field
    async def emails(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[EmailType]:
        from mailroom.graphql.emails.queries import company_participants, timeline

        terms = await company_participants(info.context.workspace.id, self.row.id)
        return await timeline(info, terms, first=first, after=after)

    @classmethod
    def of(cls, row: Company) -> CompanyType:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            first_email_at=row.first_email_at,
            last_email_at=row.last_email_at,
            row=row,
        )


@strawberry.type(name="Person")
class PersonType:
    id: strawberry.ID
    name: str | None
    first_email_at: datetime | None
    last_email_at: datetime | None
    row: strawberry.Private[Person]

    @strawberry.field
    async def emails(self, info: Info) -> list[str]:
        """The person's addresses."""
        addresses: list[str] = await info.context.loaders.person_emails.load(self.row.id)
        return addresses

    @strawberry.field
    async def company(self, info: Info) -> CompanyType | None:
        if self.row.company_id is None:
            return None
        company = await info.context.loaders.company.load(self.row.company_id)
        return CompanyType.of(company) if company is not None else None

    @strawberry.field
    def provenance(self) -> ProvenanceType:
        return _provenance(self.row)

    @strawberry.field
    async def messages(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[EmailType]:
        """The emails this person took part in, newest first."""
        from mailroom.graphql.emails.queries import timeline
        from mailroom.graphql.relay import page_size

        if after is None:
            # The first page of many people at once comes from one windowed query.
            size = page_size(first)
            ids = await info.context.loaders.recent_emails.load((self.row.id, size + 1))
            rows = await info.context.loaders.message.load_many(ids)
            page = [r for r in rows if r is not None][:size]
            nodes = await seen(info, page)
            cursors = [encode(m.sent_at, m.id) for m in page]
            return connection_of(nodes, len(ids) > size, cursors)
        mine = Participant.filter(workspace_id=info.context.workspace.id, person_id=self.row.id)
        return await timeline(info, [mine], first=first, after=after)

    @classmethod
    def of(cls, row: Person) -> PersonType:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            first_email_at=row.first_email_at,
            last_email_at=row.last_email_at,
            row=row,
        )
