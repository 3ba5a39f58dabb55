"""Finding people and companies. Records of the team itself (a member's address or domain)
are never shown as contacts (`workspace.contacts`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, TypeVar

import strawberry
from tortoise.expressions import Subquery
from tortoise.queryset import QuerySet

from mailroom.graphql.context import Info
from mailroom.graphql.ids import parse_id
from mailroom.graphql.nodes import CompanyType, PersonType, with_addresses
from mailroom.graphql.nodes.parts import StrengthLevelType
from mailroom.graphql.relay import Connection, in_creation_order, paginate
from mailroom.models import CompanyDomain, Person, PersonEmail
from mailroom.parsing.addresses.lists import normalize_address
from mailroom.parsing.addresses.owners import registrable_domain
from mailroom.resolver.strength import Level as StrengthLevel
from mailroom.resolver.strength import Thresholds, stored_floor
from mailroom.workspace import (
    contact_companies,
    contact_people,
    is_contact_company,
    is_contact_person,
)

R = TypeVar("R", bound=Any)
T = TypeVar("T")


@strawberry.enum(name="ContactOrder")
class ContactOrder(Enum):
    CREATED = strawberry.enum_value("CREATED", description="In the order they were made.")
    LAST_INTERACTION = strawberry.enum_value(
        "LAST_INTERACTION",
        description="Latest interaction first; those without one are left out.",
    )
    CONNECTION_STRENGTH = strawberry.enum_value(
        "CONNECTION_STRENGTH", description="Strongest connection (any member's) first."
    )


@strawberry.input(description="Relationship figures to match: all that are given.")
class RelationshipFilter:
    strength: StrengthLevelType | None = strawberry.field(
        default=None, description="The level of the strongest connection, now."
    )
    last_interaction_before: datetime | None = None
    last_interaction_after: datetime | None = None


@strawberry.input
class PersonFilter(RelationshipFilter):
    email: str | None = None
    domain: str | None = None
    name: str | None = None
    company: strawberry.ID | None = None


@strawberry.input
class CompanyFilter(RelationshipFilter):
    domain: str | None = None
    name: str | None = None


def _filter_figures(
    query: QuerySet[R], where: RelationshipFilter, levels: Thresholds, now: datetime
) -> QuerySet[R]:
    if where.strength is not None:
        low, high = levels.range_of(StrengthLevel(where.strength.value))
        if low > 0:
            query = query.filter(strength__gte=stored_floor(low, now))
        if high is not None:
            query = query.filter(strength__lt=stored_floor(high, now))
    if where.last_interaction_before is not None:
        query = query.filter(last_interaction_at__lt=where.last_interaction_before)
    if where.last_interaction_after is not None:
        query = query.filter(last_interaction_at__gt=where.last_interaction_after)
    return query


async def _ordered(
    query: QuerySet[R],
    order: ContactOrder,
    first: int | None,
    after: str | None,
    convert: Callable[[R], T],
) -> Connection[T]:
    if order is ContactOrder.LAST_INTERACTION:
        return await paginate(
            query.filter(last_interaction_at__isnull=False),
            first=first,
            after=after,
            key="last_interaction_at",
            descending=True,
            convert=convert,
        )
    if order is ContactOrder.CONNECTION_STRENGTH:
        return await paginate(
            query, first=first, after=after, key="strength", descending=True, convert=convert
        )
    return await in_creation_order(query, first=first, after=after, convert=convert)


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
        order_by: ContactOrder = ContactOrder.CREATED,
    ) -> Connection[PersonType]:
        query = contact_people(await info.context.team())
        if filter is not None:
            query = _filter_people(query, filter, info.context.workspace.id)
            query = _filter_figures(
                query, filter, info.context.loaders.levels, info.context.loaders.now
            )
        found = await _ordered(query, order_by, first, after, PersonType.of)
        await with_addresses(info, found.nodes)
        return found

    @strawberry.field
    async def person(self, info: Info, id: strawberry.ID) -> PersonType | None:  # noqa: A002
        # By the loaders, whose rows the page's own fields (`emails`) then read again for free.
        loaders, person_id = info.context.loaders, parse_id(id)
        person = await loaders.person.load(person_id)
        if person is None:
            return None
        addresses = await loaders.person_emails.load(person_id)
        return (
            PersonType.of(person)
            if is_contact_person(await info.context.team(), addresses)
            else None
        )

    @strawberry.field
    async def companies(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        filter: CompanyFilter | None = None,  # noqa: A002 - the API's name
        order_by: ContactOrder = ContactOrder.CREATED,
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
        if filter is not None:
            query = _filter_figures(
                query, filter, info.context.loaders.levels, info.context.loaders.now
            )
        return await _ordered(query, order_by, first, after, CompanyType.of)

    @strawberry.field
    async def company(self, info: Info, id: strawberry.ID) -> CompanyType | None:  # noqa: A002
        loaders, company_id = info.context.loaders, parse_id(id)
        company = await loaders.company.load(company_id)
        if company is None:
            return None
        domains = await loaders.company_domains.load(company_id)
        return (
            CompanyType.of(company)
            if is_contact_company(await info.context.team(), domains)
            else None
        )
