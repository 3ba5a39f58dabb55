"""`mailroom events`: a workspace's meetings, one occurrence per line (or JSON object)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from mailroom.cli.common import out, run

if TYPE_CHECKING:
    from mailroom.settings import Settings
    from mailroom.workspace.calendar import Listed


def _moment(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        message = f"{value!r} is no ISO 8601 date or time"
        raise typer.BadParameter(message, param_hint=option) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def events(
    slug: Annotated[str, typer.Argument(help="The workspace.")],
    start: Annotated[
        str | None,
        typer.Option("--from", help="Only occurrences that end after this.", metavar="ISO"),
    ] = None,
    end: Annotated[
        str | None,
        typer.Option("--to", help="Only occurrences that start before this.", metavar="ISO"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """List a workspace's meetings, one line per occurrence, in time order.

    A time without a zone is read as UTC. Private events are never synced, so never listed.

    Example: mailroom events acme --from 2026-01-01 --to 2026-02-01 --json

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    since, until = _moment(start, "--from"), _moment(end, "--to")

    async def work(settings: Settings) -> list[Listed]:
        from mailroom.workspace import get_workspace
        from mailroom.workspace.calendar import list_events

        space = await get_workspace(slug)
        return await list_events(space.id, since, until)

    for listed in run(work):
        data = listed.to_json()
        if as_json:
            sys.stdout.write(json.dumps(data) + "\n")
        else:
            line = f"{data['start']}  {data['summary'] or '(no title)'}  [{data['status']}]"
            out.print(Text(line), soft_wrap=True)
