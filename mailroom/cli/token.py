"""`mailroom token`: API tokens, made for a member, listed and revoked."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mailroom.cli.common import err, out, run

if TYPE_CHECKING:
    from mailroom.settings import Settings

app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)

Slug = Annotated[str, typer.Argument(metavar="SLUG", help="The workspace's slug.")]


@app.command("create")
def token_create(
    slug: Slug,
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The member's address.")],
) -> None:
    """Create an API token for a member. The token is printed once, on the last line.

    Example: mailroom token create acme alice@acme.com

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    from mailroom.workspace import create_token, get_member, get_workspace

    async def work(_: Settings) -> None:
        workspace = await get_workspace(slug)
        token = await create_token(await get_member(workspace, email))
        err.print(f"API token for {email} in {slug} (shown once, store it now):")
        print(token)

    run(work)


@app.command("list")
def token_list(
    slug: Slug,
    email: Annotated[
        str | None, typer.Argument(metavar="EMAIL", help="Only this member's tokens.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list.")] = False,
) -> None:
    """List the tokens that work: id, first characters, member, when made, when last used (to
    within a quarter of an hour). The tokens themselves are never stored, so never shown.

    Example: mailroom token list acme alice@acme.com

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    from mailroom.workspace import OPERATOR, get_member, get_workspace, tokens_of

    async def work(_: Settings) -> list[dict[str, Any]]:
        workspace = await get_workspace(slug)
        member = await get_member(workspace, email) if email else None
        return [
            {
                "id": str(row.id),
                "prefix": row.prefix,
                "member": row.member.email,
                "created_at": row.created_at.isoformat(),
                "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
            }
            for row in await tokens_of(OPERATOR, workspace, member)
        ]

    rows = run(work)
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        err.print(f"No API tokens in {slug}" + (f" for {email}" if email else ""), markup=False)
        return
    out.print(f"{'ID':<36}  {'PREFIX':<10}  {'MEMBER':<28}  {'CREATED (UTC)':<16}  LAST USED")
    for row in rows:
        out.print(
            f"{row['id']:<36}  {row['prefix']:<10}  {row['member']:<28}  "
            f"{_minute(row['created_at']):<16}  {_minute(row['last_used_at'])}",
            markup=False,
            soft_wrap=True,
        )


@app.command("revoke")
def token_revoke(
    slug: Slug,
    token_id: Annotated[
        str,
        typer.Argument(metavar="TOKEN_ID", help="Its id, or its prefix, as `token list` shows."),
    ],
) -> None:
    """Revoke an API token: it is refused from the next request on.

    Example: mailroom token revoke acme 0190f2c4-5d1e-7c3a-9b8e-2f6a1d4c7e90

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    from mailroom.workspace import OPERATOR, find_token, get_workspace, revoke_token

    async def work(_: Settings) -> None:
        workspace = await get_workspace(slug)
        row = await revoke_token(OPERATOR, workspace, await find_token(workspace, token_id))
        out.print(f"Revoked {row.member.email}'s token {row.prefix} ({row.id})", markup=False)

    run(work)


def _minute(moment: str | None) -> str:
    """An ISO time to the minute, in UTC, as the lists show it."""
    if moment is None:
        return "never"
    return datetime.fromisoformat(moment).strftime("%Y-%m-%d %H:%M")
