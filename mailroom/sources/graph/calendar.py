"""The default calendar of a Microsoft 365 mailbox kept in the store through Graph's
calendarView delta, over a window that rolls with time (`calendar_days_back` before now to
`calendar_days_ahead` after).

The calendar's cursor (`CalendarCursor` "default") holds the `link` to follow: a round's next
link, or the delta link the next round starts from (none: a full round is due); the round's
window (`start`, `end`); `full` while a full round runs, and `sweep` from its end until what it
did not see again is removed. Each page is stored with the cursor's move in one transaction
(`apply_events`), so a crash or a restart continues with the page it was on.

- A full round (the first; after a 410, the delta state lost; and when the window has rolled
  `roll` days past the one synced, since a calendarView's window is fixed when its round
  begins) raises the sync generation, and at its end the copies it did not see again are
  removed: only those of events that had not ended before the window's start, since a past
  meeting that fell out of the window is history, not deleted.
- `@removed` entries leave the view: deleted, or moved out of its range. Graph also reports
  as removed what changed outside the range, so the removal of an event stored as having ended
  before the window is ignored: history again.
- An event made private is removed, whenever it was; a cancelled one is kept as cancelled.
- Item key: the Graph event id (immutable ids, `IdType="ImmutableId"`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, time, timedelta
from typing import Any
from uuid import UUID

from mailroom import logs
from mailroom.intake.events import EventItem, EventReport, apply_events, calendar_cursor
from mailroom.models import EventCopy, Mailbox, Member
from mailroom.models.bulk import chunked
from mailroom.settings import Settings
from mailroom.sources.graph.client import GraphClient
from mailroom.sources.graph.errors import DeltaExpired, ProtocolError
from mailroom.sources.graph.events import Entry, EventPage, Unreadable, read_entry

log = logging.getLogger(__name__)

CALENDAR = "default"
MAX_PAGES = 2000  # a pass's pages: a server linking page after page forever is refused
SWEEP_CHUNK = 500  # removals stored in one transaction


@dataclass(frozen=True, slots=True)
class Position:
    """Where the calendar's sync is (the cursor's state)."""

    link: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    full: bool = False  # a full round under way
    sweep: bool = False  # a full round ended; its sweep not yet done

    @classmethod
    def of(cls, state: dict[str, Any]) -> Position:
        link = state.get("link")
        return cls(
            link if isinstance(link, str) else None,
            _instant(state.get("start")),
            _instant(state.get("end")),
            state.get("full") is True,
            state.get("sweep") is True,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "link": self.link,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "full": self.full,
            "sweep": self.sweep,
        }


@dataclass(slots=True)
class CalendarPass:
    """What one pass did."""

    report: EventReport = field(default_factory=EventReport)
    full: bool = False  # a full round began (first sync, resync, the window rolled)
    pages: int = 0
    unreadable: int = 0  # entries skipped, unreadable
    history: int = 0  # removals of past events ignored

    @property
    def changed(self) -> bool:
        report = self.report
        return bool(self.full or report.new or report.updated or report.removed)


class GraphCalendarSync:
    """Syncs one mailbox's default calendar through `client`. Call `run` for a pass."""

    def __init__(
        self,
        mailbox: Mailbox,
        client: GraphClient,
        settings: Settings,
        *,
        now: Callable[[], datetime] | None = None,
        beat: Callable[[], Awaitable[object]] | None = None,
        max_pages: int = MAX_PAGES,
    ) -> None:
        self.mailbox = mailbox
        self.client = client
        self.settings = settings
        self.now = now or (lambda: datetime.now(UTC))
        self.beat = beat  # after each page: the supervisor's lease must not lapse meanwhile
        self.max_pages = max_pages
        self._owner: frozenset[str] = frozenset()

    @property
    def roll(self) -> timedelta:
        """How far the window may fall behind before a new round re-baselines it: a week, or
        less for a short window."""
        return timedelta(days=min(7.0, max(1.0, self.settings.calendar_days_ahead / 10)))

    async def run(self) -> CalendarPass:
        done = CalendarPass()
        self._owner = await _owner_addresses(self.mailbox)
        cursor = await calendar_cursor(self.mailbox.id, CALENDAR)
        position = Position.of(cursor.state or {})
        if position.sweep:  # a pass ended between a full round's last page and its sweep
            position = await self._sweep(position, cursor.generation, done)
        generation: int | None = None
        if self._due(position):
            position, generation = self._fresh(), cursor.generation + 1
        try:
            await self._follow(position, generation, done)
        except DeltaExpired as expired:
            log.info(
                "Graph calendar delta expired: the calendar is listed again",
                extra=logs.fields(mailbox=self.mailbox.address, error=str(expired)),
            )
            cursor = await calendar_cursor(self.mailbox.id, CALENDAR)
            await self._follow(self._fresh(), cursor.generation + 1, done)
        return done

    async def _follow(self, position: Position, generation: int | None, done: CalendarPass) -> None:
        """Follow the position's link (or begin a round) to the round's delta link; with
        `generation`, a full round begins and marks what it sees with it."""
        if generation is not None:
            done.full = True
        link = position.link
        while True:
            if done.pages >= self.max_pages:
                raise ProtocolError(
                    f"Graph's calendar delta ran past {self.max_pages} pages in one pass"
                )
            page = await self.client.calendar_delta(link, _window(position))
            done.pages += 1
            if page.next_link is not None and page.next_link == link:
                raise ProtocolError("Graph's calendar delta links a page to itself")
            items = await self._items(page, position, done)
            last = page.delta_link is not None
            position = replace(
                position,
                link=page.next_link or page.delta_link,
                full=position.full and not last,
                sweep=position.full and last,
            )
            done.report.merge(
                await apply_events(
                    self.mailbox,
                    CALENDAR,
                    items,
                    generation=generation,
                    state=position.to_json(),
                    max_attendees=self.settings.calendar_max_attendees,
                )
            )
            if self.beat is not None:
                await self.beat()
            link = position.link
            if last:
                break
        if position.sweep:
            cursor = await calendar_cursor(self.mailbox.id, CALENDAR)
            await self._sweep(position, cursor.generation, done)

    async def _items(
        self, page: EventPage, position: Position, done: CalendarPass
    ) -> list[EventItem]:
        """The page's entries as items, in their order (the last word on an item wins)."""
        seen: list[Entry] = []
        unreadable: list[Unreadable] = []
        for raw in page.entries:
            read = read_entry(raw, self._owner)
            if isinstance(read, Unreadable):
                unreadable.append(read)
            else:
                seen.append(read)
        if unreadable:
            done.unreadable += len(unreadable)
            log.warning(
                "Graph calendar events skipped, unreadable",
                extra=logs.fields(
                    mailbox=self.mailbox.address,
                    count=len(unreadable),
                    item=unreadable[0].id,
                    reason=unreadable[0].reason,
                ),
            )
        removed = [entry.id for entry in seen if entry.event is None and not entry.private]
        past = await self._past(removed, position.start)
        done.history += len(past)
        return [
            EventItem(e.id, e.event)
            for e in seen
            if e.event is not None or e.private or e.id not in past
        ]

    async def _past(self, items: list[str], start: datetime | None) -> set[str]:
        """Those of `items` whose stored event ended by `start`: history, kept."""
        past: set[str] = set()
        if start is None:
            return past
        for chunk in chunked(items):
            rows = await EventCopy.filter(
                mailbox_id=self.mailbox.id,
                calendar=CALENDAR,
                item__in=chunk,
                event__ends_at__lte=start,
            ).values_list("item", flat=True)
            past |= {str(item) for item in rows}
        return past

    async def _sweep(self, position: Position, generation: int, done: CalendarPass) -> Position:
        """After a full round of `generation`: remove the copies it did not see again, but
        those of events that ended before its window."""
        rows = await EventCopy.filter(
            mailbox_id=self.mailbox.id, calendar=CALENDAR, generation__lt=generation
        ).values_list("item", "event__ends_at")
        start = position.start
        stale = sorted(str(item) for item, ends in rows if start is None or ends > start)
        swept = replace(position, sweep=False)
        chunks = list(chunked(stale, SWEEP_CHUNK)) or [[]]
        for number, chunk in enumerate(chunks, start=1):
            done.report.merge(
                await apply_events(
                    self.mailbox,
                    CALENDAR,
                    [EventItem(item, None) for item in chunk],
                    generation=generation,
                    state=swept.to_json() if number == len(chunks) else None,
                    max_attendees=self.settings.calendar_max_attendees,
                )
            )
        return swept

    def _due(self, position: Position) -> bool:
        """Whether a new full round must begin: none under way and none to follow, or the
        window synced has rolled too far from the one wanted."""
        if position.link is None or position.start is None or position.end is None:
            return True
        if position.full:
            return False  # a round under way is finished first
        start, end = self._wanted()
        return end - position.end > self.roll or position.start - start > self.roll

    def _fresh(self) -> Position:
        start, end = self._wanted()
        return Position(None, start, end, full=True)

    def _wanted(self) -> tuple[datetime, datetime]:
        """The window now, in whole days (UTC), so that its links stay the same all day."""
        today = datetime.combine(self.now().astimezone(UTC).date(), time(0), tzinfo=UTC)
        back = timedelta(days=self.settings.calendar_days_back)
        ahead = timedelta(days=self.settings.calendar_days_ahead + 1)
        return today - back, today + ahead


async def calendar_due(mailbox_id: UUID, every: float, now: datetime | None = None) -> bool:
    """Whether the calendar's next pass is due: a round to finish, or `every` seconds since
    the last one."""
    cursor = await calendar_cursor(mailbox_id, CALENDAR)
    position = Position.of(cursor.state or {})
    if position.link is None or position.full or position.sweep or cursor.synced_at is None:
        return True
    return (now or datetime.now(UTC)) - cursor.synced_at >= timedelta(seconds=every)


async def _owner_addresses(mailbox: Mailbox) -> frozenset[str]:
    owner = await Member.get(id=mailbox.owner_id)
    return frozenset([*owner.addresses, mailbox.address.lower()])


def _window(position: Position) -> tuple[datetime, datetime] | None:
    if position.start is None or position.end is None:
        return None
    return position.start, position.end


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
