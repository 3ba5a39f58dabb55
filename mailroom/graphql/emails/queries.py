"""Reading emails and threads: every query is scoped to the viewer's workspace, so an id from
another workspace finds nothing, exactly like an id that does not exist."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import strawberry
from tortoise.expressions import Q, Subquery
from tortoise.queryset import QuerySet

from mailroom.graphql.context import Info
from mailroom.graphql.emails.types import EmailFilter, EmailType, ThreadType, seen
from mailroom.graphql.ids import parse_id
from mailroom.graphql.relay import Connection, connection_of, decode, encode, page_size, paginate
from mailroom.models import CompanyDomain, Message, MessageCopy, Participant, PersonEmail, Thread


def emails_query(workspace_id: UUID, where: EmailFilter | None) -> QuerySet[Message]:
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
        query = query.filter(id__in=Subquery(_company_messages(workspace_id, where.company)))
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


def _company_messages(workspace_id: UUID, company: strawberry.ID) -> Any:
    """Messages of the company's people, and of anyone at its domains, even without a person
    record (in NONE mode a company made by hand still shows its domain's mail)."""
    company_id = parse_id(company)
    domains = CompanyDomain.filter(workspace_id=workspace_id, company_id=company_id)
    return Participant.filter(
        Q(person__company_id=company_id) | Q(domain__in=Subquery(domains.values("domain"))),
        workspace_id=workspace_id,
    ).values("message_id")


async def company_participants(workspace_id: UUID, company_id: UUID) -> list[QuerySet[Participant]]:
    """The participants that put a message on a company's page: anyone at its domains, person
    or not, and its people's addresses elsewhere (a founder's free-mail address, say). One
    query per domain and address: each walks its own index range in order, where one query
    with OR would make the database sort every row of them all."""
    domains = await CompanyDomain.filter(
        workspace_id=workspace_id, company_id=company_id
    ).values_list("domain", flat=True)
    addresses = await (
        PersonEmail.filter(workspace_id=workspace_id, person__company_id=company_id)
        .exclude(domain__in=list(domains))
        .values_list("address", flat=True)
    )
    by_domain = [Participant.filter(workspace_id=workspace_id, domain=d) for d in domains]
    by_address = [Participant.filter(workspace_id=workspace_id, address=a) for a in addresses]
    return by_domain + by_address


async def timeline(
    info: Info,
    terms: list[QuerySet[Participant]],
    *,
    first: int | None,
    after: str | None,
    where: EmailFilter | None = None,
) -> Connection[EmailType]:
    """A page of the messages of some participants (the union of `terms`), newest first, read
    from the participant indexes (which hold sent_at) rather than by sorting messages. Each
    term gives its own newest; the page is the newest of those together."""
    size = page_size(first)
    found: set[tuple[datetime, UUID]] = set()
    for participants in terms:
        rows = await _newest(participants, size + 1, after, where)
        found.update((sent_at, UUID(str(message_id))) for message_id, sent_at in rows)
    newest = sorted(found, reverse=True)[: size + 1]
    ids = [message_id for _, message_id in newest[:size]]
    messages: list[Message | None] = await info.context.loaders.message.load_many(ids)
    page = [m for m in messages if m is not None]
    return connection_of(
        await seen(info, page), len(newest) > size, [encode(m.sent_at, m.id) for m in page]
    )


async def _newest(
    participants: QuerySet[Participant], limit: int, after: str | None, where: EmailFilter | None
) -> list[tuple[Any, Any]]:
    if where is not None and where.sent_after is not None:
        participants = participants.filter(sent_at__gte=where.sent_after)
    if where is not None and where.sent_before is not None:
        participants = participants.filter(sent_at__lt=where.sent_before)
    if after is not None:
        sent_at, row_id = decode(after)
        # The plain bound lets the index range start at the cursor; the OR settles ties.
        participants = participants.filter(sent_at__lte=sent_at).filter(
            Q(sent_at__lt=sent_at) | Q(sent_at=sent_at, message_id__lt=row_id)
        )
    rows: list[tuple[Any, Any]] = await (
        participants.order_by("-sent_at", "-message_id")
        .distinct()
        .limit(limit)
        .values_list("message_id", "sent_at")
    )
    return rows


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
                terms = [
                    Participant.filter(workspace_id=workspace_id, person_id=parse_id(filter.person))
                ]
            else:
                terms = await company_participants(workspace_id, parse_id(filter.company or ""))
            return await timeline(info, terms, first=first, after=after, where=filter)
        query = emails_query(workspace_id, filter)
        page = await paginate(
            query, first=first, after=after, key="sent_at", descending=True, convert=lambda m: m
        )
        nodes = await seen(info, page.nodes)
        return connection_of(nodes, page.page_info.has_next_page, [e.cursor for e in page.edges])

    @strawberry.field
    async def thread(self, info: Info, id: strawberry.ID) -> ThreadType | None:  # noqa: A002
        thread = await Thread.get_or_none(workspace_id=info.context.workspace.id, id=parse_id(id))
        return ThreadType.of(thread) if thread is not None else None
