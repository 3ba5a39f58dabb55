"""Pages of the emails of some participants, newest first: what `emails` filtered by a person or
a company, a person's `messages` and a company's `emails` all show. They are message rows; the
types turn them into emails as the viewer sees them (`types.seen`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple
from uuid import UUID

from mailroom.db import Statement
from mailroom.graphql.context import Info
from mailroom.graphql.loaders import MessageRow
from mailroom.graphql.relay import decode_time, page_size
from mailroom.models import CompanyDomain, Message


@dataclass(frozen=True, slots=True)
class Page:
    rows: Sequence[Message | MessageRow]
    has_next: bool

    @property
    def keys(self) -> list[tuple[datetime, UUID]]:
        return [(m.sent_at, m.id) for m in self.rows]


class Term(NamedTuple):
    """Participants by one indexed column: a person's, a domain's or an address's."""

    column: Literal["person_id", "domain", "address"]
    value: UUID | str


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
    statement = Statement()
    sql = (
        "SELECT e.address FROM person_email e JOIN person p ON p.id = e.person_id"
        f" WHERE e.workspace_id = {statement.mark(workspace_id)}"
        f" AND p.company_id = {statement.mark(company_id)}"
    )
    if domains:
        sql += f" AND e.domain NOT IN ({statement.marks(domains)})"
    return domains, [str(a) for (a,) in await statement.tuples(sql)]


async def company_participants(
    workspace_id: UUID, company_id: UUID, domains: list[str] | None = None
) -> list[Term]:
    """The participants of `company_reach`, one term per domain and address: each walks its
    own index range in order, where one query with OR would make the database sort every row
    of them all."""
    domains, addresses = await company_reach(workspace_id, company_id, domains)
    return [Term("domain", d) for d in domains] + [Term("address", a) for a in addresses]


def person_participants(person_id: UUID) -> list[Term]:
    return [Term("person_id", person_id)]


async def timeline(
    info: Info,
    terms: list[Term],
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
    cursor = decode_time(after) if after is not None else None
    found: dict[tuple[datetime, UUID], MessageRow] = {}
    workspace_id = info.context.workspace.id
    for term in terms:
        statement = Statement()
        chosen = _newest(statement, workspace_id, term, size + 1, cursor, sent_after, sent_before)
        for sent_at, row in await info.context.loaders.newest(statement, chosen):
            found[sent_at, row.id] = row
    newest = sorted(found, reverse=True)[: size + 1]
    return Page([found[key] for key in newest[:size]], len(newest) > size)


async def person_timeline(
    info: Info, person_id: UUID, *, first: int | None, after: str | None
) -> Page:
    """The emails a person took part in, newest first. The first page of many people at once
    comes from one windowed query."""
    if after is not None:
        return await timeline(info, person_participants(person_id), first=first, after=after)
    size = page_size(first)
    rows = await info.context.loaders.recent_messages.load((person_id, size + 1))
    return Page(rows[:size], len(rows) > size)


def _newest(
    statement: Statement,
    workspace_id: UUID,
    term: Term,
    limit: int,
    cursor: tuple[datetime, UUID] | None,
    sent_after: datetime | None,
    sent_before: datetime | None,
) -> str:
    """A statement of the newest `limit` (message_id, sent_at) of the term's participants, past
    the cursor: written by hand (`loaders.Loaders._messages` says why)."""
    sql = (
        "SELECT DISTINCT message_id, sent_at FROM participant"
        f" WHERE workspace_id = {statement.mark(workspace_id)}"
        f" AND {term.column} = {statement.mark(term.value)}"
    )
    if sent_after is not None:
        sql += f" AND sent_at >= {statement.mark(sent_after)}"
    if sent_before is not None:
        sql += f" AND sent_at < {statement.mark(sent_before)}"
    if cursor is not None:
        sent_at, row_id = cursor
        # The plain bound lets the index range start at the cursor; the OR settles ties.
        sql += (
            f" AND sent_at <= {statement.mark(sent_at)} AND (sent_at < {statement.mark(sent_at)}"
            f" OR (sent_at = {statement.mark(sent_at)} AND message_id < {statement.mark(row_id)}))"
        )
    return sql + f" ORDER BY sent_at DESC, message_id DESC LIMIT {statement.mark(limit)}"
