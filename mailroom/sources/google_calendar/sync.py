"""One Google account's primary calendar brought up to date: the first sync over a window,
increments from its sync token, the resync after a 410, and the window kept ahead of now.

The cursor (the CalendarCursor "primary" of the mailbox) holds in its `state`:

- while the window is listed (a first sync, or a resync): `listing` (`time_min`, `time_max`,
  `page_token`, `resync`);
- then `sync_token`, where increments continue, and `window_end`, how far ahead occurrences
  were listed; `page_token` while an increment is paged; `extending` while the window is
  listed further ahead; `sweep` after a resync's last page until what it did not see is gone.

Each page is stored together with its move of the cursor, in one transaction
(`apply_events`): a crash resumes at the page it was on, and an item stored twice is one copy.
While a page is stored, the next is fetched.

Google's increments hold every changed item wherever it falls in time: a sync token does not
remember the window of the listing it came from, and a changed series comes with all its
instances, years ahead for one without end. An occurrence outside the window (before now -
days_back, or after `window_end`) is stored only when the calendar holds it already, so that
stored meetings stay current and the store does not fill with a series' far future. As time
passes, the window is listed ahead again (`timeMin`/`timeMax`, no sync token) every week, so
that the occurrences it reaches are stored though nothing changed them.

A resync raises the cursor's generation; what it did not see again is swept away at its end.
Cancelled items (a deleted event, a cancelled instance) and private ones remove their copy.
Each pass reads at most `max_pages` pages; one cut short continues at the next pass.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import Q

from mailroom.intake.events import (
    EventItem,
    EventReport,
    apply_events,
    calendar_cursor,
    sweep_events,
)
from mailroom.models import EventCopy, Mailbox
from mailroom.sources.google_calendar.client import GoogleCalendarClient, rfc3339
from mailroom.sources.google_calendar.errors import ProtocolError, SyncTokenExpired
from mailroom.sources.google_calendar.resources import EventPage

log = logging.getLogger(__name__)

CALENDAR = "primary"
MAX_PAGES = 400  # a pass's pages: 200,000 occurrences at 500 a page
EXTEND_EVERY = timedelta(days=7)
Fetch = Callable[[str | None], Coroutine[Any, Any, EventPage]]
Apply = Callable[[EventPage], Awaitable[None]]


@dataclass(slots=True)
class CalendarPass:
    """What one pass did."""

    report: EventReport = field(default_factory=EventReport)
    pages: int = 0
    read: int = 0  # items read, of every kind
    skipped: int = 0  # items that could not be read (a broken or hostile answer)
    outside: int = 0  # changed occurrences outside the window, not stored
    full: bool = False  # the window was listed (a first sync or a resync)
    resynced: bool = False  # after a 410
    finished: bool = True  # False: the page bound cut the pass short


class GoogleCalendarSync:
    """Syncs the primary calendar of `mailbox` through `client`. Call `run` for a pass."""

    def __init__(
        self,
        mailbox: Mailbox,
        client: GoogleCalendarClient,
        *,
        days_back: int = 730,
        days_ahead: int = 365,
        max_attendees: int = 50,
        max_pages: int = MAX_PAGES,
        beat: Callable[[], Awaitable[object]] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.mailbox = mailbox
        self.client = client
        self.back = timedelta(days=days_back)
        self.ahead = timedelta(days=days_ahead)
        self.max_attendees = max_attendees
        self.max_pages = max_pages
        # Called after each stored page: the mailbox's lease must not lapse meanwhile.
        self.beat = beat
        self.clock = clock
        self.state: dict[str, Any] = {}
        self.generation = 0

    async def run(self) -> CalendarPass:
        done = CalendarPass()
        cursor = await calendar_cursor(self.mailbox.id, CALENDAR)
        self.state, self.generation = dict(cursor.state or {}), cursor.generation
        try:
            await self._advance(done)
        except SyncTokenExpired as expired:
            log.info(
                "Google Calendar sync token expired: listing the window again",
                extra={"mailbox": self.mailbox.address, "error": str(expired)},
            )
            done.resynced = True
            await self._begin_listing(resync=True)
            await self._advance(done)
        return done

    async def _advance(self, done: CalendarPass) -> None:
        if "sweep" in self.state:
            await self._sweep(done)
        if "sync_token" not in self.state:
            if "listing" not in self.state:
                await self._begin_listing(resync=False)
            if not await self._list(done):
                return
        if not await self._increments(done):
            return
        if "extending" not in self.state and self._extension_due():
            await self._begin_extension()
        if "extending" in self.state:
            await self._extend(done)

    # The window: a first sync, a resync.

    async def _begin_listing(self, *, resync: bool) -> None:
        now = self.clock()
        listing = {
            "time_min": rfc3339(now - self.back),
            "time_max": rfc3339(now + self.ahead),
            "page_token": None,
            "resync": resync,
        }
        await self._save({"listing": listing}, self.generation + 1 if resync else None)

    async def _list(self, done: CalendarPass) -> bool:
        done.full = True
        listing = dict(self.state["listing"])
        time_min, time_max = _moment(listing["time_min"]), _moment(listing["time_max"])

        async def fetch(token: str | None) -> EventPage:
            return await self.client.events(page_token=token, time_min=time_min, time_max=time_max)

        async def apply(page: EventPage) -> None:
            items = [EventItem(e.key, e.event) for e in page.entries]
            if page.next_page_token is not None:
                state: dict[str, Any] = {"listing": {**listing, "page_token": page.next_page_token}}
            else:
                state = {"sync_token": page.next_sync_token, "window_end": listing["time_max"]}
                if listing.get("resync"):
                    state["sweep"] = True
            await self._store(items, page, state, done)

        finished = await self._walk(fetch, listing.get("page_token"), apply, done)
        if finished and "sweep" in self.state:
            await self._sweep(done)
        return finished

    async def _sweep(self, done: CalendarPass) -> None:
        since = self.clock() - self.back
        done.report.merge(await sweep_events(self.mailbox, CALENDAR, self.generation, since=since))
        await self._save({k: v for k, v in self.state.items() if k != "sweep"})

    # Increments from the sync token.

    async def _increments(self, done: CalendarPass) -> bool:
        token = str(self.state["sync_token"])

        async def fetch(page_token: str | None) -> EventPage:
            return await self.client.events(sync_token=token, page_token=page_token)

        async def apply(page: EventPage) -> None:
            items = await self._changed(page, done)
            kept = {k: v for k, v in self.state.items() if k not in ("sync_token", "page_token")}
            if page.next_page_token is not None:
                state = {**kept, "sync_token": token, "page_token": page.next_page_token}
            else:
                state = {**kept, "sync_token": page.next_sync_token}
            await self._store(items, page, state, done)

        return await self._walk(fetch, self.state.get("page_token"), apply, done)

    async def _changed(self, page: EventPage, done: CalendarPass) -> list[EventItem]:
        """The page's items to apply: every removal; occurrences in the window, or held."""
        held = await self._held([e.key for e in page.entries if e.event is not None])
        start, end = self.clock() - self.back, self._window_end()
        items: list[EventItem] = []
        for entry in page.entries:
            event = entry.event
            if event is None or entry.key in held or (event.start < end and event.end > start):
                items.append(EventItem(entry.key, event))
            else:
                done.outside += 1
        # A deleted series may come as its master's id alone: its instances go with it.
        masters = [e.key for e in page.entries if e.cancelled and e.series is None]
        items += [EventItem(key, None) for key in await self._instances_held(masters)]
        return items

    async def _held(self, keys: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(keys), 500):
            rows = await EventCopy.filter(
                mailbox_id=self.mailbox.id, calendar=CALENDAR, item__in=keys[start : start + 500]
            ).values_list("item", flat=True)
            found |= {str(row) for row in rows}
        return found

    async def _instances_held(self, masters: list[str]) -> list[str]:
        found: list[str] = []
        for start in range(0, len(masters), 100):
            chunk = masters[start : start + 100]
            match = Q(*[Q(item__startswith=f"{key}_") for key in chunk], join_type="OR")
            rows = await EventCopy.filter(
                match, mailbox_id=self.mailbox.id, calendar=CALENDAR
            ).values_list("item", flat=True)
            # startswith may be a LIKE, where _ matches any character: checked again here.
            found += [str(r) for r in rows if any(str(r).startswith(f"{k}_") for k in chunk)]
        return found

    # The window kept ahead of now.

    def _window_end(self) -> datetime:
        end = self.state.get("window_end")
        return _moment(end) if isinstance(end, str) else self.clock() + self.ahead

    def _extension_due(self) -> bool:
        return self._window_end() < self.clock() + self.ahead - EXTEND_EVERY

    async def _begin_extension(self) -> None:
        extending = {
            "time_min": rfc3339(self._window_end()),
            "time_max": rfc3339(self.clock() + self.ahead),
            "page_token": None,
        }
        await self._save({**self.state, "extending": extending})

    async def _extend(self, done: CalendarPass) -> bool:
        extending = dict(self.state["extending"])
        time_min, time_max = _moment(extending["time_min"]), _moment(extending["time_max"])

        async def fetch(token: str | None) -> EventPage:
            return await self.client.events(page_token=token, time_min=time_min, time_max=time_max)

        async def apply(page: EventPage) -> None:
            items = [EventItem(e.key, e.event) for e in page.entries]
            if page.next_page_token is not None:
                following = {**extending, "page_token": page.next_page_token}
                state = {**self.state, "extending": following}
            else:  # the sync token stays: it already holds every change since it was issued
                state = {k: v for k, v in self.state.items() if k != "extending"}
                state["window_end"] = extending["time_max"]
            await self._store(items, page, state, done)

        return await self._walk(fetch, extending.get("page_token"), apply, done)

    # Paging and storing.

    async def _walk(
        self, fetch: Fetch, token: str | None, apply: Apply, done: CalendarPass
    ) -> bool:
        """Apply the pages from `token` on, each fetched while the one before is stored. False
        when the pass's page bound stopped it (the cursor says where to continue)."""
        seen = {token}
        ahead: asyncio.Task[EventPage] | None = asyncio.create_task(fetch(token))
        try:
            while ahead is not None:
                page = await ahead
                ahead = None
                done.pages += 1
                following = page.next_page_token
                if following is not None and following in seen:
                    raise ProtocolError(
                        "Google Calendar answered a page token it had given already: the "
                        "listing would never end"
                    )
                seen.add(following)
                if following is not None and done.pages < self.max_pages:
                    ahead = asyncio.create_task(fetch(following))
                await apply(page)
                if following is not None and ahead is None:
                    done.finished = False
                    return False
            return True
        finally:
            if ahead is not None:
                ahead.cancel()
                await asyncio.gather(ahead, return_exceptions=True)

    async def _store(
        self, items: list[EventItem], page: EventPage, state: dict[str, Any], done: CalendarPass
    ) -> None:
        report = await apply_events(
            self.mailbox,
            CALENDAR,
            items,
            generation=self.generation,
            state=state,
            max_attendees=self.max_attendees,
        )
        done.report.merge(report)
        done.read += len(page.entries) + len(page.skipped)
        if page.skipped:
            done.skipped += len(page.skipped)
            log.warning(
                "Google Calendar items skipped: they cannot be read",
                extra={
                    "mailbox": self.mailbox.address,
                    "count": len(page.skipped),
                    "first": page.skipped[0],
                },
            )
        self.state = state
        if self.beat is not None:
            await self.beat()

    async def _save(self, state: dict[str, Any], generation: int | None = None) -> None:
        """Move the cursor alone (no items): through the intake, which owns it."""
        if generation is not None:
            self.generation = generation
        await apply_events(self.mailbox, CALENDAR, [], generation=self.generation, state=state)
        self.state = state


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
