"""One calendar (collection) of a CalDAV pass, brought up to date.

By RFC 6578's sync-collection where the collection supports it: the members changed since the
cursor's sync token (all of them from an empty token), removed ones as 404, a truncated listing
as 507 on the collection itself (asked again from the token it gave, at most MAX_ROUNDS times a
pass; a listing that goes on past that, or truncates without moving its token, is a
ProtocolError). Otherwise by its `getctag` (unchanged: nothing to do) and the etags of a Depth 1
PROPFIND against those the cursor kept. Changed members are fetched by calendar-multiget in
batches and read into occurrences (`resources`); `apply_events` stores each batch, and the last
one moves the cursor in the same transaction.

A full listing (the first, an invalid sync token, or once a week as the window rolls forward)
runs under a new generation and sweeps, at its end, the items it did not see again: no
duplicates, nothing left behind. A full sync-collection listing cut short (a failed pass)
keeps the generation to sweep in the cursor, and the next pass sweeps when it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from mailroom.intake.events import (
    CalendarRules,
    EventReport,
    apply_events,
    calendar_cursor,
    sweep_events,
)
from mailroom.models import CalendarCursor, Mailbox
from mailroom.models.bulk import chunked
from mailroom.sources.caldav.bodies import DAV, ETAG_PROPS, clark
from mailroom.sources.caldav.client import MAX_MEMBERS, CalDavClient, ReportRefused, path_of
from mailroom.sources.caldav.discovery import Collection
from mailroom.sources.caldav.errors import ProtocolError, SyncTokenInvalid
from mailroom.sources.caldav.multistatus import Multistatus
from mailroom.sources.caldav.resources import fetch, resource_items

log = logging.getLogger(__name__)
MAX_ROUNDS = 100  # sync-collection rounds of one calendar in one pass
MULTIGET_BATCH = 50
MAX_HREF = 500  # an item is its resource's href and an occurrence's start
REBASELINE = timedelta(days=7)  # occurrences a year ahead enter the window within a week
GETETAG = clark(DAV, "getetag")
RESOURCETYPE = clark(DAV, "resourcetype")
COLLECTION = clark(DAV, "collection")

Beat = Callable[[], Awaitable[object]]


@dataclass(slots=True)
class CalendarPass:
    """What one pass did, over all the account's calendars."""

    calendars: int = 0
    events: EventReport = field(default_factory=EventReport)
    fetched: int = 0  # resources read
    unreadable: int = 0  # resources that could not be read (too large, refused)
    resynced: int = 0  # calendars listed in full
    forgotten: int = 0  # calendars gone from the server, their events removed

    @property
    def changed(self) -> bool:
        e = self.events
        return bool(e.new or e.updated or e.removed or e.deleted or self.forgotten)


@dataclass(slots=True)
class Position:
    """Where a sync-collection listing stands: the token to ask from, the generation its items
    are marked with, the generation to sweep when it ends (a full listing), its baseline."""

    token: str
    generation: int
    sweep: int | None
    baseline: str


