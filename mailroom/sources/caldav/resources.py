"""Calendar resources: fetched in bounded batches (calendar-multiget), and read into the items of
a calendar (one per occurrence).

A batch whose answer is too large, or not readable XML, is split in two until it fits; a
resource alone in such an answer is asked for with GET (as it is, no XML around it), and so is
one the server leaves out of a multiget. One too large even so, or that GET cannot fetch
either, is unreadable: it holds no events (what it held before is removed) and is counted.

An item is the resource's href for a single event, or its href, "#" and the occurrence's
original start in UTC for an occurrence of a series (`item_key`), so that the items of one
resource are found again by their href (`items_of`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from uuid import UUID

import httpx
from tortoise.expressions import Q

from mailroom.envelope import CalendarEvent
from mailroom.intake.events import CalendarRules, EventItem
from mailroom.models import EventCopy
from mailroom.sources.caldav.bodies import CALDAV, DAV, clark
from mailroom.sources.caldav.client import CalDavClient, path_of
from mailroom.sources.caldav.errors import ProtocolError, TooLargeError
from mailroom.sources.caldav.multistatus import UnreadableXml

log = logging.getLogger(__name__)
CALENDAR_DATA = clark(CALDAV, "calendar-data")
GETETAG = clark(DAV, "getetag")
MAX_RESOURCE = 4 * 1024 * 1024  # one resource's calendar data, as the parser takes it
LOOKUP_CHUNK = 50  # hrefs whose stored items one query finds


@dataclass(slots=True)
class Fetched:
    """A batch's resources by href: their calendar data, or None when gone or unreadable."""

    data: dict[str, bytes | None] = field(default_factory=dict)
    unreadable: list[str] = field(default_factory=list)


async def fetch(client: CalDavClient, collection_url: str, hrefs: Sequence[str]) -> Fetched:
    """The calendar data of `hrefs` (paths in the collection)."""
    fetched = Fetched()
    await _multiget(client, collection_url, list(hrefs), fetched)
    return fetched


async def _multiget(
    client: CalDavClient, collection_url: str, hrefs: list[str], fetched: Fetched
) -> None:
    try:
        answer = await client.multiget(collection_url, hrefs)
    except (TooLargeError, UnreadableXml) as error:
        # One resource can spoil a batch (too large, or data XML cannot carry): halve it until
        # that one is alone, then ask for that one with GET, which carries it as it is.
        if len(hrefs) > 1:
            half = len(hrefs) // 2
            await _multiget(client, collection_url, hrefs[:half], fetched)
            await _multiget(client, collection_url, hrefs[half:], fetched)
        elif isinstance(error, UnreadableXml):
            await _get(client, collection_url, hrefs[0], fetched)
        else:
            _unreadable(fetched, hrefs[0], "larger than an answer may be")
        return
    wanted = set(hrefs)
    for member in answer.members:
        try:
            href = path_of(httpx.URL(client.resolve(member.href, base=collection_url)))
        except ProtocolError:
            continue
        if href not in wanted or href in fetched.data:
            continue
        if member.status == 404:
            fetched.data[href] = None
            continue
        data = member.text(CALENDAR_DATA)
        if member.status is None and data is not None:
            fetched.data[href] = data.encode("utf-8", "replace")
    for href in hrefs:
        if href not in fetched.data:
            await _get(client, collection_url, href, fetched)


async def _get(client: CalDavClient, collection_url: str, href: str, fetched: Fetched) -> None:
    """A resource the multiget left out, asked for alone."""
    try:
        answer = await client.get(client.resolve(href, base=collection_url), MAX_RESOURCE)
    except TooLargeError:
        _unreadable(fetched, href, "larger than a calendar resource may be")
        return
    if answer.status in (404, 410):
        fetched.data[href] = None
    elif 200 <= answer.status < 300:
        fetched.data[href] = answer.body
    else:
        _unreadable(fetched, href, f"GET answered {answer.status}")


def _unreadable(fetched: Fetched, href: str, why: str) -> None:
    log.warning("calendar resource unreadable", extra={"href": href[:200], "reason": why})
    fetched.data[href] = None
    fetched.unreadable.append(href)


def item_key(href: str, event: CalendarEvent, *, several: bool = False) -> str:
    """`href`, or `href#START` for an occurrence (its original start in UTC). A resource
    should hold one UID (RFC 4791 4.1); one that holds `several` keys each by a digest of its
    UID too, so that its events do not take one another's place."""
    if several:
        href = f"{href}#{hashlib.sha256(event.uid.encode('utf-8', 'replace')).hexdigest()[:16]}"
    if event.recurrence_id is None:
        return href
    return f"{href}#{event.recurrence_id.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"


def read_resources(
    data: dict[str, bytes | None], rules: CalendarRules, now: datetime
) -> dict[str, dict[str, CalendarEvent]]:
    """Each resource's occurrences by item key (CPU work: run it off the event loop)."""
    # icalendar and its recurrence expansion load when a calendar is first read, not with
    # every command that builds the services.
    from mailroom.parsing.icalendar import read_calendar

    start, end = rules.window(now)
    found: dict[str, dict[str, CalendarEvent]] = {}
    for href, body in data.items():
        events: dict[str, CalendarEvent] = {}
        if body is not None:
            reading = read_calendar(
                body,
                start=start,
                end=end,
                max_occurrences=rules.max_occurrences,
                max_bytes=MAX_RESOURCE,
            )
            if reading.defects and not reading.events:
                log.info("calendar resource without events", extra={"href": href[:200]})
            several = len({event.uid for event in reading.events}) > 1
            for event in reading.events:
                events[item_key(href, event, several=several)] = event
        found[href] = events
    return found


async def items_of(mailbox_id: UUID, calendar: str, hrefs: Iterable[str]) -> dict[str, set[str]]:
    """The items stored for each of these resources of the calendar."""
    wanted = list(dict.fromkeys(hrefs))
    found: dict[str, set[str]] = {href: set() for href in wanted}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        prefixes = Q(*[Q(item__startswith=href) for href in chunk], join_type="OR")
        rows = await EventCopy.filter(
            prefixes, mailbox_id=mailbox_id, calendar=calendar
        ).values_list("item", flat=True)
        for item in (str(row) for row in rows):
            href = item.split("#", 1)[0]
            if href in found:
                found[href].add(item)
    return found


async def resource_items(
    mailbox_id: UUID,
    calendar: str,
    data: dict[str, bytes | None],
    rules: CalendarRules,
    now: datetime,
) -> list[EventItem]:
    """The items to apply for these resources: their occurrences now, and None for each item
    they held before and hold no more."""
    read = await asyncio.to_thread(read_resources, data, rules, now)
    before = await items_of(mailbox_id, calendar, data)
    items: list[EventItem] = []
    for href, events in read.items():
        items.extend(EventItem(item, None) for item in sorted(before[href] - events.keys()))
        items.extend(EventItem(item, event) for item, event in events.items())
    return items
