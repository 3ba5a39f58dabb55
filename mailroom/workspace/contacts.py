"""Which people and companies are the workspace's contacts: all of its records except the
team's own. A member's address, or an address at a member's domain, is never a contact: the API
does not show such records, nor lets a member make one."""

from __future__ import annotations

from collections.abc import Iterable

from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from mailroom.db import Statement
from mailroom.models import Company, CompanyDomain, Person, PersonEmail
from mailroom.parsing.addresses.owners import registrable_domain
from mailroom.resolver.rules import WorkspaceRules


def is_team_address(team: WorkspaceRules, address: str, domain: str | None = None) -> bool:
    """`domain`: the address's registrable domain, when the caller has it already."""
    if domain is None:
        domain = registrable_domain(address.rpartition("@")[2])
    return team.is_member(address) or domain in team.member_domains


def is_contact_person(team: WorkspaceRules, addresses: Iterable[str]) -> bool:
    """Whether a person with these addresses is a contact: what `contact_people` asks of
    each, for a person read already."""
    return not any(is_team_address(team, a) for a in addresses)


def is_contact_company(team: WorkspaceRules, domains: Iterable[str]) -> bool:
    """Whether a company at these domains is a contact, as `contact_companies` asks."""
    return not any(d in team.member_domains for d in domains)


def contact_people(team: WorkspaceRules) -> QuerySet[Person]:
    """The workspace's people, less those with an address of the team."""
    hidden = PersonEmail.filter(workspace_id=team.workspace_id).filter(
        Q(address__in=sorted(team.members)) | Q(domain__in=sorted(team.member_domains))
    )
    return Person.filter(workspace_id=team.workspace_id).exclude(
        id__in=Subquery(hidden.values("person_id"))
    )


def team_people(team: WorkspaceRules, statement: Statement) -> str:
    """`contact_people`'s exclusion, for a statement written by hand: a subquery of the ids of
    the people with an address of the team."""
    sql = "SELECT person_id FROM person_email"
    sql += f" WHERE workspace_id = {statement.mark(team.workspace_id)} AND ("
    sql += f"address IN ({statement.marks(sorted(team.members))})" if team.members else "1 = 0"
    if team.member_domains:
        sql += f" OR domain IN ({statement.marks(sorted(team.member_domains))})"
    return sql + ")"


def contact_companies(team: WorkspaceRules) -> QuerySet[Company]:
    """The workspace's companies, less those at a domain of the team."""
    hidden = CompanyDomain.filter(
        workspace_id=team.workspace_id, domain__in=sorted(team.member_domains)
    )
    return Company.filter(workspace_id=team.workspace_id).exclude(
        id__in=Subquery(hidden.values("company_id"))
    )
