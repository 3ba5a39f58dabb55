"""Meetings from mail: a `text/calendar` part (iTIP, RFC 5546) in any message a mailbox gets
(forwarded, IMAP, Gmail, Graph) creates or updates the event for that mailbox, so that teams
that only forward mail still see their meetings.

- REQUEST, PUBLISH, ADD and CANCEL store the meetings they carry in the mailbox's `invitations`
  calendar (a CANCEL as a cancelled meeting: no interaction). A sender may add a meeting, and
  change one only as its organizer (`intake.events.store_events`).
- REPLY changes one attendee's answer on a meeting the workspace has, and only the answer of
  the attendee who sent it: a reply never creates a meeting.
- Bulk mail (lists, newsletters with an "add to calendar" file) brings no meetings, as it
  brings no people.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from mailroom.envelope import CalendarEvent, Envelope
from mailroom.intake.events import (
    INVITATIONS,
    CalendarRules,
    EventItem,
    EventReport,
    Known,
    event_key,
    store_events,
)
from mailroom.models import Event, EventAttendee
from mailroom.resolver import WorkspaceRules

# A calendar part larger than this is no invitation (real ones are a few kilobytes); parts past
# MAX_PARTS in one message are not read. Both bound the work one message can cause.
MAX_PART_BYTES = 1024 * 1024
MAX_PARTS = 4
STORING = frozenset({"REQUEST", "PUBLISH", "ADD", "CANCEL"})


@dataclass(frozen=True, slots=True)
class Mailed:
    """A message a mailbox just got, as far as its meetings go."""

    mailbox_id: UUID
    workspace_id: UUID
    envelope: Envelope

    @property
    def id(self) -> UUID:  # the intake's Target: the mailbox
        return self.mailbox_id


async def apply_invitations(
    mailed: Sequence[Mailed], rules: CalendarRules, workspace: WorkspaceRules
) -> EventReport:
    """Store the meetings these messages carry, in `workspace`. Call inside the transaction
    that stores the messages, which holds the workspace's write lock."""
    report = EventReport()
    if not mailed:
        return report
    known = Known(workspace.workspace_id, workspace)
    # icalendar and its recurrence expansion load when mail first carries a calendar part.
    from mailroom.parsing.icalendar import read_calendar

    start, end = rules.window()
    for one in mailed:
        if one.workspace_id != workspace.workspace_id:  # its rules would be another's
            raise ValueError("an invitation of another workspace in this batch")
        envelope = one.envelope
        if envelope.bulk or not envelope.calendar:
            continue
        sender = envelope.from_[0].address if envelope.from_ else ""
        for part in envelope.calendar[:MAX_PARTS]:
            if part.size > MAX_PART_BYTES:
                continue
            reading = read_calendar(
                part.text, start=start, end=end, max_occurrences=rules.max_occurrences
            )
            method = (reading.method or part.method or "PUBLISH").upper()
            if method == "REPLY":
                await _reply(one.workspace_id, sender, reading.events)
            elif method in STORING:
                items = [EventItem(_item(e), e) for e in reading.events]
                report.merge(
                    await store_events(
                        one,
                        INVITATIONS,
                        items,
                        max_attendees=rules.max_attendees,
                        sender=sender,
                        known=known,
                    )
                )
    return report


def _item(event: CalendarEvent) -> str:
    """An invitation's item in the mailbox's invitations calendar: the occurrence itself, so
    that an update or a cancellation of it lands on the same item."""
    return event_key(event.uid, event.recurrence_id)


async def _reply(workspace_id: UUID, sender: str, events: Sequence[CalendarEvent]) -> None:
    """An attendee's answer: only their own, on meetings the workspace has."""
    for event in events:
        answer = next((a for a in event.attendees if a.address == sender), None)
        if answer is None:
            continue
        found = await Event.get_or_none(
            workspace_id=workspace_id, key=event_key(event.uid, event.recurrence_id)
        )
        if found is not None:
            await EventAttendee.filter(event_id=found.id, address=sender).update(
                response=answer.response
            )
