"""The `mailroom` command: serve, ingest, parse and the administrative verbs.

Every command reads the settings once, opens the database if it needs it, and turns Mailroom's
own errors into one line on stderr and a non-zero exit.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
import uvloop
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from tortoise.exceptions import BaseORMException

from mailroom.bootstrap import intake_for
from mailroom.db import database, refresh_statistics
from mailroom.errors import InvalidInputError, MailroomError
from mailroom.intake.port import IngestReport
from mailroom.models import Mailbox, Plan, RecordCreationMode, SenderPolicy
from mailroom.parsing.normalize import normalize
from mailroom.settings import Settings, load_settings
from mailroom.sources.files.formats import Source, count, discover, messages
from mailroom.sources.files.importer import import_sources

app = typer.Typer(
    name="mailroom",
    help="Email and calendar ingestion for CRM workspaces.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
workspace_app = typer.Typer(help="Create and change workspaces.", no_args_is_help=True)
member_app = typer.Typer(help="Add members to a workspace.", no_args_is_help=True)
token_app = typer.Typer(help="Create API tokens.", no_args_is_help=True)
mailbox_app = typer.Typer(help="Connect mailboxes and watch their sync.", no_args_is_help=True)
app.add_typer(workspace_app, name="workspace")
app.add_typer(member_app, name="member")
app.add_typer(token_app, name="token")
app.add_typer(mailbox_app, name="mailbox")

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)
T = TypeVar("T")


def _run(
    work: Callable[[Settings], Awaitable[T]], *, with_database: bool = True, server: bool = False
) -> T:
    """Run a command's coroutine. Errors become one line on stderr and exit code 1 (2 for a bug,
    whose traceback `MAILROOM_DEBUG=true` shows)."""
    settings: Settings | None = None
    try:
        settings = load_settings()

        async def main() -> T:
            if not with_database:
                return await work(settings)
            async with database(settings):
                return await work(settings)

        if server:
            # uvloop's sockets and scheduling cut the gateway's per-message cost by a third
            # (bench/smtp.py); one-shot commands keep the standard loop.
            return uvloop.run(main())
        return asyncio.run(main())
    except MailroomError as error:
        err.print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(1) from None
    except BaseORMException as error:
        err.print(f"[red]database error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/yellow]")
        raise typer.Exit(130) from None
    except Exception as error:
        if settings is not None and settings.debug:
            raise
        err.print(
            f"[red]internal error:[/red] {type(error).__name__}: {error} "
            "(set MAILROOM_DEBUG=true for the traceback)",
            soft_wrap=True,
        )
        raise typer.Exit(2) from None


@workspace_app.command("create")
def workspace_create(
    slug: str,
    name: Annotated[str | None, typer.Option(help="Display name (default: the slug).")] = None,
    plan: Annotated[Plan, typer.Option(case_sensitive=False)] = Plan.FREE,
) -> None:
    """Create a workspace."""
    from mailroom.workspaces import create_workspace

    async def work(_: Settings) -> None:
        workspace = await create_workspace(slug, name, plan)
        out.print(f"Created workspace [bold]{workspace.slug}[/bold] (plan {workspace.plan})")

    _run(work)


@workspace_app.command("set")
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
    from mailroom.workspaces import get_workspace, update_workspace

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

    _run(work)


@member_app.command("add")
def member_add(
    slug: str,
    email: str,
    admin: Annotated[bool, typer.Option("--admin", help="Make the member an admin.")] = False,
    alias: Annotated[
        list[str] | None, typer.Option("--alias", help="Another address the member sends from.")
    ] = None,
) -> None:
    """Add a member to a workspace."""
    from mailroom.workspaces import add_member, get_workspace

    async def work(_: Settings) -> None:
        workspace = await get_workspace(slug)
        member = await add_member(workspace, email, admin=admin, aliases=alias or [])
        aliases = f" (aliases: {', '.join(member.aliases)})" if member.aliases else ""
        out.print(f"Added {member.role.lower()} [bold]{member.email}[/bold] to {slug}{aliases}")

    _run(work)


@member_app.command("forwarding-address")
def member_forwarding_address(
    slug: str,
    email: str,
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Replace the address; the old one stops working.")
    ] = False,
) -> None:
    """Print a member's personal forwarding address (and the workspace's) on the last line."""
    from mailroom.workspaces import forwarding_address, get_member, get_workspace

    async def work(settings: Settings) -> None:
        workspace = await get_workspace(slug)
        member = await get_member(workspace, email)
        address = await forwarding_address(member, settings.mail_domain, rotate=rotate)
        err.print(f"Workspace address: {workspace.slug}@{settings.mail_domain}", soft_wrap=True)
        err.print(f"Personal forwarding address of {member.email}:", soft_wrap=True)
        print(address)

    _run(work)


@token_app.command("create")
def token_create(slug: str, email: str) -> None:
    """Create an API token for a member. The token is printed once, on the last line."""
    from mailroom.workspaces import create_token, get_member, get_workspace

    async def work(_: Settings) -> None:
        workspace = await get_workspace(slug)
        token = await create_token(await get_member(workspace, email))
        err.print(f"API token for {email} in {slug} (shown once, store it now):")
        print(token)

    _run(work)


@app.command()
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="mbox files, Maildir folders, .eml files.")],
    workspace: Annotated[str, typer.Option("--workspace", help="Workspace slug.")],
    mailbox: Annotated[str, typer.Option("--mailbox", help="The member address it belongs to.")],
) -> None:
    """Import messages from files into a member's import mailbox."""
    from mailroom.workspaces import get_member, get_workspace, import_mailbox

    async def work(settings: Settings) -> IngestReport:
        space = await get_workspace(workspace)
        box = await import_mailbox(await get_member(space, mailbox))
        found = discover(paths)
        for path, reason in found.skipped:
            err.print(f"[yellow]skipped[/yellow] {path}: {reason}", soft_wrap=True)
        total = sum(count(s) for s in found.sources)
        async with intake_for(settings, untrusted=False) as intake:
            with _progress(total) as advance:
                report = await import_sources(
                    intake,
                    box,
                    found.sources,
                    batch_size=settings.ingest_batch_size,
                    progress=advance,
                )
        await refresh_statistics()  # a large import changes what the planner should expect
        return report

    report = _run(work)
    out.print(_summary(report), soft_wrap=True)
    if report.failed:
        raise typer.Exit(1)


