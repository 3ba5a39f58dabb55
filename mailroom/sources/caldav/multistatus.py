"""WebDAV's 207 Multi-Status answers (RFC 4918 13), read safely.

The body is bounded before it gets here (the client reads no more than its limit); it is parsed
by defusedxml, which refuses a DTD outright, and with it entity expansion (billion laughs,
quadratic blowup) and external entities (a server making Mailroom read a file or a URL). What
is not a multistatus, or not XML, is a ProtocolError; members beyond `max_members` are one too,
rather than a listing held whole in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from mailroom.sources.caldav.bodies import DAV, clark
from mailroom.sources.caldav.errors import ProtocolError

MULTISTATUS = clark(DAV, "multistatus")
RESPONSE = clark(DAV, "response")
HREF = clark(DAV, "href")
STATUS = clark(DAV, "status")
PROPSTAT = clark(DAV, "propstat")
PROP = clark(DAV, "prop")
SYNC_TOKEN = clark(DAV, "sync-token")
MAX_TOKEN = 2000  # characters of a sync token or ctag kept in a cursor


class UnreadableXml(ProtocolError):
    """An answer that is not XML, or XML that is refused (a DTD, entities)."""


@dataclass(frozen=True, slots=True)
class Member:
    """One href of the answer: its own status (404 for a member removed since a sync token,
    507 for a truncated listing) or the properties the server found for it (200)."""

    href: str
    status: int | None = None
    props: Mapping[str, Element] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        found = self.props.get(name)
        if found is None or found.text is None:
            return None
        return found.text.strip() or None

    def hrefs(self, name: str) -> list[str]:
        """The DAV:href values inside a property (a principal, a home set)."""
        found = self.props.get(name)
        if found is None:
            return []
        return [h.text.strip() for h in found.iter(HREF) if h.text and h.text.strip()]

    def holds(self, name: str, child: str) -> bool:
        """Whether property `name` has an element `child` (a resourcetype's calendar)."""
        found = self.props.get(name)
        return found is not None and found.find(child) is not None


@dataclass(frozen=True, slots=True)
class Multistatus:
    members: tuple[Member, ...]
    sync_token: str | None = None


def read_multistatus(body: bytes, *, max_members: int, service: str) -> Multistatus:
    root = parse_xml(body, service)
    if root.tag != MULTISTATUS:
        raise ProtocolError(f"{service} answered {root.tag!r} where a multistatus belongs")
    members: list[Member] = []
    for response in root.iterfind(RESPONSE):
        members.extend(_members(response))
        if len(members) > max_members:
            raise ProtocolError(f"{service} listed more than {max_members} members in one answer")
    token = root.findtext(SYNC_TOKEN)
    token = token.strip() if token is not None else None
    if token is not None and len(token) > MAX_TOKEN:
        raise ProtocolError(f"{service} sent a sync token of {len(token)} characters")
    return Multistatus(tuple(members), token or None)


def parse_xml(body: bytes, service: str) -> Element:
    try:
        root: Element = fromstring(body, forbid_dtd=True)
    except DefusedXmlException as error:
        raise UnreadableXml(f"{service} sent XML that is refused: {error!r}") from error
    except (ParseError, ValueError) as error:
        raise UnreadableXml(f"{service} sent an answer that is not XML: {error}") from error
    return root


def _members(response: Element) -> list[Member]:
    hrefs = [h.text.strip() for h in response.iterfind(HREF) if h.text and h.text.strip()]
    if not hrefs:
        return []
    status = _status(response.findtext(STATUS))
    if status is not None:
        return [Member(href, status) for href in hrefs]
    props: dict[str, Element] = {}
    for propstat in response.iterfind(PROPSTAT):
        if _status(propstat.findtext(STATUS)) != 200:
            continue  # 404: the server has no such property
        for prop in propstat.iterfind(PROP):
            for value in prop:
                props[value.tag] = value
    return [Member(hrefs[0], None, props)]


def _status(line: str | None) -> int | None:
    """The code of an HTTP status line ("HTTP/1.1 404 Not Found")."""
    if line is None:
        return None
    parts = line.split()
    if len(parts) >= 2 and parts[1].isdigit() and len(parts[1]) == 3:
        return int(parts[1])
    return 0  # a status that says nothing usable: not a success
