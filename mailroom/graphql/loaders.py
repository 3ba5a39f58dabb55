"""DataLoaders, made per request: each batches the lookups of one kind that a query's
resolvers ask for, so that a page costs the same few queries however many rows it shows."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import Any, Generic, NamedTuple, TypeVar
from uuid import UUID

from strawberry.dataloader import DataLoader

from mailroom.db import Statement, UUIDs, time_of, uuid_of
from mailroom.envelope import Role
from mailroom.errors import InvalidInputError
from mailroom.graphql.relay import MAX_PAGE
from mailroom.models import (
    Attachment,
    BlocklistEntry,
    Event,
    EventAttendee,
    Member,
    Message,
    Origin,
    Thread,
)
from mailroom.models.bulk import chunked
from mailroom.resolver.rules import WorkspaceRules
from mailroom.resolver.strength import Thresholds
from mailroom.workspace import relationships
from mailroom.workspace.calendar import details_shown
from mailroom.workspace.threads import ThreadView, thread_views
from mailroom.workspace.visibility import Access, Blocklist, Viewer, access

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Pages(Generic[K, V]):
    """A DataLoader keyed by whole pages of keys rather than by key, for the loads a page makes
    for all its rows at once: fifty keys cost a future and a callback each, more than reading
    their rows (bench/RESULTS.md, api), where a page is one. Pages asked for together are still
    read together, each key once."""

    def __init__(self, load: Callable[[Sequence[K]], Awaitable[Sequence[V]]]) -> None:
        async def pages(asked: Sequence[tuple[K, ...]]) -> list[list[V]]:
            keys = list(dict.fromkeys(k for page in asked for k in page))
            found = dict(zip(keys, await load(keys), strict=True))
            return [[found[k] for k in page] for page in asked]

        self.loader = DataLoader(pages)

    async def load_many(self, keys: Sequence[K]) -> list[V]:
        found: list[V] = await self.loader.load(tuple(keys))
        return found

    async def load(self, key: K) -> V:
        return (await self.load_many((key,)))[0]


class Loaders:
    def __init__(
        self,
        viewer: Viewer,
        max_body_bytes: int = 16 * 1024 * 1024,
        levels: Thresholds | None = None,
        team: Callable[[], Awaitable[WorkspaceRules]] | None = None,
    ) -> None:
        self.viewer = viewer
        # The request's workspace rules (the context reads them once); without them, the
        # visibility policy reads the blocklist itself.
        self.team = team
        # Each message's thread, as the message loader read it: access looks at threads, and
        # need not read them again.
        self.threads: dict[UUID, UUID | None] = {}
        self.levels = levels or Thresholds()
        # One moment for the whole request: every score and "next" in an answer is as of it.
        self.now = datetime.now(UTC)
        # Bodies are most of a response's size: a page of 100 emails of 2 MB each would be
        # 400 MB. Each request may carry this much, and is told when it asks for more.
        self.body_budget = max_body_bytes
        workspace = viewer.workspace_id
        self.access = Pages(self._access)
        self.person = Pages(_contacts(PersonRow, workspace))
        self.company = DataLoader(_contacts(CompanyRow, workspace))
        # An email's header fields; its bodies (often most of its row) only when asked for.
        self.message = Pages(self._messages)
        self.bodies = DataLoader(self._bodies)
        self.thread = DataLoader(_by_id(Thread, workspace))
        # A person's addresses, or a page of people's at once (`nodes.with_addresses`).
        self.person_emails = Pages(_grouped("person_email", "person_id", "address", workspace))
        self.company_domains = DataLoader(
            _grouped("company_domain", "company_id", "domain", workspace)
        )
        self.thread_view = DataLoader(self._thread_views, cache_key_fn=lambda t: t.id)
        self.participants = Pages(self._participants)
        self.participant_people = Pages(partial(self._participants, people=True))
        self.attachments = DataLoader(self._attachments)
        self.recent_messages = DataLoader(self._recent_messages)
        self.event_attendees = DataLoader(self._event_attendees)
        self.event_details = DataLoader(self._event_details)
        self.member = DataLoader(_by_id(Member, workspace))
        self.event = DataLoader(_by_id(Event, workspace))
        self.figure = DataLoader(relationships.figures)
        self.upcoming = DataLoader(relationships.upcoming)
        self.next_meeting = DataLoader(self._next_meetings)
        self.connections = DataLoader(self._connections)
        self.explanation = DataLoader(relationships.explanations)

    async def _next_meetings(
        self, keys: Sequence[tuple[relationships.Column, UUID]]
    ) -> list[datetime | None]:
        found: dict[tuple[relationships.Column, UUID], datetime | None] = {}
        for column in {c for c, _ in keys}:
            contacts = [k for c, k in keys if c == column]
            times = await relationships.next_meetings(column, contacts, self.now)
            found.update(((column, c), t) for c, t in zip(contacts, times, strict=True))
        return [found[k] for k in keys]

    async def _connections(
        self, keys: Sequence[tuple[relationships.Column, UUID]]
    ) -> list[list[relationships.Strength]]:
        found: dict[tuple[relationships.Column, UUID], list[relationships.Strength]] = {}
        for column in {c for c, _ in keys}:
            contacts = [k for c, k in keys if c == column]
            strengths = await relationships.connections(column, contacts, self.now, self.levels)
            found.update(((column, c), s) for c, s in zip(contacts, strengths, strict=True))
        return [found[k] for k in keys]

    async def _messages(self, ids: Sequence[UUID]) -> list[MessageRow | None]:
        workspace = self.viewer.workspace_id
        found: dict[UUID, MessageRow] = {}
        for chunk in chunked(list(ids)):
            statement, uuid = Statement(), UUIDs(chunk)
            # By id alone first: SQLite would otherwise walk a workspace-leading index.
            sql = (
                f"SELECT {_MESSAGE_COLUMNS} FROM message"
                f" WHERE id IN ({statement.marks(chunk)})"
                f" AND workspace_id = {statement.mark(workspace)}"
            )
            for values in await statement.tuples(sql):
                row = self._message(values, uuid)
                found[row.id] = row
        return [found.get(i) for i in ids]

    async def newest(self, statement: Statement, chosen: str) -> list[tuple[datetime, MessageRow]]:
        """The messages of the viewer's workspace that `chosen` (a statement of `statement`'s
        marks, giving message_id and sent_at, newest first) picks, each with the sent_at it
        gave: a page's ids and their messages in one statement, where reading them one after
        the other cost a round trip more (on PostgreSQL, more than either read: RESULTS, api).
        """
        sql = (
            f"SELECT {_MESSAGE_COLUMNS}, chosen.sent_at FROM ({chosen}) chosen"
            " JOIN message ON message.id = chosen.message_id"
            f" WHERE message.workspace_id = {statement.mark(self.viewer.workspace_id)}"
        )
        uuid = UUIDs()
        found = [
            (time_of(values[-1]), self._message(values, uuid))
            for values in await statement.tuples(sql)
        ]
        # The newest first, as `chosen` gave them (a join keeps no order).
        found.sort(key=lambda pair: (pair[0], pair[1].id), reverse=True)
        return found

    def _message(self, values: Sequence[Any], uuid: UUIDs) -> MessageRow:
        message_id, sent_at, subject, snippet, thread_id = values[:5]
        row = MessageRow(
            uuid(message_id),
            self.viewer.workspace_id,
            time_of(sent_at),
            subject,
            snippet,
            None if thread_id is None else uuid(thread_id),
        )
        self.threads[row.id] = row.thread_id
        return row

    async def _access(self, ids: Sequence[UUID]) -> list[Access]:
        blocklist = None
        if self.team is not None:
            rules = await self.team()
            blocklist = Blocklist(rules.blocked_addresses, rules.blocked_domains)
        found = await access(self.viewer, ids, threads=self.threads, blocklist=blocklist)
        return [found[i] for i in ids]

    async def _event_attendees(self, ids: Sequence[UUID]) -> list[list[AttendeeRow]]:
        rows: dict[UUID, list[AttendeeRow]] = defaultdict(list)
        for chunk in chunked(list(ids)):
            # At most a page of attendees each: a meeting may have a thousand.
            found = await EventAttendee.filter(
                workspace_id=self.viewer.workspace_id, event_id__in=chunk, position__lt=MAX_PAGE
            ).values_list(
                "event_id",
                "position",
                "address",
                "name",
                "response",
                "kind",
                "organizer",
                "optional",
                "person_id",
            )
            for event_id, *values in found:
                rows[uuid_of(event_id)].append(AttendeeRow(*values))
        return [sorted(rows[i]) for i in ids]

    async def _event_details(self, ids: Sequence[UUID]) -> list[bool]:
        shown = await details_shown(self.viewer, ids)
        return [shown.get(i, False) for i in ids]

    async def _thread_views(self, threads: Sequence[Thread]) -> list[ThreadView]:
        any_blocked = await BlocklistEntry.filter(workspace_id=self.viewer.workspace_id).exists()
        views = await thread_views(self.viewer, list(threads), any_blocked)
        return [views[t.id] for t in threads]

    async def _participants(
        self, ids: Sequence[UUID], people: bool = False
    ) -> list[list[ParticipantRow]]:
        """Each message's participants; with their `people` when asked for, in the same
        statement (a round trip less, which on PostgreSQL costs more than reading a page's
        people twice over: bench/RESULTS.md, api)."""
        # Plain tuples, not models, read by a statement of our own: a page of emails has
        # hundreds of participants, and Tortoise's building and converting would be most of
        # the page's time (bench/RESULTS.md, api).
        rows: dict[UUID, list[ParticipantRow]] = defaultdict(list)
        workspace = self.viewer.workspace_id
        # Their people's columns, of the same workspace as every read of a person; or not even
        # their person's id, which only their people's views use.
        person, joined = "NULL", ""
        if people:
            person = ", ".join(("p.person_id", *(f"c.{c}" for c in PersonRow.COLUMNS)))
            joined = " LEFT JOIN person c ON c.id = p.person_id AND c.workspace_id = p.workspace_id"
        for chunk in chunked(list(ids)):
            statement = Statement()
            sql = (
                f"SELECT p.message_id, p.role, p.position, p.address, p.domain, p.name, {person}"
                f" FROM participant p{joined}"
            )
            # At most a page of each role: a message may name fifty thousand addresses, and
            # a page of such messages must not read them all.
            sql += (
                f" WHERE p.message_id IN ({statement.marks(chunk)})"
                f" AND p.workspace_id = {statement.mark(workspace)}"
                f" AND p.position < {statement.mark(MAX_PAGE)}"
            )
            # The same few messages and people come back row after row.
            uuid = UUIDs(chunk)
            made: dict[UUID, PersonRow] = {}
            for found in await statement.tuples(sql):
                message_id, role, position, address, domain, name, person_id = found[:7]
                contact = None
                if person_id is not None:
                    person_id = uuid(person_id)
                    contact = made.get(person_id)
                    if contact is None and found[7] is not None:
                        contact = made[person_id] = PersonRow(person_id, workspace, found[7:])
                rows[uuid(message_id)].append(
                    ParticipantRow(_ROLE[role], position, address, domain, name, person_id, contact)
                )
        # In the order of the headers a mail client shows: From, Sender, Reply-To, To, Cc, Bcc.
        return [sorted(rows[i], key=_header_order) for i in ids]

    async def _bodies(
        self, ids: Sequence[UUID]
    ) -> list[tuple[str | None, str | None] | InvalidInputError]:
        found: dict[UUID, tuple[str | None, str | None]] = {}
        for chunk in chunked(list(ids)):
            rows = await Message.filter(
                workspace_id=self.viewer.workspace_id, id__in=chunk
            ).values_list("id", "text", "html")
            for message_id, text, html in rows:
                found[uuid_of(message_id)] = (text, html)
        result: list[tuple[str | None, str | None] | InvalidInputError] = []
        for message_id in ids:
            text, html = found.get(message_id, (None, None))
            self.body_budget -= _size(text) + _size(html)
            if self.body_budget < 0:
                result.append(InvalidInputError(_TOO_MUCH_BODY))
            else:
                result.append((text, html))
        return result

    async def _attachments(self, ids: Sequence[UUID]) -> list[list[Attachment]]:
        rows: dict[UUID, list[Attachment]] = defaultdict(list)
        for chunk in chunked(list(ids)):
            for row in await Attachment.filter(message_id__in=chunk).order_by("position"):
                rows[row.message_id].append(row)
        return [rows[i] for i in ids]

    async def _recent_messages(self, keys: Sequence[tuple[UUID, int]]) -> list[list[MessageRow]]:
        """The latest `n` messages of each person, newest first. One timeline is a walk of the
        participant index that stops at the limit, joined to its messages; many are one
        windowed query for all of them, and their messages read together."""
        limit = max(n for _, n in keys)
        people = sorted({p for p, _ in keys})
        if len(people) == 1:
            statement = Statement()
            chosen = (
                "SELECT DISTINCT message_id, sent_at FROM participant"
                f" WHERE person_id = {statement.mark(people[0])}"
                f" ORDER BY sent_at DESC, message_id DESC LIMIT {statement.mark(limit)}"
            )
            newest = [row for _, row in await self.newest(statement, chosen)]
            return [newest[:n] for _, n in keys]
        latest: dict[UUID, list[UUID]] = defaultdict(list)
        for chunk in chunked(people):
            for person_id, message_id in await _latest_per_person(chunk, limit):
                latest[person_id].append(message_id)
        ids = list(dict.fromkeys(m for found in latest.values() for m in found))
        rows = dict(zip(ids, await self.message.load_many(ids), strict=True))
        return [[row for m in latest[p][:n] if (row := rows[m]) is not None] for p, n in keys]


T = TypeVar("T")
_ROLES = {r: n for n, r in enumerate(Role)}
_ROLE = {r.value: r for r in Role}
_TOO_MUCH_BODY = (
    "this response would carry more email bodies than one response may: ask for fewer emails "
    "per page, or for their snippets instead of text and html"
)


class _Column(Generic[T]):
    """A column of a row read by hand, converted from what the driver gave when it is read:
    a page names hundreds of people and shows a few of their columns, and converting them all
    (UUIDs above all) was a tenth of a page's time (bench/RESULTS.md, api)."""

    def __init__(self, index: int, convert: Callable[[Any], T]) -> None:
        self.index = index
        self.convert = convert

    def __get__(self, row: ContactRow, owner: type | None = None) -> T | None:
        value = row.values[self.index]
        return None if value is None else self.convert(value)


