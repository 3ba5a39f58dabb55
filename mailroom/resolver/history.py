"""Interactions made again from what is stored: after a copy or an event changes hands, after
the blocklist or the members change, and for a whole workspace (`rebuild`)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

from tortoise.expressions import Q

from mailroom.envelope import AttendeeKind, EventStatus, Response
from mailroom.models import (
    Connection,
    Direction,
    Event,
    EventAttendee,
    EventCopy,
    Interaction,
    Message,
    MessageCopy,
    Participant,
)
from mailroom.models.bulk import chunked, uuids
from mailroom.resolver.figures import recompute_all
from mailroom.resolver.interactions import (
    Gathering,
    Mail,
    Party,
    forget,
    mail_rows,
    meeting_rows,
    record,
)
from mailroom.resolver.rules import WorkspaceRules

_MESSAGE_FIELDS = ("id", "workspace_id", "sent_at", "internet_message_id", "in_reply_to")
_PARTY_FIELDS = ("message_id", "role", "address", "domain", "person_id")


async def stored_mail(message_ids: Sequence[UUID]) -> dict[UUID, Mail]:
    """What interactions are made from, of stored messages."""
    found: dict[UUID, Mail] = {}
    for chunk in chunked(sorted(message_ids)):
        messages = await Message.filter(id__in=chunk).values(*_MESSAGE_FIELDS, "bulk", "list_id")
        parties: dict[UUID, list[dict[str, object]]] = defaultdict(list)
        for row in await Participant.filter(message_id__in=chunk).values(*_PARTY_FIELDS):
            parties[row["message_id"]].append(row)
        for message in messages:
            found[message["id"]] = Mail.of(message, parties[message["id"]])
    return found


async def mail_holders(message_ids: Sequence[UUID]) -> dict[UUID, set[tuple[UUID, bool]]]:
    """Who holds each message: (member, whether their copy is outbound)."""
    found: dict[UUID, set[tuple[UUID, bool]]] = defaultdict(set)
    for chunk in chunked(sorted(message_ids)):
        rows = await MessageCopy.filter(message_id__in=chunk).values_list(
            "message_id", "mailbox__owner_id", "direction"
        )
        for message_id, member_id, direction in rows:
            found[message_id].add((member_id, direction == Direction.OUTBOUND))
    return found


async def stored_meetings(event_ids: Sequence[UUID]) -> dict[UUID, Gathering]:
    """What interactions are made from, of stored events."""
    found: dict[UUID, Gathering] = {}
    for chunk in chunked(sorted(event_ids)):
        people: dict[UUID, list[Party]] = defaultdict(list)
        rows = await EventAttendee.filter(event_id__in=chunk, kind=AttendeeKind.PERSON).values(
            "event_id", "address", "domain", "person_id"
        )
        for row in rows:
            people[row["event_id"]].append(
                Party(None, row["address"], row["domain"], row["person_id"])
            )
        events = await Event.filter(id__in=chunk).values(
            "id", "workspace_id", "starts_at", "status"
        )
        for e in events:
            found[e["id"]] = Gathering(
                e["id"],
                e["workspace_id"],
                e["starts_at"],
                str(e["status"]) == EventStatus.CANCELLED,
                tuple(people[e["id"]]),
            )
    return found


async def meeting_holders(
    event_ids: Sequence[UUID],
) -> dict[UUID, list[tuple[UUID, Response | None]]]:
    """Who holds each event: (member, their answer)."""
    found: dict[UUID, list[tuple[UUID, Response | None]]] = defaultdict(list)
    for chunk in chunked(sorted(event_ids)):
        rows = await EventCopy.filter(event_id__in=chunk).values_list(
            "event_id", "mailbox__owner_id", "response"
        )
        for event_id, member_id, response in rows:
            found[event_id].append((member_id, Response(response) if response else None))
    return found


async def reinteract(
    workspace_id: UUID,
    *,
    messages: Iterable[UUID] = (),
    events: Iterable[UUID] = (),
    now: datetime,
) -> None:
    """Make these messages' and events' interactions again from what is stored now: after
    their copies changed, or who counts did (a person's row names one of their addresses, so
    whether one address counts can change another's row)."""
    message_ids, event_ids = sorted(set(messages)), sorted(set(events))
    if not message_ids and not event_ids:
        return
    rules = await WorkspaceRules.load(workspace_id)
    for chunk in chunked(message_ids):
        await forget(workspace_id, Q(message_id__in=chunk))
        mails, holders = await stored_mail(chunk), await mail_holders(chunk)
        rows = [
            row
            for message_id, mail in mails.items()
            for row in mail_rows(mail, holders.get(message_id, ()), rules, now)
        ]
        await record(workspace_id, rows)
    for chunk in chunked(event_ids):
        await forget(workspace_id, Q(event_id__in=chunk))
        meetings, holders_of = await stored_meetings(chunk), await meeting_holders(chunk)
        rows = [
            row
            for event_id, meeting in meetings.items()
            for row in meeting_rows(meeting, holders_of.get(event_id, ()), rules, now)
        ]
        await record(workspace_id, rows)


async def regroup(workspace_id: UUID, person_id: UUID, now: datetime) -> None:
    """After a person gained an address (merged, or given one): their messages and meetings
    made again, so that one with two of their addresses counts once, and a reply to one
    address answers mail from the other."""
    rows = await Interaction.filter(person_id=person_id).values_list("message_id", "event_id")
    await reinteract(
        workspace_id,
        messages={m for m, _ in rows if m},
        events={e for _, e in rows if e},
        now=now,
    )


async def items_of(workspace_id: UUID, addresses: Iterable[str]) -> tuple[set[UUID], set[UUID]]:
    """The messages and events these addresses are on."""
    messages: set[UUID] = set()
    events: set[UUID] = set()
    for chunk in chunked(sorted(set(addresses))):
        messages |= await uuids(
            Participant.filter(workspace_id=workspace_id, address__in=chunk).values_list(
                "message_id", flat=True
            )
        )
        events |= await uuids(
            EventAttendee.filter(workspace_id=workspace_id, address__in=chunk).values_list(
                "event_id", flat=True
            )
        )
    return messages, events


async def rebuild(workspace_id: UUID, now: datetime, batch: int = 500) -> int:
    """Every interaction, connection and figure of a workspace made again from its messages
    and events. Returns how many interactions there are. Call inside the write lock."""
    await Interaction.filter(workspace_id=workspace_id).delete()
    await Connection.filter(workspace_id=workspace_id).delete()
    rules = await WorkspaceRules.load(workspace_id)
    message_ids = await uuids(
        Message.filter(workspace_id=workspace_id).values_list("id", flat=True)
    )
    for chunk in chunked(sorted(message_ids), batch):
        mails, holders = await stored_mail(chunk), await mail_holders(chunk)
        rows = [
            row
            for message_id, mail in mails.items()
            for row in mail_rows(mail, holders.get(message_id, ()), rules, now)
        ]
        await record(workspace_id, rows, figures=False)
    event_ids = await uuids(Event.filter(workspace_id=workspace_id).values_list("id", flat=True))
    for chunk in chunked(sorted(event_ids), batch):
        meetings, holders_of = await stored_meetings(chunk), await meeting_holders(chunk)
        rows = [
            row
            for event_id, meeting in meetings.items()
            for row in meeting_rows(meeting, holders_of.get(event_id, ()), rules, now)
        ]
        await record(workspace_id, rows, figures=False)
    await recompute_all(workspace_id)
    return await Interaction.filter(workspace_id=workspace_id).count()
