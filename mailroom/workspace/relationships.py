"""Relationship figures as members read them: which interaction a first or last figure is, the
next meeting, each member's connection strength with a contact, and what it is made of.

Times and members are the team's to see; which email or meeting a figure is goes through the
same visibility as any other path to it (the API's email and event types).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from uuid import UUID

from tortoise.functions import Count, Max, Min, Sum

from mailroom.models import Exchange, Interaction, InteractionKind, Person, PersonEmail
from mailroom.models.bulk import chunked
from mailroom.models.intelligence import Connection
from mailroom.resolver.strength import Level, Thresholds, score_now
from mailroom.settings import Settings

Column = Literal["person_id", "company_id"]


def thresholds(settings: Settings) -> Thresholds:
    return Thresholds(
        very_weak=settings.strength_very_weak,
        weak=settings.strength_weak,
        moderate=settings.strength_moderate,
        strong=settings.strength_strong,
        very_strong=settings.strength_very_strong,
    )


@dataclass(frozen=True, slots=True)
class Figure:
    """An interaction a figure names: when, which member, and the email or meeting."""

    at: datetime
    member_id: UUID
    message_id: UUID | None
    event_id: UUID | None


@dataclass(frozen=True, slots=True)
class Strength:
    """A member's connection with a contact, now."""

    member_id: UUID
    score: float
    level: Level
    interactions: int
    stored: float  # the stored sum: what parts are a share of


@dataclass(frozen=True, slots=True)
class Part:
    """What one kind of interaction adds to a connection."""

    exchange: Exchange
    count: int
    last_at: datetime
    share: float  # of the score, 0 to 1


def strength(
    member_id: UUID, stored: float, interactions: int, now: datetime, levels: Thresholds
) -> Strength:
    score = score_now(stored, now)
    level = levels.level(score) if interactions else Level.NONE
    return Strength(member_id, round(score, 3), level, interactions, stored)


FigureKey = tuple[Column, UUID, InteractionKind | None, datetime]


async def figures(keys: Sequence[FigureKey]) -> list[Figure | None]:
    """The interaction each (contact column, contact, kind or any, time) names; of several at
    one time, the first stored."""
    groups: dict[tuple[Column, InteractionKind | None], list[FigureKey]] = defaultdict(list)
    for key in keys:
        groups[key[0], key[2]].append(key)
    found: dict[FigureKey, Figure] = {}
    for (column, kind), members in groups.items():
        for chunk in chunked(members):
            query = Interaction.filter(
                counted=True,
                **{f"{column}__in": sorted({k[1] for k in chunk})},
                occurred_at__in=sorted({k[3] for k in chunk}),
            )
            if kind is not None:
                query = query.filter(kind=kind)
            rows = await query.order_by("id").values_list(
                column, "occurred_at", "member_id", "message_id", "event_id"
            )
            for contact, at, member_id, message_id, event_id in rows:
                key = (column, contact, kind, at)
                found.setdefault(key, Figure(at, member_id, message_id, event_id))
    return [found.get(k) for k in keys]


async def next_meetings(
    column: Column, contacts: Sequence[UUID], now: datetime
) -> list[datetime | None]:
    """When each contact's next meeting with a member starts (after `now`)."""
    found: dict[UUID, datetime] = {}
    for chunk in chunked(sorted(set(contacts))):
        rows = (
            await Interaction.filter(
                kind=InteractionKind.MEETING, occurred_at__gt=now, **{f"{column}__in": chunk}
            )
            .annotate(next=Min("occurred_at"))
            .group_by(column)
            .values_list(column, "next")
        )
        found.update((contact, moment(at)) for contact, at in rows)
    return [found.get(c) for c in contacts]


async def upcoming(keys: Sequence[tuple[Column, UUID, datetime]]) -> list[Figure | None]:
    """The meeting a contact has at a time ahead (not counted yet)."""
    found: dict[tuple[Column, UUID, datetime], Figure] = {}
    by_column: dict[Column, list[tuple[Column, UUID, datetime]]] = defaultdict(list)
    for key in keys:
        by_column[key[0]].append(key)
    for column, members in by_column.items():
        for chunk in chunked(members):
            rows = (
                await Interaction.filter(
                    kind=InteractionKind.MEETING,
                    **{f"{column}__in": sorted({k[1] for k in chunk})},
                    occurred_at__in=sorted({k[2] for k in chunk}),
                )
                .order_by("id")
                .values_list(column, "occurred_at", "member_id", "event_id")
            )
            for contact, at, member_id, event_id in rows:
                found.setdefault((column, contact, at), Figure(at, member_id, None, event_id))
    return [found.get(k) for k in keys]