class _Required(_Column[T]):
    """A column that is never null."""

    def __get__(self, row: ContactRow, owner: type | None = None) -> T:
        return self.convert(row.values[self.index])


_CONTACT = (
    "id",
    "name",
    "first_interaction_at",
    "last_interaction_at",
    "first_email_at",
    "last_email_at",
    "first_meeting_at",
    "last_meeting_at",
    "origin",
    "origin_rule",
    "origin_message_id",
    "origin_mailbox_id",
)


class ContactRow:
    """A person's or company's row as a statement read its `COLUMNS` (in order): its id and
    workspace, which the reader knows already, and the rest as the driver gave them."""

    __slots__ = ("id", "values", "workspace_id")
    COLUMNS: tuple[str, ...] = _CONTACT
    TABLE = ""

    def __init__(self, row_id: UUID, workspace_id: UUID, values: Sequence[Any]) -> None:
        self.id = row_id
        self.workspace_id = workspace_id
        self.values = values

    first_interaction_at = _Column(2, time_of)
    last_interaction_at = _Column(3, time_of)
    first_email_at = _Column(4, time_of)
    last_email_at = _Column(5, time_of)
    first_meeting_at = _Column(6, time_of)
    last_meeting_at = _Column(7, time_of)
    origin = _Required(8, Origin)
    origin_rule = _Column(9, str)
    origin_message_id = _Column(10, uuid_of)
    origin_mailbox_id = _Column(11, uuid_of)


