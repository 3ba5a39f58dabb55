"""The XML bodies Mailroom sends a CalDAV server: PROPFIND for discovery and etag listings,
REPORT sync-collection (RFC 6578) and calendar-multiget (RFC 4791 7.9). Written with
ElementTree, so that an href or a token from the server is escaped, never spliced in (the
namespaces get ElementTree's own prefixes: no global registration at import)."""

from __future__ import annotations

from collections.abc import Iterable
from xml.etree import ElementTree

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CALSERVER = "http://calendarserver.org/ns/"


def clark(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


# What discovery asks of the URL given, a principal, a home and each of its members.
DISCOVERY_PROPS = (
    clark(DAV, "resourcetype"),
    clark(DAV, "displayname"),
    clark(DAV, "current-user-principal"),
    clark(CALDAV, "calendar-home-set"),
    clark(CALDAV, "supported-calendar-component-set"),
    clark(DAV, "supported-report-set"),
    clark(DAV, "sync-token"),
    clark(CALSERVER, "getctag"),
)
ETAG_PROPS = (clark(DAV, "resourcetype"), clark(DAV, "getetag"))


def propfind(props: Iterable[str]) -> bytes:
    root = ElementTree.Element(clark(DAV, "propfind"))
    _props(root, props)
    return _serialized(root)


def sync_collection(token: str) -> bytes:
    """Every member changed since `token` (all of them for an empty token), with its etag."""
    root = ElementTree.Element(clark(DAV, "sync-collection"))
    ElementTree.SubElement(root, clark(DAV, "sync-token")).text = token
    ElementTree.SubElement(root, clark(DAV, "sync-level")).text = "1"
    _props(root, (clark(DAV, "getetag"),))
    return _serialized(root)


def calendar_multiget(hrefs: Iterable[str]) -> bytes:
    root = ElementTree.Element(clark(CALDAV, "calendar-multiget"))
    _props(root, (clark(DAV, "getetag"), clark(CALDAV, "calendar-data")))
    for href in hrefs:
        ElementTree.SubElement(root, clark(DAV, "href")).text = href
    return _serialized(root)


def _props(root: ElementTree.Element, props: Iterable[str]) -> None:
    prop = ElementTree.SubElement(root, clark(DAV, "prop"))
    for name in props:
        ElementTree.SubElement(prop, name)


def _serialized(root: ElementTree.Element) -> bytes:
    written: bytes = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True)
    return written
