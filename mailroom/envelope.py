"""The normalized envelope: what every edge's bytes become before they are stored.

`gateway.normalize.normalize` builds these from raw bytes; `gateway.ingest` stores them. They are
frozen so that one envelope can be handed to storage, the resolver and the API without anyone
changing it underneath the others.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Role(StrEnum):
    """The header an address was found in."""

    FROM = "FROM"
    SENDER = "SENDER"
    REPLY_TO = "REPLY_TO"
    TO = "TO"
    CC = "CC"
    BCC = "BCC"


class DateSource(StrEnum):
    """Where `Envelope.date` came from, most trustworthy first."""

    HEADER = "header"
    RECEIVED = "received"
    ARRIVAL = "arrival"


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox from an address header.

    `address` is the normalized form used as a key everywhere: lowercased, its domain mapped
    through IDNA (UTS #46) to Unicode form. `name` is the decoded display name as written (it may
    look like an address; it is never used as one).
    """

    address: str
    name: str | None = None

    @property
    def local_part(self) -> str:
        return self.address.rpartition("@")[0]

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True, slots=True)
class Attachment:
    """Metadata of one attachment or inline part; the bytes stay in the raw message."""

    filename: str | None
    content_type: str
    size: int
    sha256: str
    inline: bool
    content_id: str | None = None


@dataclass(frozen=True, slots=True)
class CalendarPart:
    """A `text/calendar` part, kept whole for the calendar sync to read."""

    method: str | None
    text: str
    size: int


class EventStatus(StrEnum):
    CONFIRMED = "CONFIRMED"
    TENTATIVE = "TENTATIVE"
    CANCELLED = "CANCELLED"


class Response(StrEnum):
    """An attendee's answer to an invitation (iCalendar PARTSTAT, Google responseStatus,
    Graph responseStatus.response), in one vocabulary."""

    NEEDS_ACTION = "NEEDS_ACTION"
    ACCEPTED = "ACCEPTED"
    TENTATIVE = "TENTATIVE"
    DECLINED = "DECLINED"


class AttendeeKind(StrEnum):
    """Who an attendee is (iCalendar CUTYPE): rooms, resources and groups never become
    people."""

    PERSON = "PERSON"
    ROOM = "ROOM"
    RESOURCE = "RESOURCE"
    GROUP = "GROUP"


@dataclass(frozen=True, slots=True)
class Attendee:
    """One attendee or organizer of an event; `address` normalized as `Address.address`."""

    address: str
    name: str | None = None
    response: Response = Response.NEEDS_ACTION
    kind: AttendeeKind = AttendeeKind.PERSON
    optional: bool = False

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """One occurrence of a meeting, normalized from any source (Google Calendar, Graph,
    iCalendar).

    `uid` is the iCalendar UID the meeting has in every calendar that holds it, and
    `recurrence_id` the original start (UTC) of an occurrence of a series, None for a single
    event: together they key the event across calendars. `start` and `end` keep the offset
    they were written in; an all-day event starts at midnight UTC of its first day and ends at
    midnight after its last. `private` events are never stored: a source hands them in only
    so that a copy stored before it became private is removed.
    """

    uid: str
    recurrence_id: datetime | None
    start: datetime
    end: datetime
    all_day: bool = False
    summary: str | None = None
    description: str | None = None
    location: str | None = None
    conference: str | None = None  # a link to join the meeting online
    status: EventStatus = EventStatus.CONFIRMED
    organizer: Attendee | None = None
    attendees: tuple[Attendee, ...] = ()
    private: bool = False
    sequence: int = 0
    updated: datetime | None = None
    defects: tuple[str, ...] = ()

    def everyone(self) -> Iterator[Attendee]:
        """The organizer, then the attendees, once per address."""
        seen: set[str] = set()
        for attendee in (self.organizer, *self.attendees):
            if attendee is not None and attendee.address not in seen:
                seen.add(attendee.address)
                yield attendee


@dataclass(frozen=True, slots=True)
class Envelope:
    """One message, normalized.

    Nothing here raises on bad input: what could not be read is absent and explained in
    `defects`.
    """

    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    subject: str | None
    normalized_subject: str
    date: datetime
    date_source: DateSource
    from_: tuple[Address, ...] = ()
    sender: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    bcc: tuple[Address, ...] = ()
    text: str | None = None
    html: str | None = None
    snippet: str = ""
    attachments: tuple[Attachment, ...] = ()
    calendar: tuple[CalendarPart, ...] = ()
    list_id: str | None = None
    list_unsubscribe: str | None = None
    precedence: str | None = None
    auto_submitted: str | None = None
    delivery_report: bool = False
    bulk_signals: tuple[str, ...] = ()
    defects: tuple[str, ...] = ()
    size: int = 0
    headers_only: bool = field(default=False)

    @property
    def bulk(self) -> bool:
        """True when any list, bulk or automated signal was seen."""
        return bool(self.bulk_signals)

    def participants(self) -> Iterator[tuple[Role, Address]]:
        """Every address with the role it was found in, in header order."""
        for role, addresses in (
            (Role.FROM, self.from_),
            (Role.SENDER, self.sender),
            (Role.REPLY_TO, self.reply_to),
            (Role.TO, self.to),
            (Role.CC, self.cc),
            (Role.BCC, self.bcc),
        ):
            for address in addresses:
                yield role, address

    def to_json(self) -> dict[str, Any]:
        """The shape `mailroom parse --json` prints (without the `file` key)."""

        def addresses(items: tuple[Address, ...]) -> list[dict[str, str | None]]:
            return [{"name": a.name, "address": a.address} for a in items]

        return {
            "message_id": self.message_id,
            "in_reply_to": self.in_reply_to[0] if self.in_reply_to else None,
            "references": list(self.references),
            "subject": self.subject,
            "date": self.date.isoformat(),
            "from": addresses(self.from_),
            "sender": addresses(self.sender),
            "reply_to": addresses(self.reply_to),
            "to": addresses(self.to),
            "cc": addresses(self.cc),
            "bcc": addresses(self.bcc),
            "text": self.text,
            "snippet": self.snippet,
            "attachments": [
                {
                    "filename": a.filename,
                    "content_type": a.content_type,
                    "size": a.size,
                    "sha256": a.sha256,
                    "inline": a.inline,
                }
                for a in self.attachments
            ],
            "calendar": [{"method": c.method, "size": c.size} for c in self.calendar],
            "list_id": self.list_id,
            "bulk": self.bulk,
            "defects": list(self.defects),
        }