async def connections(
    column: Column, contacts: Sequence[UUID], now: datetime, levels: Thresholds
) -> list[list[Strength]]:
    """Every member's connection with each contact, strongest first."""
    found: dict[UUID, list[Strength]] = defaultdict(list)
    for chunk in chunked(sorted(set(contacts))):
        rows = await Connection.filter(**{f"{column}__in": chunk}).values_list(
            column, "member_id", "score", "interactions"
        )
        for contact, member_id, stored, count in rows:
            found[contact].append(strength(member_id, stored, count, now, levels))
    for strengths in found.values():
        strengths.sort(key=lambda s: (-s.stored, s.member_id))
    return [found.get(c, []) for c in contacts]


async def explanations(keys: Sequence[tuple[Column, UUID, UUID]]) -> list[list[Part]]:
    """What each (contact column, contact, member) connection is made of, largest share
    first."""
    found: dict[tuple[Column, UUID, UUID], list[tuple[Exchange, int, datetime, float]]] = (
        defaultdict(list)
    )
    by_column: dict[Column, list[tuple[Column, UUID, UUID]]] = defaultdict(list)
    for key in keys:
        by_column[key[0]].append(key)
    for column, members in by_column.items():
        for chunk in chunked(members):
            rows = (
                await Interaction.filter(
                    counted=True,
                    **{f"{column}__in": sorted({k[1] for k in chunk})},
                    member_id__in=sorted({k[2] for k in chunk}),
                )
                .annotate(count=Count("id"), last=Max("occurred_at"), total=Sum("value"))
                .group_by(column, "member_id", "exchange")
                .values_list(column, "member_id", "exchange", "count", "last", "total")
            )
            for contact, member_id, exchange, count, last, total in rows:
                found[column, contact, member_id].append(
                    (Exchange(exchange), int(count), moment(last), float(total))
                )
    return [_parts(found.get(key, [])) for key in keys]


def _parts(sums: Sequence[tuple[Exchange, int, datetime, float]]) -> list[Part]:
    """Each kind's (count, last time, stored sum) as its share of the whole, largest first."""
    whole = sum(s[3] for s in sums) or 1.0
    return sorted(
        (Part(e, n, last, total / whole) for e, n, last, total in sums),
        key=lambda p: (-p.share, p.exchange),
    )


def moment(value: datetime | str) -> datetime:
    """An aggregate's time: SQLite returns MIN and MAX of a time column as its text."""
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return value


@dataclass(frozen=True, slots=True)
class Explained:
    """A contact's connections with the team, each with what it is made of."""

    address: str
    person_id: UUID | None
    name: str | None
    connections: list[tuple[Strength, list[Part]]]


async def explain(
    workspace_id: UUID,
    address: str,
    member_id: UUID | None,
    now: datetime,
    levels: Thresholds,
) -> Explained:
    """The connections of the person holding `address` (or of the address alone, when no
    person holds it) with each member, or with one."""
    holder = await PersonEmail.get_or_none(workspace_id=workspace_id, address=address)
    query = Interaction.filter(workspace_id=workspace_id, counted=True)
    if holder is not None:
        query = query.filter(person_id=holder.person_id)
    else:
        query = query.filter(address=address)
    if member_id is not None:
        query = query.filter(member_id=member_id)
    rows = (
        await query.annotate(count=Count("id"), last=Max("occurred_at"), total=Sum("value"))
        .group_by("member_id", "exchange")
        .values_list("member_id", "exchange", "count", "last", "total")
    )
    by_member: dict[UUID, list[tuple[Exchange, int, datetime, float]]] = defaultdict(list)
    for member, exchange, count, last, total in rows:
        by_member[member].append((Exchange(exchange), int(count), moment(last), float(total)))
    found = []
    for member, parts in by_member.items():
        stored = sum(p[3] for p in parts)
        found.append(
            (strength(member, stored, sum(p[1] for p in parts), now, levels), _parts(parts))
        )
    found.sort(key=lambda f: (-f[0].stored, f[0].member_id))
    name = None
    if holder is not None:
        name = (await Person.get(id=holder.person_id)).name
    return Explained(address, holder.person_id if holder else None, name, found)