class CollectionSync:
    """One calendar of the pass."""

    def __init__(
        self,
        mailbox: Mailbox,
        client: CalDavClient,
        collection: Collection,
        rules: CalendarRules,
        done: CalendarPass,
        *,
        now: datetime,
        beat: Beat,
    ) -> None:
        self.mailbox = mailbox
        self.client = client
        self.collection = collection
        self.calendar = collection.href
        self.rules = rules
        self.done = done
        self.now = now
        self.beat = beat

    async def run(self) -> None:
        cursor = await calendar_cursor(self.mailbox.id, self.calendar)
        state = dict(cursor.state or {})
        full = self._full_due(state)
        refused = bool(state.get("refused"))  # sync-collection, by this collection before
        if self.collection.supports_sync and not refused:
            try:
                await self._by_token(cursor, state, full or state.get("mode") != "sync")
                return
            except ReportRefused as error:
                log.info("sync-collection refused, etags instead", extra={"error": str(error)})
                full = refused = True
        await self._by_etags(cursor, state, full or state.get("mode") != "etag", refused)

    def _full_due(self, state: dict[str, Any]) -> bool:
        baseline = _moment(state.get("baseline"))
        return baseline is None or self.now - baseline >= REBASELINE

    async def _by_token(self, cursor: CalendarCursor, state: dict[str, Any], full: bool) -> None:
        if full:
            position = self._fresh(cursor)
        else:
            sweep = state.get("sweep")
            position = Position(
                str(state.get("token") or ""),
                cursor.generation,
                int(sweep) if isinstance(sweep, int) else None,
                str(state.get("baseline")),
            )
        for _ in range(MAX_ROUNDS):
            try:
                listing = await self.client.sync_collection(self.collection.url, position.token)
            except SyncTokenInvalid:
                if not position.token:
                    raise ProtocolError(
                        f"the CalDAV server refused the empty sync token of {self.calendar}"
                    ) from None
                log.info("sync token refused: listing again", extra={"calendar": self.calendar})
                position = self._fresh(cursor)
                continue
            if await self._round(listing, position):
                return
        raise ProtocolError(
            f"the CalDAV server's listing of {self.calendar} did not end in {MAX_ROUNDS} rounds"
        )

    def _fresh(self, cursor: CalendarCursor) -> Position:
        """A full listing: from an empty token, under a new generation swept at its end."""
        self.done.resynced += 1
        generation = cursor.generation + 1
        return Position("", generation, generation, self.now.isoformat())

    async def _round(self, listing: Multistatus, position: Position) -> bool:
        """Store one round of the listing and move the cursor; whether the listing ended."""
        changed, gone, truncated = self._changes(listing)
        token = listing.sync_token
        if token is None:
            raise ProtocolError(f"the CalDAV server gave no sync token for {self.calendar}")
        moved: dict[str, Any] = {"mode": "sync", "token": token, "baseline": position.baseline}
        if truncated and position.sweep is not None:
            moved["sweep"] = position.sweep  # the listing goes on in the next round or pass
        await self._store(changed, gone, position.generation, moved)
        if not truncated:
            if position.sweep is not None:
                swept = await sweep_events(self.mailbox, self.calendar, position.sweep)
                self.done.events.merge(swept)
            return True
        if token == position.token:
            raise ProtocolError(
                f"the CalDAV server truncated the listing of {self.calendar} without moving "
                "its sync token"
            )
        position.token = token
        return False

    def _changes(self, listing: Multistatus) -> tuple[list[str], list[str], bool]:
        """The members changed and removed, and whether the listing was truncated (507 on
        the collection itself)."""
        changed: list[str] = []
        gone: list[str] = []
        truncated = False
        for member in listing.members:
            href = self._href(member.href)
            if href is None:
                continue
            if href == self.calendar or href.endswith("/"):
                truncated = truncated or member.status == 507
                continue
            if member.status == 404:
                gone.append(href)
            elif member.status is None:
                changed.append(href)
        return list(dict.fromkeys(changed)), list(dict.fromkeys(gone)), truncated

    async def _by_etags(
        self, cursor: CalendarCursor, state: dict[str, Any], full: bool, refused: bool
    ) -> None:
        ctag = self.collection.ctag
        if not full and ctag is not None and state.get("ctag") == ctag:
            return
        listing = await self.client.propfind(self.collection.url, ETAG_PROPS, "1")
        current: dict[str, str] = {}
        for member in listing.members:
            href = self._href(member.href)
            if href is None or href == self.calendar or href.endswith("/"):
                continue
            if member.status is None and not member.holds(RESOURCETYPE, COLLECTION):
                current[href] = (member.text(GETETAG) or "")[:200]
        if len(current) > MAX_MEMBERS:
            raise ProtocolError(f"{self.calendar} holds more than {MAX_MEMBERS} resources")
        before: dict[str, str] = {} if full else dict(state.get("etags") or {})
        changed = [h for h, etag in current.items() if not etag or before.get(h) != etag]
        gone = [h for h in before if h not in current]
        generation = cursor.generation + 1 if full else cursor.generation
        baseline = self.now.isoformat() if full else str(state.get("baseline"))
        moved: dict[str, Any] = {
            "mode": "etag",
            "ctag": ctag,
            "etags": current,
            "baseline": baseline,
        }
        if refused:
            moved["refused"] = True
        if full:
            self.done.resynced += 1
        await self._store(changed, gone, generation, moved)
        if full:
            self.done.events.merge(await sweep_events(self.mailbox, self.calendar, generation))

    def _href(self, written: str) -> str | None:
        """A member's path, or None (logged) when it is outside the site or too long."""
        try:
            href = path_of(httpx.URL(self.client.resolve(written, base=self.collection.url)))
        except ProtocolError as error:
            log.warning("calendar member skipped", extra={"error": str(error)})
            return None
        if len(href) > MAX_HREF:
            log.warning("calendar member skipped: href over %d characters", MAX_HREF)
            self.done.unreadable += 1
            return None
        return href

    async def _store(
        self, changed: list[str], gone: list[str], generation: int, state: dict[str, Any]
    ) -> None:
        """Fetch and apply the changed members in batches, then the removed ones with the
        cursor's new state."""
        rules = self.rules
        for batch in chunked(changed, MULTIGET_BATCH):
            fetched = await fetch(self.client, self.collection.url, batch)
            self.done.fetched += len(batch) - len(fetched.unreadable)
            self.done.unreadable += len(fetched.unreadable)
            items = await resource_items(
                self.mailbox.id, self.calendar, fetched.data, rules, self.now
            )
            self.done.events.merge(
                await apply_events(
                    self.mailbox,
                    self.calendar,
                    items,
                    generation=generation,
                    max_attendees=rules.max_attendees,
                )
            )
            await self.beat()
        items = await resource_items(
            self.mailbox.id, self.calendar, dict.fromkeys(gone), rules, self.now
        )
        self.done.events.merge(
            await apply_events(
                self.mailbox,
                self.calendar,
                items,
                generation=generation,
                state=state,
                max_attendees=rules.max_attendees,
            )
        )


def _moment(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
