"""Reading meetings: every query is scoped to the viewer's workspace, so an id from another
workspace finds nothing, exactly like an id that does not exist."""

from __future__ import annotations

from datetime import datetime

import strawberry
from tortoise.expressions import Subquery

from mailroom.graphql.context import Info
from mailroom.graphql.ids import parse_id
from mailroom.graphql.nodes.types import EventType, events_page
from mailroom.graphql.relay import Connection
from mailroom.models import Event
from mailroom.workspace.calendar import company_events, events_between, person_events


@strawberry.input
class EventFilter:
    person: strawberry.ID | None = None
    company: strawberry.ID | None = None
    start: datetime | None = strawberry.field(
        default=None, name="from", description="Only events that end after this."
    )
    end: datetime | None = strawberry.field(
        default=None, name="to", description="Only events that start before this."
    )


@strawberry.type
class EventQueries:
    @strawberry.field(description="Meetings, earliest first.")  # type: ignore[untyped-decorator]
    async def events(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        filter: EventFilter | None = None,  # noqa: A002 - the API's name
    ) -> Connection[EventType]:
        workspace_id = info.context.workspace.id
        where = filter or EventFilter()
        query = Event.filter(workspace_id=workspace_id)
        if where.person is not None:
            query = person_events(workspace_id, parse_id(where.person))
        if where.company is not None:
            by_company = await company_events(workspace_id, parse_id(where.company))
            query = query.filter(id__in=Subquery(by_company.values("id")))
        query = events_between(query, where.start, where.end)
        return await events_page(query, first=first, after=after)

    @strawberry.field
    async def event(self, info: Info, id: strawberry.ID) -> EventType | None:  # noqa: A002
        row = await Event.get_or_none(workspace_id=info.context.workspace.id, id=parse_id(id))
        return EventType.of(row) if row is not None else None
