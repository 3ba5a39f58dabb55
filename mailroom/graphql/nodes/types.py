"""The API's types that refer to one another: an email and its thread, its participants and
their people, a person's company, the emails and meetings of people and companies, and a
meeting's attendees and their people.

They are one module because each one's resolvers build the others (an email's participants are
people, a person's messages are emails): split by domain, the modules would import each other
in a circle. The values they hold are in `parts`, the pages of a person's or company's emails
in `timeline`.

Every field of an email beyond its id and date goes through the viewer's access (`seen`), and
what it hides comes back null with `hiddenReason` saying why. The whole team sees a stored
meeting's title, times, place and people (private events are never stored); its description
and joining link go through the calendar sharing policy (`workspace.calendar.details_shown`),
and when hidden are null with `visibility` SUBJECT, as an email whose body is hidden.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from datetime import datetime
from typing import Annotated
from uuid import UUID

import strawberry
from strawberry.types.nodes import SelectedField
from tortoise.queryset import QuerySet

from mailroom.graphql.context import Info, selects
from mailroom.graphql.ids import parse_id
from mailroom.graphql.loaders import (
    MESSAGE_FIELDS,
    AttendeeRow,
    CompanyRow,
    ContactRow,
    MessageRow,
    ParticipantRow,
    PersonRow,
)
from mailroom.graphql.nodes.parts import (
    AttachmentType,
    AttendeeKindType,
    EmailAccess,
    EventStatusType,
    ExchangeType,
    ProvenanceType,
    ResponseType,
    StrengthLevelType,
)
from mailroom.graphql.nodes.people import company_people
from mailroom.graphql.nodes.timeline import (
    Page,
    company_participants,
    person_timeline,
    timeline,
)
from mailroom.graphql.relay import (
    DEFAULT_PAGE,
    Connection,
    connection_of,
    page_size,
    paginate,
)
from mailroom.graphql.workspace.types import MemberType
from mailroom.models import Company, Event, InteractionKind, Message, Person, Thread
from mailroom.resolver.rules import WorkspaceRules
from mailroom.resolver.strength import Level as StrengthLevel
from mailroom.workspace import Access, Level, ThreadView, is_team_address
from mailroom.workspace.calendar import (
    company_events,
    events_between,
    local_time,
    person_events,
)
from mailroom.workspace.relationships import Column, Figure, Part, Strength


@strawberry.type(name="Participant")
class ParticipantType:
    role: str
    address: str
    name: str | None
    person: PersonType | None


async def _participants(
    info: Info, message_ids: Sequence[UUID], asked: list[SelectedField]
) -> dict[UUID, list[ParticipantType]]:
    """The participants of a page's emails with their people, read for the whole page at once
    (the `participants` selections `asked` say whether people are wanted: a page of emails
    names hundreds of participants, and their people are read only if asked for). The team's
    own records are not contacts: their participants show no person."""
    loaders = info.context.loaders
    views: dict[UUID | None, PersonType] = {}
    team = await info.context.team()
    found: list[list[ParticipantRow]]
    if any(selects(s, "person") for s in asked):
        found = await loaders.participant_people.load_many(message_ids)
        for rows in found:
            for r in rows:
                if r.person is not None and r.person_id not in views and _contact(team, r):
                    views[r.person_id] = PersonType.of(r.person)
    else:
        found = await loaders.participants.load_many(message_ids)
    result: dict[UUID, list[ParticipantType]] = {}
    for message_id, rows in zip(message_ids, found, strict=True):
        result[message_id] = [
            ParticipantType(
                role=r.role.value,
                address=r.address,
                name=r.name,
                person=views.get(_contact(team, r)) if views else None,
            )
            for r in rows
        ]
    return result


def _contact(team: WorkspaceRules, row: ParticipantRow) -> UUID | None:
    """The participant's person, unless the address is the team's own."""
    if row.person_id is None or is_team_address(team, row.address, row.domain):
        return None
    return row.person_id


@strawberry.type(name="Thread")
class ThreadType:
    """A thread as the viewer sees it: its subject, count and dates come from the emails the
    viewer may see (`threads`), never from the others."""

    id: strawberry.ID
    row: strawberry.Private[Thread]

    @strawberry.field(description="The subject of the earliest email whose subject you may see.")  # type: ignore[untyped-decorator]
    async def subject(self, info: Info) -> str | None:
        return (await self._view(info)).subject

    @strawberry.field(description="How many of its emails you may see.")  # type: ignore[untyped-decorator]
    async def message_count(self, info: Info) -> int:
        return (await self._view(info)).message_count

    @strawberry.field
    async def first_message_at(self, info: Info) -> datetime | None:
        return (await self._view(info)).first_message_at

    @strawberry.field
    async def last_message_at(self, info: Info) -> datetime | None:
        return (await self._view(info)).last_message_at

    @strawberry.field
    async def emails(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[EmailType]:
        """Oldest first."""
        page = await paginate(
            Message.filter(workspace_id=self.row.workspace_id, thread_id=self.row.id).only(
                *MESSAGE_FIELDS
            ),
            first=first,
            after=after,
            key="sent_at",
            descending=False,
            convert=lambda m: m,
        )
        nodes = await seen(info, page.nodes)
        return connection_of(nodes, page.page_info.has_next_page, page.keys)

    async def _view(self, info: Info) -> ThreadView:
        view: ThreadView = await info.context.loaders.thread_view.load(self.row)
        return view

    @classmethod
    def of(cls, row: Thread) -> ThreadType:
        return cls(id=strawberry.ID(str(row.id)), row=row)


@strawberry.type(name="Email")
class EmailType:
    id: strawberry.ID
    sent_at: datetime
    # What the viewer's access shows, set once for the email when it is made (`of`): a page
    # resolves thousands of fields, and a plain attribute costs a fraction of a resolver.
    visibility: EmailAccess = strawberry.field(description="What the viewer may see of this email.")
    hidden_reason: str | None = strawberry.field(
        description="Why fields are hidden (null when nothing is)."
    )
    subject: str | None
    snippet: str | None
    row: strawberry.Private[Message | MessageRow]
    # The viewer's access, looked up for a whole page at once (`seen`) before any field of it
    # resolves: the fields it gates are plain reads.
    access: strawberry.Private[Access]
    # Its participants, read with the page's (`seen`) when the query asks for them, or why
    # they could not be.
    parts: strawberry.Private[list[ParticipantType] | Exception | None]

    @classmethod
    def of(
        cls,
        row: Message | MessageRow,
        access: Access,
        parts: list[ParticipantType] | Exception | None = None,
    ) -> EmailType:
        return cls(
            id=strawberry.ID(str(row.id)),
            sent_at=row.sent_at,
            visibility=EmailAccess[access.level.name],
            hidden_reason=None if access.level is Level.FULL else access.reason,
            subject=row.subject if access.allows(Level.SUBJECT) else None,
            snippet=row.snippet if access.allows(Level.FULL) else None,
            row=row,
            access=access,
            parts=parts,
        )

    @strawberry.field
    async def text(self, info: Info) -> str | None:
        if not self.access.allows(Level.FULL):
            return None
        text, _ = await info.context.loaders.bodies.load(self.row.id)
        return text

    @strawberry.field
    async def html(self, info: Info) -> str | None:
        if not self.access.allows(Level.FULL):
            return None
        _, html = await info.context.loaders.bodies.load(self.row.id)
        return html

    @strawberry.field
    async def attachments(self, info: Info) -> list[AttachmentType] | None:
        if not self.access.allows(Level.FULL):
            return None
        rows = await info.context.loaders.attachments.load(self.row.id)
        return [
            AttachmentType(
                filename=a.filename, content_type=a.content_type, size=a.size, inline=a.inline
            )
            for a in rows
        ]

    @strawberry.field(
        description="In header order: From, Sender, Reply-To, To, Cc, Bcc; the first `first` "
        "(at most 100) of them."
    )  # type: ignore[untyped-decorator]
    def participants(self, first: int | None = DEFAULT_PAGE) -> list[ParticipantType] | None:
        # A plain read of what `seen` prepared: a page's fifty awaited resolvers, each with its
        # loader call, cost more than the participants themselves (bench/RESULTS.md, api).
        if not self.access.allows(Level.METADATA):
            return None
        if isinstance(self.parts, Exception):
            raise self.parts
        if self.parts is None:
            raise RuntimeError("the participants of an email were not read with its page")
        return self.parts[: page_size(first)]

    @strawberry.field
    async def thread(self, info: Info) -> ThreadType | None:
        if self.row.thread_id is None:
            return None
        thread = await info.context.loaders.thread.load(self.row.thread_id)
        return ThreadType.of(thread) if thread is not None else None


async def seen(info: Info, rows: Sequence[Message | MessageRow]) -> list[EmailType]:
    """The emails of `rows` as the viewer sees them: every path to an email comes through here.
    When the query asks for their participants, those the viewer may see are read here too,
    for the page at once."""
    found: list[Access] = await info.context.loaders.access.load_many([m.id for m in rows])
    parts: dict[UUID, list[ParticipantType]] | Exception = {}
    if asked := info.context.below(info, "participants"):
        shown = [m.id for m, a in zip(rows, found, strict=True) if a.allows(Level.METADATA)]
        try:
            parts = await _participants(info, shown, asked)
        except Exception as error:  # noqa: BLE001 - each email's `participants` raises it
            # A failure to read them is the error of that field alone, as if each email had
            # read its own: the rest of the page is still answered.
            parts = error
    return [
        EmailType.of(m, a, parts if isinstance(parts, Exception) else parts.get(m.id))
        for m, a in zip(rows, found, strict=True)
    ]


async def emails_of(info: Info, page: Page) -> Connection[EmailType]:
    """A timeline page as the viewer sees it."""
    return connection_of(await seen(info, page.rows), page.has_next, page.keys)


@strawberry.type(
    name="Interaction",
    description="An interaction a figure names: when, the member, and the email or meeting "
    "(each as the viewer may see it).",
)
class InteractionFigureType:
    at: datetime
    figure: strawberry.Private[Figure]

    @strawberry.field
    async def member(self, info: Info) -> MemberType | None:
        row = await info.context.loaders.member.load(self.figure.member_id)
        return MemberType.of(row) if row is not None else None

    @strawberry.field
    async def email(self, info: Info) -> EmailType | None:
        if self.figure.message_id is None:
            return None
        row = await info.context.loaders.message.load(self.figure.message_id)
        return (await seen(info, [row]))[0] if row is not None else None

    @strawberry.field
    async def event(self, info: Info) -> EventType | None:
        if self.figure.event_id is None:
            return None
        row = await info.context.loaders.event.load(self.figure.event_id)
        return EventType.of(row) if row is not None else None


@strawberry.type(name="StrengthPart", description="What one kind of interaction adds.")
class StrengthPartType:
    kind: ExchangeType
    count: int
    last_at: datetime
    contribution: float = strawberry.field(description="Its share of the score, 0 to 1.")


@strawberry.type(
    name="ConnectionStrength",
    description="A member's connection with a person or company: recent and frequent "
    "interactions score high, and a quiet relationship fades (README: Relationship "
    "intelligence).",
)
class ConnectionStrengthType:
    level: StrengthLevelType
    score: float
    interactions: int
    strength: strawberry.Private[Strength]
    contact: strawberry.Private[tuple[Column, UUID]]

    @strawberry.field
    async def member(self, info: Info) -> MemberType | None:
        row = await info.context.loaders.member.load(self.strength.member_id)
        return MemberType.of(row) if row is not None else None

    @strawberry.field(description="What made the score, largest share first.")  # type: ignore[untyped-decorator]
    async def explanation(self, info: Info) -> list[StrengthPartType]:
        parts: list[Part] = await info.context.loaders.explanation.load(
            (*self.contact, self.strength.member_id)
        )
        return [
            StrengthPartType(
                kind=ExchangeType(p.exchange.value),
                count=p.count,
                last_at=p.last_at,
                contribution=round(p.share, 4),
            )
            for p in parts
        ]

    @classmethod
    def of(cls, strength: Strength, contact: tuple[Column, UUID]) -> ConnectionStrengthType:
        return cls(
            level=StrengthLevelType(strength.level.value),
            score=strength.score,
            interactions=strength.interactions,
            strength=strength,
            contact=contact,
        )


@strawberry.interface(
    name="Contact",
    description="A person or a company, with the relationship figures the team's mail and "
    "meetings keep on it.",
)
class ContactType:
    id: strawberry.ID
    column: strawberry.Private[Column]
    contact: strawberry.Private[Person | Company | ContactRow]

    async def _figure(
        self, info: Info, kind: InteractionKind | None, at: datetime | None
    ) -> InteractionFigureType | None:
        if at is None:
            return None
        key = (self.column, self.contact.id, kind, at)
        figure: Figure | None = await info.context.loaders.figure.load(key)
        return InteractionFigureType(at=at, figure=figure) if figure is not None else None

    @strawberry.field(description="The first interaction of any kind with a member.")  # type: ignore[untyped-decorator]
    async def first_interaction(self, info: Info) -> InteractionFigureType | None:
        return await self._figure(info, None, self.contact.first_interaction_at)

    @strawberry.field(description="The latest interaction of any kind that has happened.")  # type: ignore[untyped-decorator]
    async def last_interaction(self, info: Info) -> InteractionFigureType | None:
        return await self._figure(info, None, self.contact.last_interaction_at)

    @strawberry.field
    async def first_email_interaction(self, info: Info) -> InteractionFigureType | None:
        return await self._figure(info, InteractionKind.EMAIL, self.contact.first_email_at)

    @strawberry.field
    async def last_email_interaction(self, info: Info) -> InteractionFigureType | None:
        return await self._figure(info, InteractionKind.EMAIL, self.contact.last_email_at)

    @strawberry.field
    async def first_calendar_interaction(self, info: Info) -> InteractionFigureType | None:
        return await self._figure(info, InteractionKind.MEETING, self.contact.first_meeting_at)

    @strawberry.field(description="The latest meeting that has begun.")  # type: ignore[untyped-decorator]
    async def last_calendar_interaction(self, info: Info) -> InteractionFigureType | None:
        return await self._figure(info, InteractionKind.MEETING, self.contact.last_meeting_at)

    @strawberry.field(description="The next meeting with a member.")  # type: ignore[untyped-decorator]
    async def next_calendar_interaction(self, info: Info) -> InteractionFigureType | None:
        loaders = info.context.loaders
        at: datetime | None = await loaders.next_meeting.load((self.column, self.contact.id))
        if at is None:
            return None
        figure = await loaders.upcoming.load((self.column, self.contact.id, at))
        return InteractionFigureType(at=at, figure=figure) if figure is not None else None

    @strawberry.field(description="Every member's connection, strongest first.")  # type: ignore[untyped-decorator]
    async def connections(self, info: Info) -> list[ConnectionStrengthType]:
        key = (self.column, self.contact.id)
        found: list[Strength] = await info.context.loaders.connections.load(key)
        return [ConnectionStrengthType.of(s, key) for s in found]

    @strawberry.field(description="A member's connection (the viewer's unless one is named).")  # type: ignore[untyped-decorator]
    async def connection_strength(
        self, info: Info, member: strawberry.ID | None = None
    ) -> ConnectionStrengthType:
        member_id = parse_id(member) if member is not None else info.context.member.id
        key = (self.column, self.contact.id)
        found: list[Strength] = await info.context.loaders.connections.load(key)
        strength = next((s for s in found if s.member_id == member_id), None)
        if strength is None:
            strength = Strength(member_id, 0.0, StrengthLevel.NONE, 0, 0.0)
        return ConnectionStrengthType.of(strength, key)

    @strawberry.field(description="The member with the strongest connection, if any.")  # type: ignore[untyped-decorator]
    async def strongest_connection(self, info: Info) -> ConnectionStrengthType | None:
        found: list[Strength] = await info.context.loaders.connections.load(
            (self.column, self.contact.id)
        )
        return (
            ConnectionStrengthType.of(found[0], (self.column, self.contact.id)) if found else None
        )


@strawberry.type(name="Company")
class CompanyType(ContactType):
    name: str
    first_email_at: datetime | None
    last_email_at: datetime | None
    row: strawberry.Private[Company | CompanyRow]

    @strawberry.field
    async def domains(self, info: Info) -> list[str]:
        domains: list[str] = await info.context.loaders.company_domains.load(self.row.id)
        return domains

    @strawberry.field
    def provenance(self) -> ProvenanceType:
        return ProvenanceType.of(self.row)

    @strawberry.field
    async def people(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[PersonType]:
        team = await info.context.team()
        rows, more, keys = await company_people(team, self.row.id, first=first, after=after)
        people = await with_addresses(info, [PersonType.of(r) for r in rows])
        return connection_of(people, more, keys)

    @strawberry.field
    async def emails(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[EmailType]:
        domains = await info.context.loaders.company_domains.load(self.row.id)
        terms = await company_participants(info.context.workspace.id, self.row.id, domains)
        return await emails_of(info, await timeline(info, terms, first=first, after=after))

    @strawberry.field(description="Meetings with anyone at the company, earliest first.")  # type: ignore[untyped-decorator]
    async def events(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        start: Annotated[
            datetime | None, strawberry.argument(name="from", description="Ending after this.")
        ] = None,
        end: Annotated[
            datetime | None, strawberry.argument(name="to", description="Starting before this.")
        ] = None,
    ) -> Connection[EventType]:
        query = await company_events(info.context.workspace.id, self.row.id)
        query = events_between(query, start, end)
        return await events_page(query, first=first, after=after)

    @classmethod
    def of(cls, row: Company | CompanyRow) -> CompanyType:
        return cls(
            id=strawberry.ID(str(row.id)),
            column="company_id",
            contact=row,
            name=row.name,
            first_email_at=row.first_email_at,
            last_email_at=row.last_email_at,
            row=row,
        )


@strawberry.type(name="Person")
class PersonType(ContactType):
    name: str | None
    first_email_at: datetime | None
    last_email_at: datetime | None
    row: strawberry.Private[Person | PersonRow]
    # Its addresses, when read with a page of people (`with_addresses`).
    addresses: strawberry.Private[list[str] | None] = None

    @strawberry.field(graphql_type=list[str])  # type: ignore[untyped-decorator]
    def emails(self, info: Info) -> list[str] | Awaitable[list[str]]:
        """The person's addresses."""
        # A plain read when the page read them: fifty awaited resolvers, each with its loader
        # call, cost more than the addresses (bench/RESULTS.md, api). Otherwise an awaitable,
        # which the executor awaits.
        if self.addresses is not None:
            return self.addresses
        found: Awaitable[list[str]] = info.context.loaders.person_emails.load(self.row.id)
        return found

    @strawberry.field
    async def company(self, info: Info) -> CompanyType | None:
        if self.row.company_id is None:
            return None
        company = await info.context.loaders.company.load(self.row.company_id)
        return CompanyType.of(company) if company is not None else None

    @strawberry.field
    def provenance(self) -> ProvenanceType:
        return ProvenanceType.of(self.row)

    @strawberry.field
    async def messages(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> Connection[EmailType]:
        """The emails this person took part in, newest first."""
        page = await person_timeline(info, self.row.id, first=first, after=after)
        return await emails_of(info, page)

    @strawberry.field(description="Meetings this person is on, earliest first.")  # type: ignore[untyped-decorator]
    async def events(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        start: Annotated[
            datetime | None, strawberry.argument(name="from", description="Ending after this.")
        ] = None,
        end: Annotated[
            datetime | None, strawberry.argument(name="to", description="Starting before this.")
        ] = None,
    ) -> Connection[EventType]:
        query = person_events(info.context.workspace.id, self.row.id)
        query = events_between(query, start, end)
        return await events_page(query, first=first, after=after)

    @classmethod
    def of(cls, row: Person | PersonRow) -> PersonType:
        return cls(
            id=strawberry.ID(str(row.id)),
            column="person_id",
            contact=row,
            name=row.name,
            first_email_at=row.first_email_at,
            last_email_at=row.last_email_at,
            row=row,
        )


async def with_addresses(info: Info, people: list[PersonType]) -> list[PersonType]:
    """A page of people, with their addresses read for the whole page when the query asks for
    them (a Person's `emails`, the one field of that name without fields of its own)."""
    if people and any(not f.selections for f in info.context.below(info, "emails")):
        found = await info.context.loaders.person_emails.load_many([p.row.id for p in people])
        for person, addresses in zip(people, found, strict=True):
            person.addresses = addresses
    return people


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
    async def person(self, info: Info) -> PersonType | None:
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
