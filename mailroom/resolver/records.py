"""People and companies from a batch of new messages, in a handful of statements.

All addresses of the batch are looked up at once; the people, addresses, companies and domains
to create are planned in memory and inserted in bulk. The caller holds the workspace's ingest
lock, so planning against what was read is safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from uuid_utils.compat import uuid7

from mailroom.envelope import Address, Envelope
from mailroom.models import (
    Company,
    CompanyDomain,
    NameSource,
    Origin,
    Person,
    PersonEmail,
)
from mailroom.models.bulk import chunked
from mailroom.parsing.addresses.owners import company_name, registrable_domain
from mailroom.resolver.names import derived_name, real_name
from mailroom.resolver.rules import Rule, WorkspaceRules


class Sighted(Protocol):
    """Something people are found in: a message (`Sighting`) or a meeting
    (`resolver.meetings.MeetingSighting`)."""

    @property
    def mailbox_id(self) -> UUID: ...

    @property
    def sent_at(self) -> datetime: ...

    def addresses(self) -> Iterable[Address]:
        """Every address involved, with the name it was given."""
        ...

    def qualifying(self, rules: WorkspaceRules) -> list[tuple[Address, str]]:
        """The addresses that become people under the mode, with the rule that says so."""
        ...

    def provenance(self) -> dict[str, Any]:
        """Which message or event a record made from this comes from."""
        ...


@dataclass(frozen=True, slots=True)
class Sighting:
    """A message stored for the first time, as the resolver needs it."""

    message_id: UUID
    envelope: Envelope
    mailbox_id: UUID
    sent_at: datetime

    def addresses(self) -> Iterable[Address]:
        return (address for _, address in self.envelope.participants())

    def qualifying(self, rules: WorkspaceRules) -> list[tuple[Address, str]]:
        return rules.qualifying(self.envelope)

    def provenance(self) -> dict[str, Any]:
        return {"origin_message_id": self.message_id}


@dataclass(slots=True)
class _Known:
    person_id: UUID
    name_source: NameSource
    company_id: UUID | None
    company_set_by_hand: bool


@dataclass(slots=True)
class Resolution:
    """What the batch's addresses resolved to and what was made."""

    person_of: dict[str, UUID] = field(default_factory=dict)
    new_people: dict[str, UUID] = field(default_factory=dict)  # address -> new person
    companies_created: int = 0
    new_domains: set[str] = field(default_factory=set)  # of the companies created
    linked: set[UUID] = field(default_factory=set)  # people stored before, given a company
    company_of: dict[UUID, UUID | None] = field(default_factory=dict)  # the batch's people's


async def resolve(rules: WorkspaceRules, sightings: Sequence[Sighted]) -> Resolution:
    addresses = {a.address for s in sightings for a in s.addresses()}
    known = await _known(rules.workspace_id, addresses)
    names = _display_names(sightings)
    people, emails = _plan_people(rules, sightings, known, names)
    await _rename(known, names)
    result = Resolution()
    await _companies(rules, sightings, people, emails, known, result)
    await Person.bulk_create(people)
    await PersonEmail.bulk_create(emails)
    result.person_of = {a: k.person_id for a, k in known.items()}
    # A person the batch names by two addresses is known twice, and only the entry of the
    # address whose domain linked it holds the company it was just given.
    for k in known.values():
        if result.company_of.get(k.person_id) is None:
            result.company_of[k.person_id] = k.company_id
    result.company_of.update((p.id, p.company_id) for p in people)
    result.new_people = {e.address: e.person_id for e in emails}
    result.person_of.update(result.new_people)
    return result


async def _known(workspace_id: UUID, addresses: set[str]) -> dict[str, _Known]:
    found: dict[str, _Known] = {}
    for chunk in chunked(sorted(addresses)):
        rows = await PersonEmail.filter(workspace_id=workspace_id, address__in=chunk).values(
            "address",
            "person_id",
            "person__name_source",
            "person__company_id",
            "person__company_set_by_hand",
        )
        for row in rows:
            found[row["address"]] = _Known(
                person_id=row["person_id"],
                name_source=NameSource(row["person__name_source"]),
                company_id=row["person__company_id"],
                company_set_by_hand=row["person__company_set_by_hand"],
            )
    return found


def _display_names(sightings: Sequence[Sighted]) -> dict[str, str]:
    """The most recent real display name seen for each address in the batch."""
    names: dict[str, str] = {}
    for sighting in sorted(sightings, key=lambda s: s.sent_at):
        for address in sighting.addresses():
            name = real_name(address.name, address.address)
            if name:
                names[address.address] = name
    return names


def _plan_people(
    rules: WorkspaceRules,
    sightings: Sequence[Sighted],
    known: dict[str, _Known],
    names: dict[str, str],
) -> tuple[list[Person], list[PersonEmail]]:
    people: list[Person] = []
    emails: list[PersonEmail] = []
    planned: set[str] = set()
    for sighting in sorted(sightings, key=lambda s: s.sent_at):
        for address, rule in sighting.qualifying(rules):
            key = address.address
            if key in known or key in planned:
                continue
            planned.add(key)
            provenance = _provenance(rule, sighting)
            person = _new_person(key, names.get(key), rules.workspace_id, provenance)
            people.append(person)
            emails.append(
                PersonEmail(
                    id=uuid7(),
                    workspace_id=rules.workspace_id,
                    person_id=person.id,
                    address=key,
                    domain=registrable_domain(address.domain) or address.domain,
                    **provenance,
                )
            )
    return people, emails


