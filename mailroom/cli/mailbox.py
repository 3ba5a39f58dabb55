"""`mailroom mailbox`: connect mailboxes, sync them, watch their state."""

from __future__ import annotations

import json
import os
from typing import Annotated, Any

import typer

from mailroom.bootstrap import intake_for
from mailroom.cli.common import out, run
from mailroom.cli.files import summary
from mailroom.errors import InvalidInputError
from mailroom.intake.port import IngestReport
from mailroom.models import Mailbox
from mailroom.settings import Settings
from mailroom.sources.imap.accounts import connection_for
from mailroom.sources.imap.poller import MailboxSync
from mailroom.workspace import (
    OPERATOR,
    add_imap_mailbox,
    find_mailbox,
    get_member,
    get_workspace,
    mailbox_statuses,
    reconnect_imap_mailbox,
)

app = typer.Typer(help="Connect mailboxes and watch their sync.", no_args_is_help=True)


def _password(env: str | None, prompt: str) -> str:
    """From the environment variable named, or asked for; never from the command line, where
    other users and shell histories would see it."""
    if env:
        value = os.environ.get(env)
        if value is None:
            raise InvalidInputError(f"the environment variable {env} is not set")
        return value
    entered: str = typer.prompt(prompt, hide_input=True)
    return entered


@app.command("add-imap")
def mailbox_add_imap(
    slug: str,
    member_email: str,
    host: Annotated[str, typer.Option("--host", help="IMAP server.")],
    username: Annotated[str, typer.Option("--username", help="Login name.")],
    port: Annotated[int | None, typer.Option("--port", help="Default: 993 (tls), 143.")] = None,
    security: Annotated[
        str, typer.Option("--security", help="tls, starttls, or none (local hosts only).")
    ] = "tls",
    password_env: Annotated[
        str | None,
        typer.Option("--password-env", help="Read the password from this environment variable."),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="The mailbox's email address if the login name is not one "
            "(default: the member's).",
        ),
    ] = None,
) -> None:
    """Connect a member's IMAP mailbox (the login is checked before it is saved)."""
    password = _password(password_env, f"Password for {username}")

    async def work(settings: Settings) -> None:
        workspace = await get_workspace(slug)
        member = await get_member(workspace, member_email)
        connection = connection_for(host, port, security.lower(), username)
        mailbox = await add_imap_mailbox(settings, workspace, member, connection, password, address)
        out.print(
            f"Connected [bold]{mailbox.address}[/bold] ({connection.host}:{connection.port}, "
            f"{connection.security}) for {member.email}; `mailroom serve` keeps it in sync",
            soft_wrap=True,
        )

    run(work)


@app.command("reconnect")
def mailbox_reconnect(
    slug: str,
    address: str,
    password_env: Annotated[
        str | None,
        typer.Option("--password-env", help="A new password, from this environment variable."),
    ] = None,
    new_password: Annotated[
        bool, typer.Option("--new-password", help="Ask for a new password.")
    ] = False,
) -> None:
    """Check a mailbox's login again (after NEEDS_REAUTH) and let it sync again."""
    password = _password(password_env, "New password") if password_env or new_password else None

    async def work(settings: Settings) -> None:
        mailbox = await _mailbox(slug, address)
        await reconnect_imap_mailbox(settings, mailbox, password, by=OPERATOR)
        out.print(f"Reconnected [bold]{mailbox.address}[/bold]; it will sync again")

    run(work)


@app.command("sync")
def mailbox_sync(slug: str, address: str) -> None:
    """Sync one mailbox to completion and exit (for cron, or to catch up by hand)."""

    async def work(settings: Settings) -> IngestReport:
        mailbox = await _mailbox(slug, address)
        async with intake_for(settings, untrusted=True) as intake:
            return await MailboxSync(mailbox.id, settings, intake).once()

    report = run(work)
    out.print(summary(report), soft_wrap=True)


@app.command("status")
def mailbox_status(
    slug: str,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list.")] = False,
) -> None:
    """Every mailbox of a workspace: status, messages stored, progress, last error."""

    async def work(_: Settings) -> list[dict[str, Any]]:
        return await mailbox_statuses(await get_workspace(slug))

    rows = run(work)
    if as_json:
        print(json.dumps(rows))
        return
    for row in rows:
        progress = row["progress"]
        error = f"  last error: {row['last_error']}" if row["last_error"] else ""
        out.print(
            f"{row['address']:<32} {row['provider']:<10} {row['status']:<12} "
            f"{row['messages']:>7} messages  {progress['done']}/{progress['total']}{error}",
            soft_wrap=True,
        )


async def _mailbox(slug: str, address: str) -> Mailbox:
    return await find_mailbox(await get_workspace(slug), address)
