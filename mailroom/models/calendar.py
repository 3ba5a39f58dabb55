"""The calendar aggregate: one event per meeting occurrence in a workspace, the calendars that
hold it (copies), its attendees, and how far each calendar is synced."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from tortoise import fields

from mailroom.envelope import AttendeeKind, EventStatus, Response
from mailroom.models.base import Entity
from mailroom.models.mailbox import Mailbox
from mailroom.models.workspace import Workspace


class Event(Entity):
    """One occurrence of a meeting per workspace, however many calendars hold it.

    `key` is a digest of the iCalendar UID and the occurrence's original start in UTC
    (`intake.events.event_key`), so that the same meeting in three members' calendars, or in
    an invitation and a calendar, is one row. Times are UTC; `utc_offset` is the start's offset
    as the event was written, so its local time can be shown.
    """

    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    key = fields.CharField(max_length=64)
    uid = fields.TextField()
    recurrence_id = fields.DatetimeField(null=True)
    starts_at = fields.DatetimeField()
    ends_at = fields.DatetimeField()
    utc_offset = fields.SmallIntField(default=0)
    end_utc_offset = fields.SmallIntField(default=0)
    all_day = fields.BooleanField(default=False)
    status = fields.CharEnumField(EventStatus, max_length=16, default=EventStatus.CONFIRMED)
    summary = fields.TextField(null=True)
    location = fields.TextField(null=True)
    description = fields.TextField(null=True)
    conference = fields.TextField(null=True)
    organizer = fields.CharField(max_length=320, null=True)
    organizer_name = fields.TextField(null=True)
    attendee_count = fields.IntField(default=0)
    sequence = fields.IntField(default=0)
    updated = fields.DatetimeField(null=True)
    defects: fields.Field[list[str]] = fields.JSONField(default=list)

    class Meta:
        table = "event"
        unique_together = (("workspace", "key"),)
        indexes = (("workspace_id", "starts_at"),)


class EventCopy(Entity):
    """A calendar's item holding an event: which mailbox, which of its calendars, and the
    provider's key for the item, so that a change or deletion there finds it again.

    `generation` is the calendar's sync generation that last saw the item: a full resync
    raises it, and what it did not see again is swept away at its end.
    """

    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="copies", db_index=True, on_delete=fields.CASCADE
    )
    event_id: UUID
    mailbox: fields.ForeignKeyRelation[Mailbox] = fields.ForeignKeyField(
        "models.Mailbox", related_name=False, on_delete=fields.CASCADE
    )
    mailbox_id: UUID
    calendar = fields.CharField(max_length=255)
    item = fields.CharField(max_length=600)
    # The calendar owner's own answer, when they are an attendee: a declined meeting is no
    # interaction of theirs.
    response = fields.CharEnumField(Response, max_length=16, null=True)
    generation = fields.IntField(default=0)

    class Meta:
        table = "event_copy"
        unique_together = (("mailbox", "calendar", "item"),)
        indexes = (("mailbox_id", "event_id"),)


class EventAttendee(Entity):
    """An attendee (or the organizer) of an event, and its person once the address is one's."""

    workspace: fields.ForeignKeyRelation[Workspace] = fields.ForeignKeyField(
        "models.Workspace", related_name=False, on_delete=fields.CASCADE
    )
    workspace_id: UUID
    event: fields.ForeignKeyRelation[Event] = fields.ForeignKeyField(
        "models.Event", related_name="attendees", db_index=True, on_delete=fields.CASCADE
    )
    event_id: UUID
    position = fields.SmallIntField(default=0)
    address = fields.CharField(max_length=320)
    domain = fields.CharField(max_length=255, default="")
    name = fields.TextField(null=True)
    response = fields.CharEnumField(Response, max_length=16, default=Response.NEEDS_ACTION)
    kind = fields.CharEnumField(AttendeeKind, max_length=16, default=AttendeeKind.PERSON)
    organizer = fields.BooleanField(default=False)
    optional = fields.BooleanField(default=False)
    person: fields.ForeignKeyNullableRelation[Any] = fields.ForeignKeyField(
        "models.Person", related_name=False, null=True, on_delete=fields.SET_NULL
    )
    person_id: UUID | None
    # The event's start, copied here so that a person's or a domain's meetings are one walk
    # of an index.
    starts_at = fields.DatetimeField()

    class Meta:
        table = "event_attendee"
        indexes = (
            ("workspace_id", "address", "starts_at"),
            ("person_id", "starts_at", "event_id"),
            ("workspace_id", "domain", "starts_at", "event_id"),
        )


class CalendarCursor(Entity):
    """How far one calendar of a mailbox is synced: the provider's position (a Google sync
    token, a Graph delta link, a CalDAV sync token or ctag), the window it covers and the
    sync generation (`EventCopy.generation`)."""

    mailbox: fields.ForeignKeyRelation[Mailbox] = fields.ForeignKeyField(
        "models.Mailbox", related_name=False, on_delete=fields.CASCADE
    )
    mailbox_id: UUID
    calendar = fields.CharField(max_length=255)
    state: fields.Field[dict[str, Any]] = fields.JSONField(default=dict)
    generation = fields.IntField(default=0)
    synced_at = fields.DatetimeField(null=True)

    class Meta:
        table = "calendar_cursor"
        unique_together = (("mailbox", "calendar"),)
