"""Connections and figures, kept from the counted interactions.

New interactions add to the connections they count for (one statement a batch) and refresh
the figures of the people and companies they name: each figure is one index lookup. When
interactions go or move (a mailbox removed, people merged, a company set), the connections
of the people and companies they named are summed again from what is left. `recompute_all`
does that for a whole workspace, and `settle` counts what has happened since it last ran:
meetings that were ahead, and mail dated ahead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from tortoise import connections
from tortoise.functions import Count, Sum
from uuid_utils.compat import uuid7

from mailroom.models import Company, Connection, Interaction, Person
from mailroom.models.bulk import add_rows, chunked, insert_rows


@dataclass(frozen=True, slots=True)
class Contacts:
    """People and companies whose connections and figures are to be recomputed."""

    people: frozenset[UUID] = frozenset()
    companies: frozenset[UUID] = frozenset()

    @classmethod
    def of(cls, rows: Iterable[Mapping[str, Any]]) -> Contacts:
        people, companies = set(), set()
        for row in rows:
            if row.get("person_id"):
                people.add(row["person_id"])
            if row.get("company_id"):
                companies.add(row["company_id"])
        return cls(frozenset(people), frozenset(companies))

    def __or__(self, other: Contacts) -> Contacts:
        return Contacts(self.people | other.people, self.companies | other.companies)


async def add_counted(workspace_id: UUID, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add newly counted interactions to their connections, and refresh the figures."""
    if not rows:
        return
    for contact in ("person_id", "company_id"):
        sums: dict[tuple[UUID, UUID], list[float]] = defaultdict(lambda: [0.0, 0])
        for row in rows:
            if row[contact]:
                total = sums[row["member_id"], row[contact]]
                total[0] += row["value"]
                total[1] += 1
        await add_rows(
            Connection,
            [
                {
                    "id": uuid7(),
                    "workspace_id": workspace_id,
                    "member_id": member_id,
                    contact: contact_id,
                    "score": score,
                    "interactions": count,
                }
                for (member_id, contact_id), (score, count) in sums.items()
            ],
            key=("member_id", contact),
            sums=("score", "interactions"),
        )
    await refresh(Contacts.of(rows))


async def recompute(workspace_id: UUID, contacts: Contacts) -> None:
    """Sum these people's and companies' connections again from their counted interactions,
    and refresh their figures."""
    for contact, ids in (("person_id", contacts.people), ("company_id", contacts.companies)):
        for chunk in chunked(sorted(ids)):
            await Connection.filter(**{f"{contact}__in": chunk}).delete()
            sums = (
                await Interaction.filter(counted=True, **{f"{contact}__in": chunk})
                .annotate(total=Sum("value"), count=Count("id"))
                .group_by("member_id", contact)
                .values_list("member_id", contact, "total", "count")
            )
            await insert_rows(Connection, _connections(workspace_id, contact, sums))
    await refresh(contacts)


async def recompute_all(workspace_id: UUID) -> None:
    """Every connection and figure of a workspace, from its interactions."""
    await Connection.filter(workspace_id=workspace_id).delete()
    for contact in ("person_id", "company_id"):
        sums = (
            await Interaction.filter(
                workspace_id=workspace_id, counted=True, **{f"{contact}__isnull": False}
            )
            .annotate(total=Sum("value"), count=Count("id"))
            .group_by("member_id", contact)
            .values_list("member_id", contact, "total", "count")
        )
        await insert_rows(Connection, _connections(workspace_id, contact, sums))
    people = await Person.filter(workspace_id=workspace_id).values_list("id", flat=True)
    companies = await Company.filter(workspace_id=workspace_id).values_list("id", flat=True)
    await refresh(Contacts(frozenset(people), frozenset(companies)))  # type: ignore[arg-type]


def _connections(
    workspace_id: UUID, contact: str, sums: Iterable[tuple[Any, ...]]
) -> list[dict[str, Any]]:
    return [
        {
            "id": uuid7(),
            "workspace_id": workspace_id,
            "member_id": member_id,
            contact: contact_id,
            "score": float(score),
            "interactions": int(count),
        }
        for member_id, contact_id, score, count in sums
        if count
    ]


