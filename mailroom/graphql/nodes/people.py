"""A company's people, a page at a time in the order they were made: read by a statement of
our own, as rows (`loaders.Loaders._messages` says why), since a company page shows fifty."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from mailroom.db import Statement, time_of, uuid_of
from mailroom.graphql.loaders import PersonRow
from mailroom.graphql.relay import decode_time, page_size
from mailroom.resolver.rules import WorkspaceRules
from mailroom.workspace import team_people


async def company_people(
    team: WorkspaceRules, company_id: UUID, *, first: int | None, after: str | None
) -> tuple[list[PersonRow], bool, list[tuple[datetime, UUID]]]:
    """The company's people that are contacts (`workspace.contact_people`), oldest first:
    (rows, whether more follow, each row's sort key)."""
    size = page_size(first)
    statement = Statement()
    workspace = statement.mark(team.workspace_id)
    sql = (
        f"SELECT {', '.join(PersonRow.COLUMNS)}, created_at FROM person"
        f" WHERE workspace_id = {workspace} AND company_id = {statement.mark(company_id)}"
        f" AND id NOT IN ({team_people(team, statement)})"
    )
    if after is not None:
        made, row_id = decode_time(after)
        sql += (
            f" AND (created_at > {statement.mark(made)}"
            f" OR (created_at = {statement.mark(made)} AND id > {statement.mark(row_id)}))"
        )
    sql += f" ORDER BY created_at, id LIMIT {statement.mark(size + 1)}"
    found = await statement.tuples(sql)
    rows = [PersonRow(uuid_of(values[0]), team.workspace_id, values) for values in found[:size]]
    keys = [(time_of(values[-1]), row.id) for values, row in zip(found, rows, strict=False)]
    return rows, len(found) > size, keys
