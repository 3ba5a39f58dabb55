"""From the URL a member gave to the event calendars behind it (RFC 4791 6, RFC 5397).

The URL may be a calendar collection itself, or a calendar home, or a principal, or a server's
root that names the principal (`current-user-principal`). From a principal Mailroom follows its
`calendar-home-set`, and lists the home's members one level down: the collections whose
`resourcetype` says calendar and whose `supported-calendar-component-set` (when given) holds
VEVENT. A collection supports RFC 6578's sync-collection when it says so in
`supported-report-set`, or has a `sync-token`; otherwise it is synced by `getctag` and etags.
At most a few requests, and at most MAX_CALENDARS calendars.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import httpx

from mailroom.sources.caldav.bodies import CALDAV, CALSERVER, DAV, DISCOVERY_PROPS, clark
from mailroom.sources.caldav.client import SERVICE, CalDavClient, path_of
from mailroom.sources.caldav.errors import ProtocolError
from mailroom.sources.caldav.multistatus import Member, Multistatus

log = logging.getLogger(__name__)
MAX_CALENDARS = 100
MAX_HOMES = 4
MAX_NAME = 255  # a calendar's href names it in cursors and copies

RESOURCETYPE = clark(DAV, "resourcetype")
CALENDAR = clark(CALDAV, "calendar")
HOME_SET = clark(CALDAV, "calendar-home-set")
PRINCIPAL = clark(DAV, "current-user-principal")
COMPONENTS = clark(CALDAV, "supported-calendar-component-set")
COMP = clark(CALDAV, "comp")
REPORTS = clark(DAV, "supported-report-set")
SYNC_COLLECTION = clark(DAV, "sync-collection")
SYNC_TOKEN = clark(DAV, "sync-token")
CTAG = clark(CALSERVER, "getctag")
DISPLAYNAME = clark(DAV, "displayname")


@dataclass(frozen=True, slots=True)
class Collection:
    """One event calendar: where it is, its path (its name in cursors), what it says of its
    state."""

    url: str
    href: str
    name: str | None = None
    ctag: str | None = None
    sync_token: str | None = None
    supports_sync: bool = False


async def discover(client: CalDavClient) -> list[Collection]:
    """The event calendars at the account's URL; a ProtocolError when there are none."""
    url = client.resolve(client.account.url)
    own = _own(await client.propfind(url, DISCOVERY_PROPS, "0"), client, url)
    if own is not None and own.holds(RESOURCETYPE, CALENDAR):
        found = _collection(own, client, url)
        if found is None:
            raise ProtocolError(f"the calendar at {client.account.url} holds no events")
        return [found]
    homes = own.hrefs(HOME_SET) if own is not None else []
    principals = own.hrefs(PRINCIPAL) if own is not None else []
    if not homes and principals:
        principal = client.resolve(principals[0], base=url)
        if principal != url:
            listing = await client.propfind(principal, (HOME_SET,), "0")
            found_principal = _own(listing, client, principal)
            homes = found_principal.hrefs(HOME_SET) if found_principal is not None else []
            url = principal
    places = [client.resolve(home, base=url) for home in homes[:MAX_HOMES]] or [url]
    calendars: dict[str, Collection] = {}
    for home in places:
        listing = await client.propfind(home, DISCOVERY_PROPS, "1")
        for member in listing.members:
            if member.holds(RESOURCETYPE, CALENDAR):
                collection = _collection(member, client, home)
                if collection is not None:
                    calendars.setdefault(collection.href, collection)
    if not calendars:
        raise ProtocolError(f"{SERVICE} has no event calendar at {client.account.url}")
    if len(calendars) > MAX_CALENDARS:
        log.warning("%d calendars, the first %d synced", len(calendars), MAX_CALENDARS)
    return sorted(calendars.values(), key=lambda c: c.href)[:MAX_CALENDARS]


def _own(listing: Multistatus, client: CalDavClient, url: str) -> Member | None:
    """The listing's member for `url` itself (a Depth 0 answer may carry only that one)."""
    path = path_of(httpx.URL(url))
    for member in listing.members:
        try:
            if path_of(httpx.URL(client.resolve(member.href, base=url))) == path:
                return member
        except ProtocolError:
            continue
    return listing.members[0] if len(listing.members) == 1 else None


def _collection(member: Member, client: CalDavClient, base: str) -> Collection | None:
    """The member as an event calendar; None if it holds no events or cannot be named."""
    offered = member.props.get(COMPONENTS)
    if offered is not None:
        names = {(comp.get("name") or "").upper() for comp in offered.iter(COMP)}
        if "VEVENT" not in names:
            return None
    try:
        url = client.resolve(member.href, base=base)
    except ProtocolError as error:
        log.warning("calendar skipped: %s", error)
        return None
    href = path_of(httpx.URL(url))
    if len(href) > MAX_NAME:
        log.warning("calendar skipped: its href is longer than %d characters", MAX_NAME)
        return None
    reports = member.props.get(REPORTS)
    token = member.text(SYNC_TOKEN)
    supports = token is not None or (
        reports is not None and reports.find(f".//{SYNC_COLLECTION}") is not None
    )
    return Collection(
        url=url,
        href=href,
        name=member.text(DISPLAYNAME),
        ctag=_bounded(member.text(CTAG)),
        sync_token=_bounded(token),
        supports_sync=supports,
    )


def _bounded(text: str | None) -> str | None:
    return text[:2000] if text is not None else None
