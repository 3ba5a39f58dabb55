"""Uniting two people: the rule that two people never share an address in a workspace.

Adding to a person an address that another person holds merges the two. The merged person keeps
every address, participation and interaction of both, and its connections are those of one
person who had them all; of two names or companies, one set by hand
wins over one the resolver found, and the surviving person's own wins a tie.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from mailroom.errors import ConflictError, InvalidInputError
from mailroom.models import EventAttendee, NameSource, Origin, Participant, Person, PersonEmail
from mailroom.parsing.addresses.lists import normalize_address
from mailroom.parsing.addresses.owners import registrable_domain
from mailroom.resolver.history import regroup
from mailroom.resolver.interactions import link_history, relink

_STRENGTH = {NameSource.DERIVED: 0, NameSource.DISPLAY: 1, NameSource.HAND: 2}


async def add_email(person: Person, address: str) -> Person:
    """Give a person another address. If another person holds it, merge that person into this
    one; the result is the person that holds the address."""
    normalized = normalize_address(address)
    if normalized is None:
        raise InvalidInputError(f"{address!r} is not a valid email address")
    holder = await PersonEmail.get_or_none(workspace_id=person.workspace_id, address=normalized)
    if holder is not None:
        if holder.person_id == person.id:
            return person
        return await merge_people(person, await Person.get(id=holder.person_id))
    async with in_transaction():
        domain = normalized.rpartition("@")[2]
        await PersonEmail.create(
            workspace_id=person.workspace_id,
            person=person,
            address=normalized,
            domain=registrable_domain(domain) or domain,
            origin=Origin.HAND,
        )
        await link_history(person.workspace_id, {normalized: person.id})
        await regroup(person.workspace_id, person.id, datetime.now(UTC))
    return person


async def merge_people(keep: Person, other: Person) -> Person:
    """Merge `other` into `keep` and delete `other`."""
    if keep.workspace_id != other.workspace_id:
        raise ConflictError("people of different workspaces cannot be merged")
    if keep.id == other.id:
        return keep
    async with in_transaction():
        await PersonEmail.filter(person_id=other.id).update(person_id=keep.id)
        await Participant.filter(person_id=other.id).update(person_id=keep.id)
        await EventAttendee.filter(person_id=other.id).update(person_id=keep.id)
        _unite_values(keep, other)
        await keep.save()
        # The interactions of both now name `keep`, and its company: their connections and
        # figures are summed again, as one person's.
        await relink(keep.workspace_id, people=[keep.id, other.id])
        await regroup(keep.workspace_id, keep.id, datetime.now(UTC))
        await other.delete()
        await keep.refresh_from_db()
    return keep


def _unite_values(keep: Person, other: Person) -> None:
    if other.name and (not keep.name or _STRENGTH[other.name_source] > _STRENGTH[keep.name_source]):
        keep.name, keep.name_source = other.name, other.name_source
    if other.company_id is not None and (
        keep.company_id is None or (other.company_set_by_hand and not keep.company_set_by_hand)
    ):
        keep.company_id = other.company_id
        keep.company_set_by_hand = other.company_set_by_hand
