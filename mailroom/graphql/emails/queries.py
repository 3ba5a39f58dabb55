"""Reading emails and threads: every query is scoped to the viewer's workspace, so an id from
another workspace finds nothing, exactly like an id that does not exist."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import strawberry
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from mailroom.graphql.context import Info
from mailroom.graphql.ids import parse_id
from mailroom.graphql.nodes import (
    EmailType,
    ThreadType,
    company_participants,
    company_reach,
    emails_of,
    person_participants,
    seen,
    timeline,
)
from mailroom.graphql.relay import Connection, connection_of, paginate
from mailroom.models import Message, MessageCopy, Participant, Thread


@strawberry.input
class EmailFilter:
    person: strawberry.ID | None = None
    company: strawberry.ID | None = None
    thread: strawberry.ID | None = None
    mailbox: strawberry.ID | None = None
    sent_after: datetime | None = None
    sent_before: datetime | None = None


async def emails_query(workspace_id: UUID, where: EmailFilter | None) -> QuerySet[Message]:
    query = Message.filter(workspace_id=workspace_id)
    if where is None:
        return query
    if where.person is not None:
        query = query.filter(
            id__in=Subquery(
                Participant.filter(
                    workspace_id=workspace_id, person_id=parse_id(where.person)
                ).values("message_id")
            )
        )
    if where.company is not None:
        domains, addresses = await company_reach(workspace_id, parse_id(where.company))
        reached = Participant.filter(
            Q(domain__in=domains) | Q(address__in=addresses), workspace_id=workspace_id
        )
        query = query.filter(id__in=Subquery(reached.values("message_id")))
    if where.thread is not None:
        query = query.filter(thread_id=parse_id(where.thread))
    if where.mailbox is not None:
        query = query.filter(
            id__in=Subquery(
                MessageCopy.filter(
                    workspace_id=workspace_id, mailbox_id=parse_id(where.mailbox)
                ).values("message_id")
            )
        )
    if where.sent_after is not None:
        query = query.filter(sent_at__gte=where.sent_after)
    if where.sent_before is not None:
        query = query.filter(sent_at__lt=where.sent_before)
    return query


def _by_participants(where: EmailFilter | None) -> bool:
    """Whether the filter names one person or one company and nothing else but dates."""
    if where is None or where.thread is not None or where.mailbox is not None:
        return False
    return (where.person is None) != (where.company is None)


@strawberry.type
class EmailQueries:
    @strawberry.field
    async def emails(
        self,
        info: Info,
        first: int | None = 20,
        after: str | None = None,
        filter: EmailFilter | None = None,  # noqa: A002 - the API's name
    ) -> Connection[EmailType]:
        """Newest first."""
        workspace_id = info.context.workspace.id
        if filter is not None and _by_participants(filter):
            if filter.person is not None:
                terms = person_participants(parse_id(filter.person))
            else:
                terms = await company_participants(workspace_id, parse_id(filter.company or ""))
            found = await timeline(
                info,
                terms,
                first=first,
                after=after,
                sent_after=filter.sent_after,
                sent_before=filter.sent_before,
            )
            return await emails_of(info, found)
        query = await emails_query(workspace_id, filter)
        page = await paginate(
            query, first=first, after=after, key="sent_at", descending=True, convert=lambda m: m
        )
        nodes = await seen(info, page.nodes)
        return connection_of(nodes, page.page_info.has_next_page, page.keys)

    @strawberry.field
    async def thread(self, info: Info, id: strawberry.ID) -> ThreadType | None:  # noqa: A002
        thread = await Thread.get_or_none(workspace_id=info.context.workspace.id, id=parse_id(id))
        return ThreadType.of(thread) if thread is not None else None
