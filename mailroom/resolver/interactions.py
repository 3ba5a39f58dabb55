"""Interactions (a person took part in a message) and the first/last figures kept from them.

A person made today is linked to every message they were already part of: their participant
rows get the person, interactions are added for those messages, and the figures are recomputed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from tortoise import connections
from uuid_utils.compat import uuid7

from mailroom.envelope import EventStatus, Response, Role
from mailroom.models import EventAttendee, EventCopy, Interaction, InteractionKind, Participant
from mailroom.models.bulk import chunked, insert_rows

# Roles that mean a person took part; Sender and Reply-To are how mail was sent, not to whom.
INTERACTION_ROLES = (
    Role.FROM,
    Role.TO,
    Role.CC,
    Role.BCC,
)


def interactions_for(
    workspace_id: UUID, message_id: UUID, sent_at: datetime, people: Iterable[UUID]
) -> list[dict[str, Any]]:
    return [
        dict(
            id=uuid7(),
            workspace_id=workspace_id,
            person_id=person_id,
            message_id=message_id,
            kind=InteractionKind.EMAIL,
            occurred_at=sent_at,
        )
        for person_id in set(people)
    ]


async def link_history(workspace_id: UUID, new_people: dict[str, UUID]) -> None:
    """Give new people their earlier messages: participants and interactions. The new people's
    addresses must already be stored."""
    for chunk in chunked(sorted(new_people)):
        rows = await Participant.filter(
            workspace_id=workspace_id, address__in=chunk, person_id=None
        ).values_list("id", "address", "role", "message_id", "message__sent_at", "message__bulk")
        if not rows:
            continue
        interactions: list[dict[str, Any]] = []
        for _, address, role, message_id, sent_at, bulk in rows:
            if role in INTERACTION_ROLES and not bulk:
                person = new_people[address]
                interactions += interactions_for(workspace_id, message_id, sent_at, [person])
        await _execute(
            "UPDATE participant SET person_id = (SELECT pe.person_id FROM person_email pe"
            " WHERE pe.workspace_id = participant.workspace_id"
            " AND pe.address = participant.address) WHERE id IN ({ids})",
            [row[0] for row in rows],
        )
        await insert_rows(Interaction, interactions, ignore_conflicts=True)
    await _link_meetings(workspace_id, new_people)


async def _link_meetings(workspace_id: UUID, new_people: dict[str, UUID]) -> None:
    """Give new people the meetings they were already on: attendee rows and, for meetings
    that count (not cancelled, not declined by every member holding them), interactions."""
    for chunk in chunked(sorted(new_people)):
        rows = await EventAttendee.filter(
            workspace_id=workspace_id, address__in=chunk, person_id=None
        ).values_list("id", "address", "event_id", "starts_at", "event__status")
        if not rows:
            continue
        live = {r[2] for r in rows if r[4] != EventStatus.CANCELLED}
        attended: set[UUID] = set()
        for ids in chunked(sorted(live)):
            holders = await EventCopy.filter(event_id__in=ids).values_list("event_id", "response")
            attended |= {e for e, response in holders if response != Response.DECLINED}
        interactions = [
            dict(
                id=uuid7(),
                workspace_id=workspace_id,
                person_id=new_people[address],
                event_id=event_id,
                kind=InteractionKind.MEETING,
                occurred_at=starts_at,
            )
            for _, address, event_id, starts_at, _ in rows
            if event_id in attended
        ]
        for address in {r[1] for r in rows}:
            await EventAttendee.filter(
                workspace_id=workspace_id, address=address, person_id=None
            ).update(person_id=new_people[address])
        await insert_rows(Interaction, interactions, ignore_conflicts=True)


async def refresh_figures(person_ids: Iterable[UUID]) -> None:
    """Recompute first/last email of these people and of their companies (meetings are
    interactions too, but not email ones)."""
    ids = sorted(set(person_ids))
    for chunk in chunked(ids):
        await _execute(
            "UPDATE person SET"
            " first_email_at = (SELECT MIN(i.occurred_at) FROM interaction i"
            " WHERE i.person_id = person.id AND i.kind = 'EMAIL'),"
            " last_email_at = (SELECT MAX(i.occurred_at) FROM interaction i"
            " WHERE i.person_id = person.id AND i.kind = 'EMAIL')"
            " WHERE id IN ({ids})",
            chunk,
        )
        await _execute(
            "UPDATE company SET"
            " first_email_at = (SELECT MIN(p.first_email_at) FROM person p"
            " WHERE p.company_id = company.id),"
            " last_email_at = (SELECT MAX(p.last_email_at) FROM person p"
            " WHERE p.company_id = company.id)"
            " WHERE id IN (SELECT company_id FROM person WHERE id IN ({ids}))",
            chunk,
        )


async def _execute(sql: str, ids: Sequence[UUID]) -> None:
    """Run a statement whose `{ids}` is a list of row keys, in the connection's dialect.
    These correlated updates have no ORM form in Tortoise, hence the SQL."""
    connection = connections.get("default")
    if connection.capabilities.dialect == "postgres":
        marks = ", ".join(f"${i}" for i in range(1, len(ids) + 1))
        values: list[object] = list(ids)
    else:
        marks = ", ".join("?" * len(ids))
        values = [str(i) for i in ids]
    await connection.execute_query(sql.format(ids=marks), values)