def _summary(report: IngestReport) -> str:
    seen = report.new + report.duplicate + report.unchanged + report.failed
    parts = [f"{report.new} new", f"{report.duplicate} duplicate", f"{report.unchanged} unchanged"]
    if report.failed:
        parts.append(f"{report.failed} failed (kept, will be retried)")
    return (
        f"{seen} messages: {', '.join(parts)}; {report.defective} with defects; "
        f"{report.people_created} people and {report.companies_created} companies created"
    )


class _progress:
    """A progress bar on stderr that the import advances."""

    def __init__(self, total: int) -> None:
        self.bar = Progress(
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=err,
            transient=True,
        )
        self.task = self.bar.add_task("import", total=total)

    def __enter__(self) -> Callable[[int], None]:
        self.bar.start()
        return lambda done: self.bar.advance(self.task, done)

    def __exit__(self, *_: object) -> None:
        self.bar.stop()


@app.command()
def parse(
    files: Annotated[list[Path], typer.Argument(help="Messages, mbox files or Maildir folders.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Parse messages and print what Mailroom reads from them."""

    async def work(settings: Settings) -> None:
        found = discover(files)
        for path, reason in found.skipped:
            err.print(f"[yellow]skipped[/yellow] {path}: {reason}", soft_wrap=True)
        for label, raw in _parse_inputs(found.sources):
            envelope = normalize(raw, limits=settings.limits)
            if as_json:
                sys.stdout.write(json.dumps({"file": label, **envelope.to_json()}) + "\n")
            else:
                _show(label, envelope.to_json())

    _run(work, with_database=False)


def _parse_inputs(sources: list[Source]) -> Iterator[tuple[str, bytes]]:
    """Each message with the file it came from (an mbox or Maildir's own path for theirs)."""
    for source in sources:
        for found in messages(source):
            yield str(source.path), found.raw


def _show(label: str, data: dict[str, Any]) -> None:
    def people(key: str) -> str:
        return ", ".join(
            f"{p['name']} <{p['address']}>" if p["name"] else p["address"] for p in data[key]
        )

    out.print(f"[bold]{label}[/bold]")
    out.print(f"  subject  {data['subject']}")
    out.print(f"  date     {data['date']}")
    for key in ("from", "to", "cc"):
        if data[key]:
            out.print(f"  {key:<8} {people(key)}")
    out.print(f"  snippet  {data['snippet']}")
    for attachment in data["attachments"]:
        out.print(f"  attached {attachment['filename']} ({attachment['content_type']})")
    for defect in data["defects"]:
        out.print(f"  [yellow]defect[/yellow]   {defect}")


@app.command()
def serve() -> None:
    """Run Mailroom: the GraphQL API and health check, the SMTP receiver, the IMAP pollers."""
    from mailroom.app import run_server

    _run(run_server, with_database=False, server=True)


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


@mailbox_app.command("add-imap")
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
    from mailroom.sources.imap.accounts import add_imap_mailbox, connection_for
    from mailroom.workspaces import get_member, get_workspace

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

    _run(work)


@mailbox_app.command("reconnect")
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
    from mailroom.sources.imap.accounts import reconnect_imap_mailbox

    password = _password(password_env, "New password") if password_env or new_password else None

    async def work(settings: Settings) -> None:
        mailbox = await _mailbox(slug, address)
        await reconnect_imap_mailbox(settings, mailbox, password)
        out.print(f"Reconnected [bold]{mailbox.address}[/bold]; it will sync again")

    _run(work)


@mailbox_app.command("sync")
def mailbox_sync(slug: str, address: str) -> None:
    """Sync one mailbox to completion and exit (for cron, or to catch up by hand)."""
    from mailroom.sources.imap.poller import MailboxSync

    async def work(settings: Settings) -> IngestReport:
        mailbox = await _mailbox(slug, address)
        async with intake_for(settings, untrusted=True) as intake:
            return await MailboxSync(mailbox.id, settings, intake).once()

    report = _run(work)
    out.print(_summary(report), soft_wrap=True)


@mailbox_app.command("status")
def mailbox_status(
    slug: str,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list.")] = False,
) -> None:
    """Every mailbox of a workspace: status, messages stored, progress, last error."""
    from mailroom.workspaces import get_workspace, mailbox_statuses

    async def work(_: Settings) -> list[dict[str, Any]]:
        return await mailbox_statuses(await get_workspace(slug))

    rows = _run(work)
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
    from mailroom.workspaces import find_mailbox, get_workspace

    return await find_mailbox(await get_workspace(slug), address)


@app.command("secret-key")
def secret_key() -> None:
    """Print a new key for MAILROOM_SECRET_KEY (credentials are encrypted with it)."""
    from mailroom.vault import new_key

    print(new_key())


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (every command also does this on start)."""

    async def work(settings: Settings) -> None:
        out.print("Database schema is up to date")

    _run(work)


def main() -> None:
    # What Mailroom writes (the database and its journal, the SMTP spool, exports) holds other
    # people's mail: readable by its owner only, whatever the umask of the shell that started it.
    os.umask(0o077)
    app()
