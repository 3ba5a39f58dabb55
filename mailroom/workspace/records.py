"""People and companies made and changed by hand. What is set here is marked as set by hand,
and the resolver never overwrites it; an address another person holds merges the two.

Everything is checked before anything is written, so that a refused change leaves no trace.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar
from uuid import UUID

from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from mailroom.errors import ConflictError, InvalidInputError, NotFoundError
from mailroom.intake.locks import workspace_write_lock
from mailroom.models import Company, CompanyDomain, NameSource, Origin, Person, Workspace
from mailroom.parsing.addresses.owners import registrable_domain
from mailroom.resolver import merge
from mailroom.resolver.interactions import relink
from mailroom.resolver.rules import WorkspaceRules
from mailroom.workspace.contacts import contact_companies, contact_people, is_team_address
from mailroom.workspace.members import valid_address
from mailroom.workspace.store import NOT_FOUND, conflict_if_taken

R = TypeVar("R", Person, Company)
# Checked free before the write, then refused by the unique index: another request took it.
_DOMAIN_TAKEN = "a domain was given to another company meanwhile"


@dataclass(frozen=True, slots=True)
class PersonChange:
    """What a member asks of a person; None leaves a field as it is."""

    name: str | None = None
    emails: Sequence[str] = ()
    company: UUID | None = None


async def create_person(workspace: Workspace, team: WorkspaceRules, change: PersonChange) -> Person:
    company, addresses = await _checked(workspace, team, change)
    async with in_transaction() as connection:
        await workspace_write_lock(connection, workspace.id)
        person = await Person.create(
            workspace=workspace,
            origin=Origin.HAND,
            name=change.name,
            name_source=NameSource.HAND if change.name else NameSource.DERIVED,
        )
        return await _apply(person, company, addresses)


async def update_person(
    workspace: Workspace, team: WorkspaceRules, person_id: UUID, change: PersonChange
) -> Person:
    person = await _contact(contact_people(team), person_id, workspace)
    company, addresses = await _checked(workspace, team, change)
    async with in_transaction() as connection:
        await workspace_write_lock(connection, workspace.id)
        if change.name is not None:
            person.name, person.name_source = change.name, NameSource.HAND
            await person.save(update_fields=["name", "name_source"])
        return await _apply(person, company, addresses)


async def merge_people(
    workspace: Workspace, team: WorkspaceRules, keep: UUID, other: UUID
) -> Person:
    """`other` goes into `keep`: addresses, emails and interactions united."""
    kept = await contact_people(team).get_or_none(id=keep)
    merged = await contact_people(team).get_or_none(id=other)
    if kept is None or merged is None:
        raise NotFoundError(NOT_FOUND, workspace=workspace.slug)
    async with in_transaction() as connection:
        await workspace_write_lock(connection, workspace.id)
        return await merge.merge_people(kept, merged)


async def create_company(
    workspace: Workspace, team: WorkspaceRules, name: str | None, domains: Sequence[str]
) -> Company:
    if not name:
        raise InvalidInputError("a company needs a name", workspace=workspace.slug)
    new = await _new_domains(workspace, team, None, domains)
    with conflict_if_taken(_DOMAIN_TAKEN, workspace=workspace.slug):
        async with in_transaction() as connection:
            await workspace_write_lock(connection, workspace.id)
            company = await Company.create(
                workspace=workspace, origin=Origin.HAND, name=name, name_source=NameSource.HAND
            )
            await _add_domains(company, new)
    return company


async def update_company(
    workspace: Workspace,
    team: WorkspaceRules,
    company_id: UUID,
    name: str | None,
    domains: Sequence[str],
) -> Company:
    company = await _contact(contact_companies(team), company_id, workspace)
    new = await _new_domains(workspace, team, company, domains)
    with conflict_if_taken(_DOMAIN_TAKEN, workspace=workspace.slug):
        async with in_transaction() as connection:
            await workspace_write_lock(connection, workspace.id)
            if name is not None:
                company.name, company.name_source = name, NameSource.HAND
                await company.save(update_fields=["name", "name_source"])
            await _add_domains(company, new)
    return company


async def _contact(query: QuerySet[R], row_id: UUID, workspace: Workspace) -> R:
    row = await query.get_or_none(id=row_id)
    if row is None:
        raise NotFoundError(NOT_FOUND, workspace=workspace.slug)
    return row


async def _checked(
    workspace: Workspace, team: WorkspaceRules, change: PersonChange
) -> tuple[Company | None, list[str]]:
    """The company and the addresses to give the person."""
    company = None
    if change.company is not None:
        company = await Company.get_or_none(workspace=workspace, id=change.company)
        if company is None:
            raise NotFoundError("no such company", workspace=workspace.slug)
    addresses = []
    for value in change.emails:
        address = valid_address(value)
        if is_team_address(team, address):
            # The team's own addresses are never contacts: such a person would be hidden.
            raise InvalidInputError(f"{address} belongs to the workspace's own team")
        addresses.append(address)
    return company, addresses


async def _apply(person: Person, company: Company | None, addresses: list[str]) -> Person:
    if company is not None:
        person.company, person.company_set_by_hand = company, True
        await person.save(update_fields=["company_id", "company_set_by_hand"])
        await relink(person.workspace_id, people=[person.id])
    for address in addresses:
        person = await merge.add_email(person, address)
    return person


async def _new_domains(
    workspace: Workspace, team: WorkspaceRules, company: Company | None, values: Sequence[str]
) -> list[str]:
    """The domains to add to `company` (None: a new one), all checked before any is."""
    new: list[str] = []
    for value in values:
        domain = registrable_domain(value.strip().lower().lstrip("@"))
        if domain is None:
            raise InvalidInputError(f"{value!r} is not a registrable domain")
        if domain in team.member_domains:
            raise InvalidInputError(f"{domain} is the workspace's own domain")
        holder = await CompanyDomain.get_or_none(workspace=workspace, domain=domain)
        if holder is not None and (company is None or holder.company_id != company.id):
            raise ConflictError(f"{domain} belongs to another company", workspace=workspace.slug)
        if holder is None and domain not in new:
            new.append(domain)
    return new


async def _add_domains(company: Company, domains: list[str]) -> None:
    for domain in domains:
        await CompanyDomain.create(
            workspace_id=company.workspace_id, company=company, domain=domain, origin=Origin.HAND
        )
    # Mail of these domains that made no person now counts for the company.
    await relink(company.workspace_id, domains=domains)
