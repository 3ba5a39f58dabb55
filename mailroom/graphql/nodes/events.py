"""Meetings in the API: an event, its attendees and pages of events.

The whole team sees a stored event's title, times, place, organizer and attendees (private
events are never stored). Its description and joining link go through the calendar sharing
policy (`workspace.calendar.details_shown`); hidden, they are null and `visibility` says
SUBJECT, as an email whose body is hidden.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated
from uuid import UUID

import strawberry
from tortoise.queryset import QuerySet

from mailroom.graphql.context import Info
from mailroom.graphql.loaders import AttendeeRow
from mailroom.graphql.nodes.parts import EmailAccess
from mailroom.graphql.relay import Connection, paginate
from mailroom.models import Event
from mailroom.workspace.calendar import local_time

if TYPE_CHECKING:
    from mailroom.graphql.nodes.types import PersonType


@strawberry.enum(name="EventStatus")
class EventStatusType(Enum):
    CONFIRMED = "CONFIRMED"
    TENTATIVE = "TENTATIVE"
    CANCELLED = "CANCELLED"


@strawberry.enum(name="AttendeeResponse")
class ResponseType(Enum):
    NEEDS_ACTION = "NEEDS_ACTION"
    ACCEPTED = "ACCEPTED"
    TENTATIVE = "TENTATIVE"
    DECLINED = "DECLINED"


@strawberry.enum(name="AttendeeKind")
class AttendeeKindType(Enum):
    PERSON = "PERSON"
    ROOM = "ROOM"
    RESOURCE = "RESOURCE"
    GROUP = "GROUP"


@strawberry.type(name="Attendee")
class AttendeeType:
    address: str
    name: str | None
    response: ResponseType
    kind: AttendeeKindType
    organizer: bool
    optional: bool
    person_id: strawberry.Private[UUID | None]

    @strawberry.field(description="The person this address belongs to, if any.")  # type: ignore[untyped-decorator]
    async def person(
        self, info: Info
    ) -> Annotated[PersonType, strawberry.lazy("mailroom.graphql.nodes.types")] | None:
        from mailroom.graphql.nodes.types import PersonType

        if self.person_id is None:
            return None
        person = await info.context.loaders.person.load(self.person_id)
        return PersonType.of(person) if person is not None else None

    @classmethod
    def of(cls, row: AttendeeRow) -> AttendeeType:
        return cls(
            address=row.address,
            name=row.name,
            response=ResponseType(row.response),
            kind=AttendeeKindType(row.kind),
            organizer=row.organizer,
            optional=row.optional,
            person_id=row.person_id,
        )


@strawberry.type(name="Event")
class EventType:
    id: strawberry.ID
    row: strawberry.Private[Event]

    @strawberry.field
    def title(self) -> str | None:
        return self.row.summary

    @strawberry.field(description="In the offset the event was written in.")  # type: ignore[untyped-decorator]
    def starts_at(self) -> datetime:
        return local_time(self.row.starts_at, self.row.utc_offset)

    @strawberry.field
    def ends_at(self) -> datetime:
        return local_time(self.row.ends_at, self.row.end_utc_offset)

    @strawberry.field
    def all_day(self) -> bool:
        return self.row.all_day

    @strawberry.field
    def status(self) -> EventStatusType:
        return EventStatusType(self.row.status.value)

    @strawberry.field
    def location(self) -> str | None:
        return self.row.location

    @strawberry.field(description="The iCalendar UID, the same in every calendar.")  # type: ignore[untyped-decorator]
    def uid(self) -> str:
        return self.row.uid

    @strawberry.field(description="For an occurrence of a series: its original start (UTC).")  # type: ignore[untyped-decorator]
    def recurrence_id(self) -> datetime | None:
        return self.row.recurrence_id

    @strawberry.field
    async def organizer(self, info: Info) -> AttendeeType | None:
        rows: list[AttendeeRow] = await info.context.loaders.event_attendees.load(self.row.id)
        found = next((r for r in rows if r.organizer), None)
        return AttendeeType.of(found) if found is not None else None

    @strawberry.field(description="The attendees (the first 100), organizer included.")  # type: ignore[untyped-decorator]
    async def attendees(self, info: Info) -> list[AttendeeType]:
        rows: list[AttendeeRow] = await info.context.loaders.event_attendees.load(self.row.id)
        return [AttendeeType.of(r) for r in rows]

    @strawberry.field
    def attendee_count(self) -> int:
        return self.row.attendee_count

    @strawberry.field(description="FULL when the description is yours to see, else SUBJECT.")  # type: ignore[untyped-decorator]
    async def visibility(self, info: Info) -> EmailAccess:
        shown: bool = await info.context.loaders.event_details.load(self.row.id)
        return EmailAccess.FULL if shown else EmailAccess.SUBJECT

    @strawberry.field(description="Null where the calendar's sharing hides it.")  # type: ignore[untyped-decorator]
    async def description(self, info: Info) -> str | None:
        shown: bool = await info.context.loaders.event_details.load(self.row.id)
        return self.row.description if shown else None

    @strawberry.field(description="The link to join online; null where hidden.")  # type: ignore[untyped-decorator]
    async def conference(self, info: Info) -> str | None:
        shown: bool = await info.context.loaders.event_details.load(self.row.id)
        return self.row.conference if shown else None

    @classmethod
    def of(cls, row: Event) -> EventType:
        return cls(id=strawberry.ID(str(row.id)), row=row)


async def events_page(
    query: QuerySet[Event], *, first: int | None, after: str | None
) -> Connection[EventType]:
    """A page of events in time order, earliest first."""
    return await paginate(
        query, first=first, after=after, key="starts_at", descending=False, convert=EventType.of
    )
