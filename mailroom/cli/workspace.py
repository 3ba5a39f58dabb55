"""`mailroom workspace`: create and change workspaces."""

from __future__ import annotations

from typing import Annotated

import typer

from mailroom.cli.common import out, run
from mailroom.models import Plan, RecordCreationMode, SenderPolicy
from mailroom.settings import Settings
from mailroom.workspace import create_workspace, get_workspace, update_workspace

app = typer.Typer(help="Create and change workspaces.", no_args_is_help=True)


@app.command("create")
def workspace_create(
    slug: str,
    name: Annotated[str | None, typer.Option(help="Display name (default: the slug).")] = None,
    plan: Annotated[Plan, typer.Option(case_sensitive=False)] = Plan.FREE,
) -> None:
    """Create a workspace."""

    async def work(_: Settings) -> None:
        workspace = await create_workspace(slug, name, plan)
        out.print(f"Created workspace [bold]{workspace.slug}[/bold] (plan {workspace.plan})")

    run(work)


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
    """Change a workspace's settings."""

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
