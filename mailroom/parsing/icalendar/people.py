"""The organizer and attendees of an iCalendar event (ORGANIZER, ATTENDEE) as `Attendee`s.

The address is the calendar address without its `mailto:`, normalized like any mail address;
a value that is no address is skipped with a defect. CN is the name, PARTSTAT the response,
CUTYPE tells rooms, resources and groups from people, ROLE whether they are optional.
"""

from __future__ import annotations

import re
from typing import Any

from icalendar import Component

from mailroom.envelope import Attendee, AttendeeKind, Response
from mailroom.parsing.addresses.lists import normalize_address
from mailroom.parsing.icalendar.text import shown

_RESPONSES = {
    "NEEDS-ACTION": Response.NEEDS_ACTION,
    "ACCEPTED": Response.ACCEPTED,
    "TENTATIVE": Response.TENTATIVE,
    "DECLINED": Response.DECLINED,
    # Handed to someone else: this attendee will not come.
    "DELEGATED": Response.DECLINED,
}
_KINDS = {
    "ROOM": AttendeeKind.ROOM,
    "RESOURCE": AttendeeKind.RESOURCE,
    "GROUP": AttendeeKind.GROUP,
}
_OPTIONAL_ROLES = {"OPT-PARTICIPANT", "NON-PARTICIPANT"}
_SPACES = re.compile(r"[\x00-\x20\x7f]+")


def read_organizer(component: Component, defects: list[str]) -> Attendee | None:
    for value in values(component, "ORGANIZER")[:1]:
        found = _attendee(value, "ORGANIZER", defects)
        if found is not None:
            return Attendee(address=found.address, name=found.name, response=Response.ACCEPTED)
    return None


def read_attendees(component: Component, defects: list[str]) -> tuple[Attendee, ...]:
    """The attendees in order, each address once (the first mention wins)."""
    found: dict[str, Attendee] = {}
    for value in values(component, "ATTENDEE"):
        attendee = _attendee(value, "ATTENDEE", defects)
        if attendee is not None:
            found.setdefault(attendee.address, attendee)
    return tuple(found.values())


def values(component: Component, name: str) -> list[Any]:
    """The values of property `name`, which icalendar gives as one value or a list."""
    value = component.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _attendee(value: Any, what: str, defects: list[str]) -> Attendee | None:
    text = str(value).strip()
    if text[:7].lower() == "mailto:":
        text = text[7:].strip()
    address = normalize_address(text)
    if address is None:
        defects.append(f"{what} {shown(text)!r} is not an address: skipped")
        return None
    params = getattr(value, "params", {})
    name = _name(params.get("CN"))
    return Attendee(
        address=address,
        # Google writes the address as the name of an attendee it has no name for.
        name=None if name is not None and name.lower() in (address, text.lower()) else name,
        response=_RESPONSES.get(_param(params, "PARTSTAT"), Response.NEEDS_ACTION),
        kind=_KINDS.get(_param(params, "CUTYPE"), AttendeeKind.PERSON),
        optional=_param(params, "ROLE") in _OPTIONAL_ROLES,
    )


def _param(params: Any, name: str) -> str:
    value = params.get(name)
    if isinstance(value, list):  # a parameter given twice
        value = value[0] if value else None
    return str(value).strip().upper() if value else ""


def _name(value: Any) -> str | None:
    if isinstance(value, list):
        value = value[0] if value else None
    if not value:
        return None
    return _SPACES.sub(" ", str(value)).strip() or None
