"""`mailroom explain`: why a contact's connection with the team is as strong as it is; and
`mailroom intelligence rebuild`: every relationship figure made again from what is stored."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from mailroom.cli.common import QUEUE, out, run, said_queued

if TYPE_CHECKING:
    from mailroom.jobs.queue import Queued
    from mailroom.settings import Settings
    from mailroom.workspace.relationships import Explained, Part

app = typer.Typer(help="Relationship figures: connection strength, first and last interactions.")

# What each kind of interaction is, for one and for more.
_WHAT = {
    "SENT": ("email sent to them", "emails sent to them"),
    "ANSWERED": ("of their emails answered", "of their emails answered"),
    "RECEIVED": ("email received from them", "emails received from them"),
    "COPIED": ("email both were on", "emails both were on"),
    "MET": ("meeting", "meetings"),
}


def explain(
    slug: Annotated[str, typer.Argument(help="The workspace.")],
    contact: Annotated[str, typer.Argument(help="The contact's email address.", metavar="EMAIL")],
    member: Annotated[
        str | None,
        typer.Option("--member", help="Only this member's connection.", metavar="EMAIL"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="As one JSON object.")] = False,
) -> None:
    """Explain a contact's connection strength with each member: the level, the score, and
    what made it (how many interactions of each kind, the last one, and its share).

    The person holding the address is explained with all their addresses; an address that
    made no person (record creation mode SELECTIVE or NONE) is explained on its own.

    Example: mailroom explain acme jo@globex.com --member alice@acme.com

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database); MAILROOM_STRENGTH_*
    (the levels).
    """
    now = datetime.now(UTC)

    async def work(settings: Settings) -> tuple[Explained, dict[str, str]]:
        from mailroom.intake.intelligence import settle_workspaces
        from mailroom.workspace import get_member, get_workspace, members_of
        from mailroom.workspace.members import valid_address
        from mailroom.workspace.relationships import explain, thresholds

        space = await get_workspace(slug)
        member_id = (await get_member(space, member)).id if member else None
        await settle_workspaces(now)
        found = await explain(
            space.id, valid_address(contact, "contact"), member_id, now, thresholds(settings)
        )
        emails = {str(m.id): m.email for m in await members_of(space.id)}
        return found, emails

    found, emails = run(work)
    if as_json:
        sys.stdout.write(json.dumps(_json(found, emails)) + "\n")
        return
    who = f"{found.address} ({found.name})" if found.name else found.address
    if not found.connections:
        out.print(Text(f"{who}: no interactions with the team"), soft_wrap=True)
        return
    out.print(Text(f"{who}: connections with the team, strongest first"), soft_wrap=True)
    for strength, parts in found.connections:
        email = emails.get(str(strength.member_id), str(strength.member_id))
        line = f"{email}: {strength.level.value} (score {strength.score:.2f})"
        out.print(Text(line), soft_wrap=True)
        for part in parts:
            out.print(Text(f"  {_sentence(part, now)}"), soft_wrap=True)


def _sentence(part: Part, now: datetime) -> str:
    days = (now - part.last_at).days
    ago = "today" if days < 1 else "yesterday" if days == 1 else f"{days} days ago"
    what = _WHAT[part.exchange.value][part.count != 1]
    return f"{part.count} {what}, last {part.last_at:%Y-%m-%d} ({ago}): {part.share:.0%}"


def _json(found: Explained, emails: dict[str, str]) -> dict[str, object]:
    return {
        "contact": found.address,
        "person": str(found.person_id) if found.person_id else None,
        "name": found.name,
        "connections": [
            {
                "member": emails.get(str(s.member_id), str(s.member_id)),
                "level": s.level.value,
                "score": s.score,
                "interactions": s.interactions,
                "explanation": [
                    {
                        "kind": p.exchange.value,
                        "count": p.count,
                        "lastAt": p.last_at.isoformat(),
                        "contribution": round(p.share, 4),
                    }
                    for p in parts
                ],
            }
            for s, parts in found.connections
        ],
    }


@app.command()
def rebuild(
    slug: Annotated[str, typer.Argument(help="The workspace.")],
    queue: Annotated[bool, QUEUE] = False,
) -> None:
    """Make every interaction, connection strength and first/last figure of a workspace again
    from the mail and meetings it holds (after an upgrade, or an import made without them).

    Example: mailroom intelligence rebuild acme

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    if queue:
        from mailroom.jobs.queue import queue_rebuild

        async def ask(settings: Settings) -> Queued:
            from mailroom.workspace import get_workspace

            return await queue_rebuild(settings, await get_workspace(slug))

        said_queued(run(ask), f"A rebuild of {slug}'s figures")
        return

    async def work(settings: Settings) -> int:
        from mailroom.intake.intelligence import rebuild_figures
        from mailroom.workspace import get_workspace

        space = await get_workspace(slug)
        return await rebuild_figures(space.id)

    count = run(work)
    out.print(Text(f"Rebuilt the relationship figures of {slug}: {count} interactions"))
