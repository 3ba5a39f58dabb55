"""`mailroom workspace`: create, change, list and remove workspaces."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mailroom.choices import Plan, RecordCreationMode, SenderPolicy
from mailroom.cli.common import err, out, run
from mailroom.cli.confirm import Yes, confirm, counted

if TYPE_CHECKING:
    from mailroom.settings import Settings

app = typer.Typer(help="Create, change, list and remove workspaces.", no_args_is_help=True)


@app.command("create")
def workspace_create(
    slug: str,
    name: Annotated[str | None, typer.Option(help="Display name (default: the slug).")] = None,
    plan: Annotated[
        Plan, typer.Option(case_sensitive=False, help="How many mailboxes a member may connect.")
    ] = Plan.FREE,
) -> None:
    """Create a workspace, and the database too if there is none yet (it says where).

    Example: mailroom workspace create acme --name "Acme Inc" --plan pro

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    from mailroom.workspace import create_workspace

    async def work(_: Settings) -> None:
        workspace = await create_workspace(slug, name, plan)
        out.print(f"Created workspace [bold]{workspace.slug}[/bold] (plan {workspace.plan})")

    run(work, create=True)


@app.command("set")
def workspace_set(
    slug: str,
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    plan: Annotated[Plan | None, typer.Option(case_sensitive=False)] = None,
    record_creation_mode: Annotated[
        RecordCreationMode | None,
        typer.Option("--record-creation-mode", case_sensitive=False, help="ALL, SELECTIVE, NONE."),
    ] = None,
    sender_policy: Annotated[
        SenderPolicy | None,
        typer.Option(
            "--sender-policy",
            case_sensitive=False,
            help="VERIFIED: mail must pass DKIM or SPF; ADDRESS_ONLY: the From is enough.",
        ),
    ] = None,
) -> None:
    """Change a workspace's settings.

    Example: mailroom workspace set acme --record-creation-mode ALL --sender-policy ADDRESS_ONLY

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    from mailroom.workspace import get_workspace, update_workspace

    async def work(_: Settings) -> None:
        workspace = await update_workspace(
            await get_workspace(slug),
            name=name,
            plan=plan,
            record_creation_mode=record_creation_mode,
            sender_policy=sender_policy,
        )
        out.print(
            f"Workspace [bold]{workspace.slug}[/bold]: name {workspace.name!r}, plan "
            f"{workspace.plan}, record creation {workspace.record_creation_mode}, "
            f"sender policy {workspace.sender_policy}",
            soft_wrap=True,
        )

    run(work)


@app.command("list")
def workspace_list(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list.")] = False,
) -> None:
    """List every workspace: slug, name, plan, members, mailboxes and messages.

    Example: mailroom workspace list

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    from mailroom.workspace import workspace_size, workspaces

    async def work(_: Settings) -> list[dict[str, Any]]:
        rows = []
        for workspace in await workspaces():
            size = await workspace_size(workspace)
            rows.append(
                {
                    "slug": workspace.slug,
                    "name": workspace.name,
                    "plan": workspace.plan.value,
                    "members": size.members,
                    "mailboxes": size.mailboxes,
                    "messages": size.messages,
                }
            )
        return rows

    rows = run(work)
    if as_json:
        print(json.dumps(rows))
        return
    if not rows:
        err.print("No workspaces yet: `mailroom workspace create SLUG` makes one")
    for row in rows:
        out.print(
            f"{row['slug']:<24} {row['plan'].lower():<10} {counted(row['members'], 'member')}, "
            f"{counted(row['mailboxes'], 'mailbox')}, {counted(row['messages'], 'message')}"
            f"  ({row['name']})",
            markup=False,
            soft_wrap=True,
        )


@app.command("remove")
def workspace_remove(
    slug: Annotated[str, typer.Argument(metavar="SLUG", help="The workspace's slug.")],
    yes: Yes = False,
) -> None:
    """Remove a workspace and everything in it: members, API tokens, mailboxes, mail, people
    and companies. It cannot be undone.

    Example: mailroom workspace remove acme --yes

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    from mailroom.workspace import get_workspace, remove_workspace, workspace_size

    async def work(_: Settings) -> bool:
        workspace = await get_workspace(slug)
        size = await workspace_size(workspace)
        what = (
            f"Removing workspace {slug} ({workspace.name}) removes everything in it: "
            f"{counted(size.members, 'member')} and their API tokens, "
            f"{counted(size.mailboxes, 'mailbox')}, {counted(size.messages, 'message')}, "
            f"{counted(size.people, 'person', 'people')} and {counted(size.companies, 'company')}. "
            "It cannot be undone."
        )
        if not confirm(what, f"Remove workspace {slug}?", yes=yes):
            return False
        await remove_workspace(workspace)
        return True

    if not run(work):
        raise typer.Exit(1)
    out.print(f"Removed workspace {slug}", markup=False)