class CompanyRow(ContactRow):
    """A company's columns that the API shows (CompanyType and its Contact figures)."""

    __slots__ = ()
    TABLE = "company"
    name = _Required(1, str)


class PersonRow(ContactRow):
    """A person's columns that the API shows (PersonType and its Contact figures)."""

    __slots__ = ()
    TABLE = "person"
    COLUMNS = (*_CONTACT, "company_id")
    name = _Column(1, str)
    company_id = _Column(12, uuid_of)


class ParticipantRow(NamedTuple):
    role: Role
    position: int
    address: str
    domain: str  # registrable
    name: str | None
    # Its person, when read with it (`Loaders.participant_people`), else None.
    person_id: UUID | None
    person: PersonRow | None


class AttendeeRow(NamedTuple):
    position: int
    address: str
    name: str | None
    response: str
    kind: str
    organizer: bool
    optional: bool
    person_id: UUID | None


def _header_order(row: ParticipantRow) -> tuple[int, int]:
    return _ROLES[row.role], row.position


MESSAGE_FIELDS = ("id", "workspace_id", "sent_at", "subject", "snippet", "thread_id")
_MESSAGE_COLUMNS = ", ".join(f"message.{c}" for c in MESSAGE_FIELDS if c != "workspace_id")


class MessageRow(NamedTuple):
    """An email's header fields (`MESSAGE_FIELDS`), as the loader reads them for a page; its
    bodies only when asked for."""

    id: UUID
    workspace_id: UUID
    sent_at: datetime
    subject: str | None
    snippet: str
    thread_id: UUID | None


