"""People and companies made and changed by hand. What is set here is marked as set by hand,
and the resolver never overwrites it; an address another person holds merges the two."""

from __future__ import annotations

from typing import Annotated

import strawberry
from tortoise.transactions import in_transaction

from mailroom.errors import MailroomError
from mailroom.graphql.context import Info
from mailroom.graphql.errors import Conflict, InvalidInput, NotFound
from mailroom.graphql.ids import parse_id
from mailroom.graphql.people.queries import companies_query, people_query
from mailroom.graphql.people.types import CompanyType, PersonType
from mailroom.models import Company, CompanyDomain, NameSource, Origin, Person
from mailroom.resolver.addresses import registrable_domain
from mailroom.resolver.merge import add_email, merge_people

PersonResult = Annotated[PersonType | NotFound | InvalidInput, strawberry.union("PersonResult")]
CompanyResult = Annotated[
    CompanyType | NotFound | InvalidInput | Conflict, strawberry.union("CompanyResult")
]


@strawberry.input
class PersonInput:
    name: str | None = None
    emails: list[str] | None = None
    company: strawberry.ID | None = None


@strawberry.input
class CompanyInput:
    name: str | None = None
    domains: list[str] | None = None


@strawberry.type
class PeopleMutations:
    @strawberry.mutation
    async def create_person(self, info: Info, input: PersonInput) -> PersonResult:  # noqa: A002
        async with in_transaction():
            person = await Person.create(
                workspace=info.context.workspace,
                origin=Origin.HAND,
                name=input.name,
                name_source=NameSource.HAND if input.name else NameSource.DERIVED,
            )
            return await _apply_person(info, person, input)

    @strawberry.mutation
    async def update_person(
        self,
        info: Info,
        id: strawberry.ID,
        input: PersonInput,  # noqa: A002
    ) -> PersonResult:
        person = await (await people_query(info)).get_or_none(id=parse_id(id))
        if person is None:
            return NotFound()
        if input.name is not None:
            person.name, person.name_source = input.name, NameSource.HAND
            await person.save(update_fields=["name", "name_source"])
        return await _apply_person(info, person, input)

    @strawberry.mutation
    async def merge_people(
        self, info: Info, keep: strawberry.ID, merge: strawberry.ID
    ) -> PersonResult:
        """`merge` goes into `keep`: addresses, emails and interactions united."""
        people = await people_query(info)
        kept = await people.get_or_none(id=parse_id(keep))
        other = await Person.get_or_none(workspace=info.context.workspace, id=parse_id(merge))
        if kept is None or other is None:
            return NotFound()
        return PersonType.of(await merge_people(kept, other))

    @strawberry.mutation
    async def create_company(self, info: Info, input: CompanyInput) -> CompanyResult:  # noqa: A002
        if not input.name:
            return InvalidInput(message="a company needs a name")
        async with in_transaction():
            company = await Company.create(
                workspace=info.context.workspace,
                origin=Origin.HAND,
                name=input.name,
                name_source=NameSource.HAND,
            )
            return await _apply_company(info, company, input)

    @strawberry.mutation
    async def update_company(
        self,
        info: Info,
        id: strawberry.ID,
        input: CompanyInput,  # noqa: A002
    ) -> CompanyResult:
        company = await (await companies_query(info)).get_or_none(id=parse_id(id))
        if company is None:
            return NotFound()
        if input.name is not None:
            company.name, company.name_source = input.name, NameSource.HAND
            await company.save(update_fields=["name", "name_source"])
        return await _apply_company(info, company, input)


async def _apply_person(info: Info, person: Person, input: PersonInput) -> PersonResult:
    if input.company is not None:
        company = await Company.get_or_none(
            workspace=info.context.workspace, id=parse_id(input.company)
        )
        if company is None:
            return NotFound(message="no such company")
        person.company, person.company_set_by_hand = company, True
        await person.save(update_fields=["company_id", "company_set_by_hand"])
    team = await info.context.team()
    for address in input.emails or []:
        if team.is_member(address.strip().lower()):
            return InvalidInput(message=f"{address} belongs to a member of the workspace")
        try:
            person = await add_email(person, address)
        except MailroomError as error:
            return InvalidInput(message=str(error))
    return PersonType.of(person)


async def _apply_company(info: Info, company: Company, input: CompanyInput) -> CompanyResult:
    for value in input.domains or []:
        domain = registrable_domain(value.strip().lower().lstrip("@"))
        if domain is None:
            return InvalidInput(message=f"{value!r} is not a registrable domain")
        holder = await CompanyDomain.get_or_none(workspace=info.context.workspace, domain=domain)
        if holder is not None and holder.company_id != company.id:
            return Conflict(message=f"{domain} belongs to another company")
        if holder is None:
            await CompanyDomain.create(
                workspace=info.context.workspace,
                company=company,
                domain=domain,
                origin=Origin.HAND,
            )
    return CompanyType.of(company)