def _new_person(
    address: str, name: str | None, workspace_id: UUID, provenance: dict[str, Any]
) -> Person:
    source = NameSource.DISPLAY if name else NameSource.DERIVED
    return Person(
        id=uuid7(),
        workspace_id=workspace_id,
        name=name or derived_name(address),
        name_source=source,
        **provenance,
    )


def _provenance(rule: str, sighting: Sighted) -> dict[str, Any]:
    return {
        "origin": Origin.RESOLVER,
        "origin_rule": rule,
        "origin_mailbox_id": sighting.mailbox_id,
        **sighting.provenance(),
    }


async def _rename(known: dict[str, _Known], names: dict[str, str]) -> None:
    """A real name replaces one derived from the address; nothing replaces a hand-set name."""
    renames = {
        k.person_id: names[a]
        for a, k in known.items()
        if k.name_source is NameSource.DERIVED and a in names
    }
    if not renames:
        return
    people = await Person.filter(id__in=list(renames), name_source=NameSource.DERIVED)
    for person in people:
        person.name = renames[person.id]
        person.name_source = NameSource.DISPLAY
    if people:
        await Person.bulk_update(people, fields=["name", "name_source"])


async def _companies(
    rules: WorkspaceRules,
    sightings: Sequence[Sighted],
    people: list[Person],
    emails: list[PersonEmail],
    known: dict[str, _Known],
    result: Resolution,
) -> None:
    """Create the companies the batch's qualifying people call for and link people to them;
    `result` gets what was made and linked."""
    wanted = _wanted_domains(rules, sightings, emails, known)
    linkable = {
        a: k for a, k in known.items() if k.company_id is None and not k.company_set_by_hand
    }
    domains = set(wanted) | {d for a in linkable if (d := rules.may_make_company(_domain(a)))}
    company_of = await _company_ids(rules.workspace_id, domains)
    created = [d for d in sorted(wanted) if d not in company_of]
    await _create_companies(rules, created, wanted, company_of)
    person_by_id = {p.id: p for p in people}
    for email in emails:
        registrable = rules.may_make_company(_domain(email.address))
        if registrable in company_of:
            person_by_id[email.person_id].company_id = company_of[registrable]
    result.linked |= await _link_known(rules, linkable, company_of)
    result.linked |= await _link_others(rules.workspace_id, created, company_of)
    result.companies_created = len(created)
    result.new_domains = set(created)


def _wanted_domains(
    rules: WorkspaceRules,
    sightings: Sequence[Sighted],
    emails: list[PersonEmail],
    known: dict[str, _Known],
) -> dict[str, dict[str, Any]]:
    """Registrable domains that qualifying people call a company for, with the provenance of
    the first sighting that did."""
    new_addresses = {e.address for e in emails}
    wanted: dict[str, dict[str, Any]] = {}
    for sighting in sorted(sightings, key=lambda s: s.sent_at):
        for address, _ in sighting.qualifying(rules):
            k = known.get(address.address)
            if address.address not in new_addresses and (k is None or k.company_id is not None):
                continue
            registrable = rules.may_make_company(address.domain)
            if registrable and registrable not in wanted:
                wanted[registrable] = _provenance(Rule.COMPANY, sighting)
    return wanted


async def _company_ids(workspace_id: UUID, domains: set[str]) -> dict[str, UUID]:
    found: dict[str, UUID] = {}
    for chunk in chunked(sorted(domains)):
        rows = await CompanyDomain.filter(workspace_id=workspace_id, domain__in=chunk).values_list(
            "domain", "company_id"
        )
        found.update(rows)
    return found


async def _create_companies(
    rules: WorkspaceRules,
    created: list[str],
    wanted: dict[str, dict[str, Any]],
    company_of: dict[str, UUID],
) -> None:
    companies, domains = [], []
    for domain in created:
        company = Company(
            id=uuid7(),
            workspace_id=rules.workspace_id,
            name=company_name(domain),
            name_source=NameSource.DERIVED,
            **wanted[domain],
        )
        companies.append(company)
        domains.append(
            CompanyDomain(
                id=uuid7(),
                workspace_id=rules.workspace_id,
                company_id=company.id,
                domain=domain,
                **wanted[domain],
            )
        )
        company_of[domain] = company.id
    await Company.bulk_create(companies)
    await CompanyDomain.bulk_create(domains)


async def _link_known(
    rules: WorkspaceRules, linkable: dict[str, _Known], company_of: dict[str, UUID]
) -> set[UUID]:
    by_company: dict[UUID, list[UUID]] = {}
    for address, k in linkable.items():
        registrable = rules.may_make_company(_domain(address))
        if registrable in company_of:
            by_company.setdefault(company_of[registrable], []).append(k.person_id)
            k.company_id = company_of[registrable]
    for company_id, person_ids in by_company.items():
        await Person.filter(id__in=person_ids, company_id=None).update(company_id=company_id)
    return {p for ids in by_company.values() for p in ids}


async def _link_others(
    workspace_id: UUID, created: list[str], company_of: dict[str, UUID]
) -> set[UUID]:
    """People already stored (made by hand, say) at the domain of a company just made."""
    linked: set[UUID] = set()
    for chunk in chunked(created):
        rows = await PersonEmail.filter(
            workspace_id=workspace_id,
            domain__in=chunk,
            person__company_id=None,
            person__company_set_by_hand=False,
        ).values_list("domain", "person_id")
        for domain, person_id in rows:
            await Person.filter(id=person_id, company_id=None).update(company_id=company_of[domain])
            linked.add(person_id)
    return linked


def _domain(address: str) -> str:
    return address.rpartition("@")[2]