async def refresh(contacts: Contacts) -> None:
    """Recompute the figures kept on these people and companies."""
    for table, column, ids in (
        ("person", "person_id", contacts.people),
        ("company", "company_id", contacts.companies),
    ):
        for chunk in chunked(sorted(ids)):
            await execute_in(_figures_sql(table, column), [], chunk)


def _figures_sql(table: str, column: str) -> str:
    """One statement: each figure read in a subquery (one index lookup each), and each row
    written once. The overall first and last interaction come from the figures computed here,
    hence the subqueries in FROM: in an UPDATE's SET, a column reads its value before the
    update."""

    def first_last(kind: str, name: str) -> str:
        # `= TRUE`, not a bare `i.counted`: only a comparison lets SQLite seek the index for
        # the MIN and MAX rather than read every row of the contact.
        where = f"i.{column} = t.id AND i.kind = '{kind}' AND i.counted = TRUE"
        return (
            f"(SELECT MIN(i.occurred_at) FROM interaction i WHERE {where}) AS first_{name}_at,"
            f" (SELECT MAX(i.occurred_at) FROM interaction i WHERE {where}) AS last_{name}_at"
        )

    strongest = f"FROM connection c WHERE c.{column} = t.id"
    figures = (
        f"SELECT t.id, {first_last('EMAIL', 'email')}, {first_last('MEETING', 'meeting')},"
        f" COALESCE((SELECT MAX(c.score) {strongest}), 0) AS strength,"
        f" (SELECT c.member_id {strongest} ORDER BY c.score DESC, c.member_id LIMIT 1)"
        f" AS strongest_member_id FROM {table} t WHERE t.id IN ({{values}})"
    )
    kept = (
        "first_email_at",
        "last_email_at",
        "first_meeting_at",
        "last_meeting_at",
        "strength",
        "strongest_member_id",
    )
    first = _either("min", "f.first_email_at", "f.first_meeting_at")
    last = _either("max", "f.last_email_at", "f.last_meeting_at")
    return (
        f"UPDATE {table} SET {', '.join(f'{name} = f.{name}' for name in kept)},"
        f" first_interaction_at = {first}, last_interaction_at = {last}"
        f" FROM ({figures}) AS f WHERE {table}.id = f.id"
    )


def _either(function: str, a: str, b: str) -> str:
    """The earlier (`min`) or later (`max`) of two times, either of which may be NULL."""
    if postgres():  # LEAST and GREATEST skip a NULL
        return f"{'LEAST' if function == 'min' else 'GREATEST'}({a}, {b})"
    # SQLite's min() and max() of two values are NULL if either is.
    return f"{function}(COALESCE({a}, {b}), COALESCE({b}, {a}))"


async def settle(workspace_id: UUID, now: datetime) -> int:
    """Count the interactions whose time has come since they were stored. Returns how many."""
    rows = await Interaction.filter(
        workspace_id=workspace_id, counted=False, occurred_at__lte=now
    ).values("id", "member_id", "person_id", "company_id", "value")
    for chunk in chunked([r["id"] for r in rows]):
        await Interaction.filter(id__in=chunk).update(counted=True)
    await add_counted(workspace_id, rows)
    return len(rows)


def postgres() -> bool:
    return bool(connections.get("default").capabilities.dialect == "postgres")


async def execute_in(sql: str, fixed: Sequence[Any], values: Sequence[Any]) -> None:
    """Run a statement in the connection's dialect: `{0}`, `{1}`... are the `fixed`
    parameters, `{values}` a list of `values`. These correlated updates have no ORM form in
    Tortoise, hence the SQL."""
    params = [*fixed, *values]
    if postgres():
        marks = [f"${i}" for i in range(1, len(params) + 1)]
    else:
        marks = ["?"] * len(params)
        params = [str(p) if isinstance(p, UUID) else p for p in params]
    text = sql.format(*marks[: len(fixed)], values=", ".join(marks[len(fixed) :]))
    await connections.get("default").execute_query(text, params)
