"""People from meetings: the organizer and attendees of an event become people like a message's
participants, under the same record creation mode and exclusions.

A meeting counts (makes people and interactions) when it is not cancelled and at least one
member whose calendar holds it did not decline it. Rooms and resources never become people;
a meeting with more than `max_attendees` people makes no new people (an all-hands is no
relationship), though the people already known are still linked to it. In SELECTIVE mode a
meeting in a member's calendar is one "shared with" its attendees, so they qualify; NONE makes
nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from uuid_utils.compat import uuid7

from mailroom.envelope import Address, Attendee, AttendeeKind, EventStatus, Response
from mailroom.models import RecordCreationMode
from mailroom.parsing.addresses.owners import registrable_domain
from mailroom.resolver.interactions import Gathering, Party
from mailroom.resolver.records import resolve
from mailroom.resolver.rules import Rule, WorkspaceRules


class Occurrence(Protocol):
    """What the resolver reads of a stored event (a row, or one about to be inserted)."""

    @property
    def id(self) -> UUID: ...

    @property
    def workspace_id(self) -> UUID: ...

    @property
    def starts_at(self) -> datetime: ...

    @property
    def status(self) -> EventStatus: ...


@dataclass(slots=True)
class Meeting:
    """An event whose records are being resolved: its stored row, everyone on it (organizer
    first, rooms included) and which mailboxes hold it, with their owner's answer."""

    event: Occurrence
    everyone: tuple[Attendee, ...]
    organizer: str | None
    holders: Sequence[tuple[UUID, Response | None]]
    max_attendees: int = 50
    # Whether an address may make a record, shared by a batch's meetings: the same people are
    # on meeting after meeting.
    allowed: dict[str, bool] = field(default_factory=dict)

    @property
    def people(self) -> list[Attendee]:
        """Those on it who may be people: rooms, resources and groups are not."""
        return [a for a in self.everyone if a.kind is AttendeeKind.PERSON]

    @property
    def counts(self) -> bool:
        """Whether this is an interaction at all: not cancelled, not declined by everyone on
        the team whose calendar holds it."""
        if self.event.status is EventStatus.CANCELLED:
            return False
        return any(response is not Response.DECLINED for _, response in self.holders)

    @property
    def mailbox_id(self) -> UUID:
        return self.holders[0][0]

    @property
    def sent_at(self) -> datetime:
        return self.event.starts_at

    def addresses(self) -> Iterable[Address]:
        return (Address(a.address, a.name) for a in self.people)

    def qualifying(self, rules: WorkspaceRules) -> list[tuple[Address, str]]:
        if rules.mode is RecordCreationMode.NONE or not self.counts or not self.holders:
            return []
        if len(self.people) > self.max_attendees:
            return []
        rule = Rule.MEETING_ALL if rules.mode is RecordCreationMode.ALL else Rule.MEETING_SELECTIVE
        chosen = []
        for a in self.people:
            allowed = self.allowed.get(a.address)
            if allowed is None:
                allowed = self.allowed[a.address] = rules.exclusion(a.address) is None
            if allowed:
                chosen.append((Address(a.address, a.name), rule))
        return chosen

    def provenance(self) -> dict[str, Any]:
        return {"origin_event_id": self.event.id}

    def attendee_rows(self, workspace_id: UUID, person_of: dict[str, UUID]) -> list[dict[str, Any]]:
        return [
            {
                "id": uuid7(),
                "workspace_id": workspace_id,
                "event_id": self.event.id,
                "position": position,
                "address": a.address,
                "domain": _domain(a),
                "name": a.name,
                "response": a.response,
                "kind": a.kind,
                "organizer": a.address == self.organizer,
                "optional": a.optional,
                "person_id": person_of.get(a.address),
                "starts_at": self.event.starts_at,
            }
            for position, a in enumerate(self.everyone)
        ]

    def gathering(self, person_of: dict[str, UUID]) -> Gathering:
        """What its interactions are made from (resolver/interactions.py)."""
        return Gathering(
            self.event.id,
            self.event.workspace_id,
            self.event.starts_at,
            self.event.status is EventStatus.CANCELLED,
            tuple(
                Party(None, a.address, _domain(a), person_of.get(a.address)) for a in self.people
            ),
        )


def _domain(attendee: Attendee) -> str:
    return registrable_domain(attendee.domain) or attendee.domain


@dataclass(slots=True)
class MeetingResolution:
    person_of: dict[str, UUID] = field(default_factory=dict)
    new_people: dict[str, UUID] = field(default_factory=dict)
    people_created: int = 0
    new_domains: set[str] = field(default_factory=set)  # of the companies created
    linked: set[UUID] = field(default_factory=set)  # people stored before, given a company


async def resolve_meetings(rules: WorkspaceRules, meetings: Sequence[Meeting]) -> MeetingResolution:
    """Make the people the meetings call for; map every address on them to its person."""
    allowed: dict[str, bool] = {}
    for meeting in meetings:
        meeting.allowed = allowed
    resolution = await resolve(rules, meetings)
    return MeetingResolution(
        person_of=resolution.person_of,
        new_people=resolution.new_people,
        people_created=len(resolution.new_people),
        new_domains=resolution.new_domains,
        linked=resolution.linked,
    )
