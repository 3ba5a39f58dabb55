"""People and companies made and changed by hand. What is set here is marked as set by hand,
and the resolver never overwrites it; an address another person holds merges the two."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

import strawberry
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from mailroom.graphql.context import Info
from mailroom.graphql.errors import Conflict, InvalidInput, NotFound
from mailroom.graphql.ids import parse_id
from mailroom.graphql.people.queries import companies_query, people_query
from mailroom.graphql.people.types import CompanyType, PersonType
from mailroom.models import Company, CompanyDomain, NameSource, Origin, Person
from mailroom.parsing.addresses.lists import normalize_address
from mailroom.parsing.addresses.owners import registrable_domain
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
        checked = await _check_person(info, input)
        if not isinstance(checked, _PersonChange):
            return checked
        async with in_transaction():
            person = await Person.create(
                workspace=info.context.workspace,
                origin=Origin.HAND,
                name=input.name,
                name_source=NameSource.HAND if input.name else NameSource.DERIVED,
            )
            return PersonType.of(await _apply_person(person, checked))

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
        checked = await _check_person(info, input)
        if not isinstance(checked, _PersonChange):
            return checked
        async with in_transaction():
            if input.name is not None:
                person.name, person.name_source = input.name, NameSource.HAND
                await person.save(update_fields=["name", "name_source"])
            return PersonType.of(await _apply_person(person, checked))

    @strawberry.mutation
    async def merge_people(
        self, info: Info, keep: strawberry.ID, merge: strawberry.ID
    ) -> PersonResult:
        """`merge` goes into `keep`: addresses, emails and interactions united."""
        people = await people_query(info)
        kept = await people.get_or_none(id=parse_id(keep))
        other = await people.get_or_none(id=parse_id(merge))
        if kept is None or other is None:
            return NotFound()
        return PersonType.of(await merge_people(kept, other))

    @strawberry.mutation
    async def create_company(self, info: Info, input: CompanyInput) -> CompanyResult:  # noqa: A002
        if not input.name:
            return InvalidInput(message="a company needs a name")
        domains = await _check_domains(info, None, input.domains or [])
        if not isinstance(domains, list):
            return domains
        try:
            async with in_transaction():
                company = await Company.create(
                    workspace=info.context.workspace,
                    origin=Origin.HAND,
                    name=input.name,
                    name_source=NameSource.HAND,
                )
                await _add_domains(company, domains)
        except IntegrityError:  # another request took a domain meanwhile
            return Conflict(message="a domain was given to another company meanwhile")
        return CompanyType.of(company)

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
        domains = await _check_domains(info, company, input.domains or [])
        if not isinstance(domains, list):
            return domains
        try:
            async with in_transaction():
                if input.name is not None:
                    company.name, company.name_source = input.name, NameSource.HAND
                    await company.save(update_fields=["name", "name_source"])
                await _add_domains(company, domains)
        except IntegrityError:
            return Conflict(message="a domain was given to another company meanwhile")
        return CompanyType.of(company)


@dataclass(frozen=True, slots=True)
class _PersonChange:
    company: Company | None
    addresses: list[str]


async def _check_person(info: Info, input: PersonInput) -> _PersonChange | NotFound | InvalidInput:  # noqa: A002
    """Everything checked before anything is written, so a refused change leaves no trace."""
    company = None
    if input.company is not None:
        company = await Company.get_or_none(
            workspace=info.context.workspace, id=parse_id(input.company)
        )
        if company is None:
            return NotFound(message="no such company")
    team = await info.context.team()
    addresses = []
    for value in input.emails or []:
        address = normalize_address(value)
        if address is None:
            return InvalidInput(message=f"{value!r} is not a valid email address")
        if team.is_member(address) or registrable_domain(address.rpartition("@")[2]) in (
            team.member_domains
        ):
            # The team's own addresses are never contacts: such a person would be hidden.
            return InvalidInput(message=f"{address} belongs to the workspace's own team")
        addresses.append(address)
    return _PersonChange(company, addresses)


async def _apply_person(person: Person, change: _PersonChange) -> Person:
    if change.company is not None:
        person.company, person.company_set_by_hand = change.company, True
        await person.save(update_fields=["company_id", "company_set_by_hand"])
    for address in change.addresses:
        person = await add_email(person, address)
    return person


async def _check_domains(
    info: Info, company: Company | None, values: list[str]
) -> list[str] | InvalidInput | Conflict:
    """The new domains for `company`, all checked before anything is written."""
    team = await info.context.team()
    new: list[str] = []
    for value in values:
        domain = registrable_domain(value.strip().lower().lstrip("@"))
        if domain is None:
            return InvalidInput(message=f"{value!r} is not a registrable domain")
        if domain in team.member_domains:
            return InvalidInput(message=f"{domain} is the workspace's own domain")
        holder = await CompanyDomain.get_or_none(workspace=info.context.workspace, domain=domain)
        if holder is not None and (company is None or holder.company_id != company.id):
            return Conflict(message=f"{domain} belongs to another company")
        if holder is None and domain not in new:
            new.append(domain)
    return new


async def _add_domains(company: Company, domains: list[str]) -> None:
    for domain in domains:
        await CompanyDomain.create(
            workspace_id=company.workspace_id, company=company, domain=domain, origin=Origin.HAND
        )