def _by_id(model: Any, workspace_id: UUID, fields: Sequence[str] = ()) -> Any:
    async def load(ids: Sequence[UUID]) -> list[Any]:
        found: dict[UUID, Any] = {}
        for chunk in chunked(list(ids)):
            query = model.filter(workspace_id=workspace_id, id__in=chunk)
            for row in await (query.only(*fields) if fields else query):
                found[row.id] = row
        return [found.get(i) for i in ids]

    return load


R = TypeVar("R", bound=ContactRow)


def _contacts(
    kind: type[R], workspace_id: UUID
) -> Callable[[Sequence[UUID]], Awaitable[list[R | None]]]:
    """People or companies by id, hundreds at a time as a page of emails names them: read by a
    statement of our own, as rows (`Loaders._messages` says why)."""

    async def load(ids: Sequence[UUID]) -> list[R | None]:
        found: dict[UUID, R] = {}
        for chunk in chunked(list(ids)):
            statement = Statement()
            sql = (
                f"SELECT {', '.join(kind.COLUMNS)} FROM {kind.TABLE}"
                f" WHERE id IN ({statement.marks(chunk)})"
                f" AND workspace_id = {statement.mark(workspace_id)}"
            )
            uuid = UUIDs(chunk)
            for values in await statement.tuples(sql):
                row_id = uuid(values[0])
                found[row_id] = kind(row_id, workspace_id, values)
        return [found.get(i) for i in ids]

    return load


