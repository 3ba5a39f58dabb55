"""`mailroom member`: add members, and their personal forwarding addresses."""

from __future__ import annotations

from typing import Annotated

import typer

from mailroom.cli.common import err, out, run
from mailroom.settings import Settings
from mailroom.workspace import (
    add_member,
    forwarding_address,
    get_member,
    get_workspace,
    workspace_address,
)

app = typer.Typer(help="Add members to a workspace.", no_args_is_help=True)


@app.command("add")
def member_add(
    slug: str,
    email: str,
    admin: Annotated[bool, typer.Option("--admin", help="Make the member an admin.")] = False,
    alias: Annotated[
        list[str] | None, typer.Option("--alias", help="Another address the member sends from.")
    ] = None,
) -> None:
    """Add a member to a workspace."""

    async def work(_: Settings) -> None:
        workspace = await get_workspace(slug)
        member = await add_member(workspace, email, admin=admin, aliases=alias or [])
        aliases = f" (aliases: {', '.join(member.aliases)})" if member.aliases else ""
        out.print(f"Added {member.role.lower()} [bold]{member.email}[/bold] to {slug}{aliases}")

    run(work)


@app.command("forwarding-address")
def member_forwarding_address(
    slug: str,
    email: str,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Replace the address; the old one stops working.")
    ] = False,
) -> None:
    """Print a member's personal forwarding address (and the workspace's) on the last line."""

    async def work(settings: Settings) -> None:
        workspace = await get_workspace(slug)
        member = await get_member(workspace, email)
        address = await forwarding_address(member, settings.mail_domain, rotate=rotate)
        own = workspace_address(workspace, settings.mail_domain)
        err.print(f"Workspace address: {own}", soft_wrap=True)
        err.print(f"Personal forwarding address of {member.email}:", soft_wrap=True)
        print(address)

    run(work)
