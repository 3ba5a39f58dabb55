"""Finding people and companies. Records of the team itself (a member's address or domain)
are never shown as contacts (`workspace.contacts`)."""

from __future__ import annotations

import strawberry
from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from mailroom.graphql.context import Info
from mailroom.graphql.ids import parse_id
from mailroom.graphql.nodes import CompanyType, PersonType
from mailroom.graphql.relay import Connection, in_creation_order
from mailroom.models import CompanyDomain, Person, PersonEmail
from mailroom.parsing.addresses.lists import normalize_address
from mailroom.parsing.addresses.owners import registrable_domain
from mailroom.workspace import contact_companies, contact_people


@strawberry.input
class PersonFilter:
    email: str | None = None
    domain: str | None = None
    name: str | None = None
    company: strawberry.ID | None = None


@strawberry.input
class CompanyFilter:
    domain: str | None = None
    name: str | None = None


def _filter_people(
    query: QuerySet[Person], where: PersonFilter, workspace: object
) -> QuerySet[Person]:
    if where.email is not None:
        address = normalize_address(where.email) or where.email.strip().lower()
        query = query.filter(
            id__in=Subquery(
                PersonEmail.filter(workspace_id=workspace, address=address).values("person_id")
            )
        )
    if where.domain is not None:
        query = query.filter(
            id__in=Subquery(
                PersonEmail.filter(workspace_id=workspace, domain=_domain(where.domain)).values(
                    "person_id"
                )
            )
        )
    if where.name is not None:
        query = query.filter(name__icontains=where.name)
    if where.company is not None:
        query = query.filter(company_id=parse_id(where.company))
    return query


def _domain(value: str) -> str:
    """Records are filed under registrable domains: mail.globex.com finds globex.com's."""
    domain = value.strip().lower().lstrip("@")
    return registrable_domain(domain) or domain


@strawberry.type
class PeopleQueries:
    @strawberry.field
    async def people(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        filter: PersonFilter | None = None,  # noqa: A002 - the API's name
    ) -> Connection[PersonType]:
        """In the order they were made."""
        query = contact_people(await info.context.team())
        if filter is not None:
            query = _filter_people(query, filter, info.context.workspace.id)
        return await in_creation_order(query, first=first, after=after, convert=PersonType.of)

    @strawberry.field
    async def person(self, info: Info, id: strawberry.ID) -> PersonType | None:  # noqa: A002
        person = await contact_people(await info.context.team()).get_or_none(id=parse_id(id))
        return PersonType.of(person) if person is not None else None

    @strawberry.field
    async def companies(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        filter: CompanyFilter | None = None,  # noqa: A002 - the API's name
    ) -> Connection[CompanyType]:
        query = contact_companies(await info.context.team())
        if filter is not None and filter.domain is not None:
            query = query.filter(
                id__in=Subquery(
                    CompanyDomain.filter(
                        workspace_id=info.context.workspace.id, domain=_domain(filter.domain)
                    ).values("company_id")
                )
            )
        if filter is not None and filter.name is not None:
            query = query.filter(name__icontains=filter.name)
        return await in_creation_order(query, first=first, after=after, convert=CompanyType.of)

    @strawberry.field
    async def company(self, info: Info, id: strawberry.ID) -> CompanyType | None:  # noqa: A002
        company = await contact_companies(await info.context.team()).get_or_none(id=parse_id(id))
        return CompanyType.of(company) if company is not None else None