def _grouped(table: str, key: str, value: str, workspace_id: UUID) -> Any:
    """Each owner's values of `table` (a person's addresses, a company's domains), oldest first:
    read by a statement of our own, as `_contacts`."""

    async def load(ids: Sequence[UUID]) -> list[list[str]]:
        found: dict[UUID, list[str]] = defaultdict(list)
        for chunk in chunked(list(ids)):
            statement = Statement()
            sql = (
                f"SELECT {key}, {value} FROM {table}"
                f" WHERE workspace_id = {statement.mark(workspace_id)}"
                f" AND {key} IN ({statement.marks(chunk)}) ORDER BY created_at"
            )
            uuid = UUIDs(chunk)
            for owner, item in await statement.tuples(sql):
                found[uuid(owner)].append(item)
        return [found[i] for i in ids]

    return load


async def _latest_per_person(people: list[UUID], limit: int) -> list[tuple[UUID, UUID]]:
    """(person, message) for each person's `limit` latest messages, read from the participant
    index (person_id, sent_at, message_id) alone. A window function has no Tortoise form."""
    statement = Statement()
    sql = (
        "SELECT person_id, message_id FROM ("
        " SELECT person_id, message_id, ROW_NUMBER() OVER ("
        "  PARTITION BY person_id ORDER BY sent_at DESC, message_id DESC) AS n FROM ("
        "   SELECT DISTINCT person_id, message_id, sent_at FROM participant"
        f"   WHERE person_id IN ({statement.marks(people)})) seen"
        f") ranked WHERE n <= {statement.mark(limit)} ORDER BY person_id, n"
    )
    return [(uuid_of(p), uuid_of(m)) for p, m in await statement.tuples(sql)]


def _size(body: str | None) -> int:
    return len(body.encode("utf-8", "replace")) if body else 0
