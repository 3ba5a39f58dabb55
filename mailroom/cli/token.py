"""`mailroom token`: API tokens."""

from __future__ import annotations

import typer

from mailroom.cli.common import err, run
from mailroom.settings import Settings
from mailroom.workspace import create_token, get_member, get_workspace

app = typer.Typer(help="Create API tokens.", no_args_is_help=True)


@app.command("create")
def token_create(slug: str, email: str) -> None:
    """Create an API token for a member. The token is printed once, on the last line."""

    async def work(_: Settings) -> None:
        workspace = await get_workspace(slug)
        token = await create_token(await get_member(workspace, email))
        err.print(f"API token for {email} in {slug} (shown once, store it now):")
        print(token)

    run(work)
