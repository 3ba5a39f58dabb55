"""Pages of the emails of some participants, newest first: what `emails` filtered by a person or
a company, a person's `messages` and a company's `emails` all show. They are message rows; the
types turn them into emails as the viewer sees them (`types.seen`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from mailroom.graphql.context import Info
from mailroom.graphql.loaders import MessageRow
from mailroom.graphql.relay import decode, encode, page_size
from mailroom.models import CompanyDomain, Message, Participant, PersonEmail


@dataclass(frozen=True, slots=True)
class Page:
    rows: Sequence[Message | MessageRow]
    has_next: bool
    cursors: list[str]

    @classmethod
    def of(cls, rows: Sequence[Message | MessageRow], has_next: bool) -> Page:
        return cls(rows, has_next, [encode(m.sent_at, m.id) for m in rows])


async def company_reach(
    workspace_id: UUID, company_id: UUID, domains: list[str] | None = None
) -> tuple[list[str], list[str]]:
    """What puts a message on a company's page: anyone at its domains, person or not (in NONE
    mode a company made by hand still shows its domain's mail), and its people's addresses
    elsewhere (a founder's free-mail address, say). Returns (domains, addresses). The
    company's `domains` are read unless given (a page that shows them has them already)."""
    if domains is None:
        found = await CompanyDomain.filter(
            workspace_id=workspace_id, company_id=company_id
        ).values_list("domain", flat=True)
        domains = [str(d) for d in found]
    addresses = await (
        PersonEmail.filter(workspace_id=workspace_id, person__company_id=company_id)
        .exclude(domain__in=domains)
        .values_list("address", flat=True)
    )
    return domains, [str(a) for a in addresses]


async def company_participants(
    workspace_id: UUID, company_id: UUID, domains: list[str] | None = None
) -> list[QuerySet[Participant]]:
    """The participants of `company_reach`, one query per domain and address: each walks its
    own index range in order, where one query with OR would make the database sort every row
    of them all."""
    domains, addresses = await company_reach(workspace_id, company_id, domains)
    by_domain = [Participant.filter(workspace_id=workspace_id, domain=d) for d in domains]
    by_address = [Participant.filter(workspace_id=workspace_id, address=a) for a in addresses]
    return by_domain + by_address


def person_participants(workspace_id: UUID, person_id: UUID) -> list[QuerySet[Participant]]:
    return [Participant.filter(workspace_id=workspace_id, person_id=person_id)]


async def timeline(
    info: Info,
    terms: list[QuerySet[Participant]],
    *,
    first: int | None,
    after: str | None,
    sent_after: datetime | None = None,
    sent_before: datetime | None = None,
) -> Page:
    """A page of the messages of some participants (the union of `terms`), newest first, read
    from the participant indexes (which hold sent_at) rather than by sorting messages. Each
    term gives its own newest; the page is the newest of those together."""
    size = page_size(first)
    found: set[tuple[datetime, UUID]] = set()
    for participants in terms:
        if sent_after is not None:
            participants = participants.filter(sent_at__gte=sent_after)
        if sent_before is not None:
            participants = participants.filter(sent_at__lt=sent_before)
        rows = await _newest(participants, size + 1, after)
        found.update((sent_at, UUID(str(message_id))) for message_id, sent_at in rows)
    newest = sorted(found, reverse=True)[: size + 1]
    ids = [message_id for _, message_id in newest[:size]]
    messages: list[MessageRow | None] = await info.context.loaders.message.load_many(ids)
    return Page.of([m for m in messages if m is not None], len(newest) > size)


async def person_timeline(
    info: Info, person_id: UUID, *, first: int | None, after: str | None
) -> Page:
    """The emails a person took part in, newest first. The first page of many people at once
    comes from one windowed query."""
    if after is not None:
        terms = person_participants(info.context.workspace.id, person_id)
        return await timeline(info, terms, first=first, after=after)
    size = page_size(first)
    ids = await info.context.loaders.recent_emails.load((person_id, size + 1))
    rows = await info.context.loaders.message.load_many(ids)
    return Page.of([r for r in rows if r is not None][:size], len(ids) > size)


async def _newest(
    participants: QuerySet[Participant], limit: int, after: str | None
) -> list[tuple[Any, Any]]:
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
