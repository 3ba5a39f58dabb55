"""`mailroom member`: add, list and remove members, and their personal forwarding addresses."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mailroom.cli.common import err, out, run
from mailroom.cli.confirm import Yes, confirm, counted

if TYPE_CHECKING:
    from mailroom.settings import Settings

app = typer.Typer(help="Add, list and remove a workspace's members.", no_args_is_help=True)


@app.command("add")
def member_add(
    slug: str,
    email: str,
    admin: Annotated[bool, typer.Option("--admin", help="Make the member an admin.")] = False,
    alias: Annotated[
        list[str] | None, typer.Option("--alias", help="Another address the member sends from.")
    ] = None,
) -> None:
    """Add a member to a workspace.

    Example: mailroom member add acme alice@acme.com --admin --alias alice@acme.io

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    from mailroom.workspace import add_member, get_workspace

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
    """Print a member's personal forwarding address (and the workspace's) on the last line.

    Example: mailroom member forwarding-address acme alice@acme.com

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database), MAILROOM_MAIL_DOMAIN.
    """
    from mailroom.workspace import forwarding_address, get_member, get_workspace, workspace_address

    async def work(settings: Settings) -> None:
        workspace = await get_workspace(slug)
        member = await get_member(workspace, email)
        address = await forwarding_address(member, settings.mail_domain, rotate=rotate)
        own = workspace_address(workspace, settings.mail_domain)
        err.print(f"Workspace address: {own}", soft_wrap=True)
        err.print(f"Personal forwarding address of {member.email}:", soft_wrap=True)
        print(address)

    run(work)


@app.command("list")
def member_list(
    slug: Annotated[str, typer.Argument(metavar="SLUG", help="The workspace's slug.")],
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list.")] = False,
) -> None:
    """List a workspace's members: address, role, aliases, mailboxes and API tokens.

    Example: mailroom member list acme

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    from mailroom.workspace import OPERATOR, get_workspace, mailboxes_of, members_of, tokens_of

    async def work(_: Settings) -> list[dict[str, Any]]:
        workspace = await get_workspace(slug)
        boxes = await mailboxes_of(workspace.id)
        tokens = await tokens_of(OPERATOR, workspace)
        return [
            {
                "email": m.email,
                "role": m.role.value,
                "name": m.name,
                "aliases": list(m.aliases),
                "mailboxes": [
                    {"address": b.address, "provider": b.provider.value}
                    for b in boxes
                    if b.owner_id == m.id
                ],
                "tokens": sum(1 for t in tokens if t.member_id == m.id),
            }
            for m in await members_of(workspace.id)
        ]

    rows = run(work)
    if as_json:
        print(json.dumps(rows))
        return
    for row in rows:
        boxes = ", ".join(b["provider"].lower() for b in row["mailboxes"]) or "none"
        aliases = f"  aliases: {', '.join(row['aliases'])}" if row["aliases"] else ""
        out.print(
            f"{row['email']:<32} {row['role'].lower():<6}  mailboxes: {boxes}  "
            f"tokens: {row['tokens']}{aliases}",
            markup=False,
            soft_wrap=True,
        )


@app.command("remove")
def member_remove(
    slug: Annotated[str, typer.Argument(metavar="SLUG", help="The workspace's slug.")],
    email: Annotated[str, typer.Argument(metavar="EMAIL", help="The member's address.")],
    yes: Yes = False,
) -> None:
    """Remove a member. Each of their mailboxes goes as `mailbox remove` removes one: the mail
    no other mailbox has goes with it, people and companies stay. Their API tokens stop working.
    The last admin cannot be removed.

    Example: mailroom member remove acme bob@acme.com --yes

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    from mailroom.workspace import (
        OPERATOR,
        get_member,
        get_workspace,
        mailboxes_of,
        remove_member,
        stored_messages,
    )

    async def work(_: Settings) -> str | None:
        workspace = await get_workspace(slug)
        member = await get_member(workspace, email)
        boxes = [b for b in await mailboxes_of(workspace.id) if b.owner_id == member.id]
        held = sum([await stored_messages(b.id) for b in boxes])
        what = (
            f"Removing {member.email} from {slug} removes their {counted(len(boxes), 'mailbox')}"
            f" (holding {counted(held, 'message')}) with the mail no other mailbox has, and their"
            " API tokens; people and companies stay."
        )
        if not confirm(what, f"Remove {member.email}?", yes=yes):
            return None
        removed = await remove_member(OPERATOR, workspace, member)
        return (
            f"Removed {member.email} from {slug}: {counted(removed.mailboxes, 'mailbox')}, "
            f"{counted(removed.messages, 'message')} no other mailbox had"
        )

    done = run(work)
    if done is None:
        raise typer.Exit(1)
    out.print(done, markup=False, soft_wrap=True)
