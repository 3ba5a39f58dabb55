"""People and companies made and changed by hand; the rules (checks, merges, what is marked as
set by hand) are the service layer's (`workspace.records`)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from mailroom.graphql.context import Info
from mailroom.graphql.errors import Conflict, InvalidInput, NotFound, mutation
from mailroom.graphql.ids import parse_id
from mailroom.graphql.nodes import CompanyType, PersonType
from mailroom.workspace import (
    PersonChange,
    create_company,
    create_person,
    merge_people,
    update_company,
    update_person,
)

PersonResult = Annotated[PersonType | NotFound | InvalidInput, strawberry.union("PersonResult")]
CompanyResult = Annotated[
    CompanyType | NotFound | InvalidInput | Conflict, strawberry.union("CompanyResult")
]


@strawberry.input
class PersonInput:
    name: str | None = None
    emails: list[str] | None = None
    company: strawberry.ID | None = None

    def change(self) -> PersonChange:
        company = parse_id(self.company) if self.company is not None else None
        return PersonChange(name=self.name, emails=tuple(self.emails or ()), company=company)


@strawberry.input
class CompanyInput:
    name: str | None = None
    domains: list[str] | None = None


@strawberry.type
class PeopleMutations:
    @mutation
    async def create_person(self, info: Info, input: PersonInput) -> PersonResult:  # noqa: A002
        context = info.context
        person = await create_person(context.workspace, await context.team(), input.change())
        return PersonType.of(person)

    @mutation
    async def update_person(
        self,
        info: Info,
        id: strawberry.ID,
        input: PersonInput,  # noqa: A002
    ) -> PersonResult:
        context = info.context
        person = await update_person(
            context.workspace, await context.team(), parse_id(id), input.change()
        )
        return PersonType.of(person)

    @mutation
    async def merge_people(
        self, info: Info, keep: strawberry.ID, merge: strawberry.ID
    ) -> PersonResult:
        """`merge` goes into `keep`: addresses, emails and interactions united."""
        context = info.context
        person = await merge_people(
            context.workspace, await context.team(), parse_id(keep), parse_id(merge)
        )
        return PersonType.of(person)

    @mutation
    async def create_company(self, info: Info, input: CompanyInput) -> CompanyResult:  # noqa: A002
        context = info.context
        company = await create_company(
            context.workspace, await context.team(), input.name, input.domains or []
        )
        return CompanyType.of(company)

    @mutation
    async def update_company(
        self,
        info: Info,
        id: strawberry.ID,
        input: CompanyInput,  # noqa: A002
    ) -> CompanyResult:
        context = info.context
        company = await update_company(
            context.workspace, await context.team(), parse_id(id), input.name, input.domains or []
        )
        return CompanyType.of(company)
