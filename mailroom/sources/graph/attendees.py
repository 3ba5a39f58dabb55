"""The people of a Graph event: its attendees and organizer as Mailroom's `Attendee`s.

- An address that is none (Exchange's internal X.500 ones, garbage) leaves its person out,
  with a defect; at most MAX_ATTENDEES are read of an event, however many it lists.
- `type` resource is a resource, and a room when a location of the event books it
  (`locationType` conferenceRoom, `locationEmailAddress`): neither ever becomes a person.
- The calendar owner's own answer (the event's `responseStatus`) replaces what their attendee
  entry says, which Outlook leaves at "none" in an attendee's copy: a meeting they declined is
  then no interaction of theirs.
"""

from __future__ import annotations

from typing import Any

from mailroom.envelope import Attendee, AttendeeKind, Response
from mailroom.parsing.addresses.lists import normalize_address

MAX_ATTENDEES = 1000  # read of one event; Exchange allows 500
MAX_NAME = 2000
RESPONSES = {
    "none": Response.NEEDS_ACTION,
    "notresponded": Response.NEEDS_ACTION,
    "organizer": Response.ACCEPTED,
    "accepted": Response.ACCEPTED,
    "tentativelyaccepted": Response.TENTATIVE,
    "declined": Response.DECLINED,
}


def read_attendees(
    entry: dict[str, Any], owner: frozenset[str], defects: list[str]
) -> tuple[tuple[Attendee, ...], frozenset[str]]:
    """The attendees, and the rooms the locations book (their addresses)."""
    rooms = rooms_of(entry)
    listed = entry.get("attendees") or []
    if not isinstance(listed, list):
        defects.append("attendees is not a list")
        return (), rooms
    if len(listed) > MAX_ATTENDEES:
        defects.append(f"{len(listed)} attendees, the first {MAX_ATTENDEES} read")
    own = RESPONSES.get(str(_field(entry, "responseStatus", "response") or "").lower()[:40])
    found: list[Attendee] = []
    for item in listed[:MAX_ATTENDEES]:
        person = read_person(item, defects)
        if person is None or not isinstance(item, dict):
            continue
        answer = RESPONSES.get(str(_field(item, "status", "response") or "").lower()[:40])
        if person.address in owner and own not in (None, Response.NEEDS_ACTION):
            answer = own  # the owner's copy knows their answer; their entry may not
        kind = str(item.get("type", ""))[:40].lower()
        found.append(
            attending(
                person,
                answer or Response.NEEDS_ACTION,
                rooms,
                resource=kind == "resource",
                optional=kind == "optional",
            )
        )
    return tuple(found), rooms


def read_person(value: object, defects: list[str]) -> Attendee | None:
    """An attendee or organizer's emailAddress; None (with a defect) when it has no address
    (Exchange's internal X.500 ones are none)."""
    email = value.get("emailAddress") if isinstance(value, dict) else None
    if not isinstance(email, dict):
        return None
    raw, name = email.get("address"), email.get("name")
    address = normalize_address(raw) if isinstance(raw, str) and len(raw) <= 320 else None
    if address is None:
        defects.append(f"a person without an address: {str(raw)[:60]!r}")
        return None
    shown = name.strip()[:MAX_NAME] if isinstance(name, str) else ""
    return Attendee(address, shown if shown and shown.lower() != address else None)


def attending(
    person: Attendee,
    response: Response,
    rooms: frozenset[str],
    *,
    resource: bool = False,
    optional: bool = False,
) -> Attendee:
    """The person with their answer and kind: a room when a location books them, a resource
    when Graph says so."""
    kind = AttendeeKind.PERSON
    if person.address in rooms:
        kind = AttendeeKind.ROOM
    elif resource:
        kind = AttendeeKind.RESOURCE
    return Attendee(person.address, person.name, response, kind, optional)


def rooms_of(entry: dict[str, Any]) -> frozenset[str]:
    places = entry.get("locations")
    places = places[:MAX_ATTENDEES] if isinstance(places, list) else []
    rooms = set()
    for place in [entry.get("location"), *places]:
        if isinstance(place, dict) and place.get("locationType") == "conferenceRoom":
            address = place.get("locationEmailAddress")
            if isinstance(address, str) and len(address) <= 320:
                found = normalize_address(address)
                if found:
                    rooms.add(found)
    return frozenset(rooms)


def _field(entry: dict[str, Any], name: str, inner: str) -> object:
    value = entry.get(name)
    return value.get(inner) if isinstance(value, dict) else None
