"""`mailroom mailbox`: connect mailboxes, sync them, watch their state, remove them."""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mailroom.choices import AccountProvider, Provider
from mailroom.cli.common import QUEUE, out, refuse, run, said_queued
from mailroom.cli.confirm import Yes, confirm, counted
from mailroom.cli.files import summary

if TYPE_CHECKING:
    from mailroom.jobs.queue import Queued
    from mailroom.models import Mailbox
    from mailroom.settings import Settings
    from mailroom.sources.reconciliation import Reconciliation
    from mailroom.workspace import ConsentLink

app = typer.Typer(help="Connect mailboxes, watch their sync, remove them.", no_args_is_help=True)


def _password(env: str | None, prompt: str) -> str:
    """From the environment variable named, or asked for; never from the command line, where
    other users and shell histories would see it."""
    if env:
        value = os.environ.get(env)
        if value is None:
            refuse(f"the environment variable {env} is not set")
        return value
    if not sys.stdin.isatty():
        refuse(
            "no terminal to ask for the password on: name a variable that holds it with "
            "--password-env VARIABLE"
        )
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
        typer.Option(
            "--password-env",
            metavar="VARIABLE",
            help="Read the password from this environment variable.",
        ),
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
    """Connect a member's IMAP mailbox (the login is checked before it is saved).

    Example: mailroom mailbox add-imap acme alice@acme.com --host imap.fastmail.com
    --username alice@acme.com --password-env IMAP_PASSWORD

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database), MAILROOM_SECRET_KEY
    (encrypts the password), MAILROOM_IMAP_ALLOW_PRIVATE_HOSTS, MAILROOM_IMAP_TIMEOUT.
    """
    from mailroom.sources.imap.accounts import connection_for
    from mailroom.workspace import add_imap_mailbox, get_member, get_workspace

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


@app.command("add-caldav")
def mailbox_add_caldav(
    slug: str,
    member_email: str,
    url: Annotated[
        str,
        typer.Option(
            "--url", help="The calendar's URL, or the account's (principal or calendar home)."
        ),
    ],
    username: Annotated[str, typer.Option("--username", help="Login name.")],
    password_env: Annotated[
        str | None,
        typer.Option(
            "--password-env",
            metavar="VARIABLE",
            help="Read the password (an app password, where the provider has them) from this "
            "environment variable.",
        ),
    ] = None,
    allow_private_host: Annotated[
        bool,
        typer.Option(
            "--allow-private-host",
            help="Let this mailbox reach a server on this machine or its network (and over "
            "http://).",
        ),
    ] = False,
    address: Annotated[
        str | None,
        typer.Option(
            "--address",
            help="The mailbox's email address if the login name is not one "
            "(default: the member's).",
        ),
    ] = None,
) -> None:
    """Connect a member's CalDAV calendars (Fastmail, iCloud, Nextcloud, Radicale, ...); the
    login and the calendars are checked before the mailbox is saved.

    Example: mailroom mailbox add-caldav acme alice@acme.com
    --url https://caldav.fastmail.com/dav/calendars/user/alice@acme.com/
    --username alice@acme.com --password-env CALDAV_PASSWORD

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database), MAILROOM_SECRET_KEY
    (encrypts the password), MAILROOM_CALDAV_ALLOW_PRIVATE_HOSTS, MAILROOM_CALDAV_TIMEOUT,
    MAILROOM_CALENDAR_POLL_SECONDS.
    """
    from mailroom.sources.caldav import account_for
    from mailroom.workspace import add_caldav_mailbox, get_member, get_workspace

    password = _password(password_env, f"Password for {username}")

    async def work(settings: Settings) -> None:
        workspace = await get_workspace(slug)
        member = await get_member(workspace, member_email)
        account = account_for(settings, url, username, password, allow_private=allow_private_host)
        mailbox, calendars = await add_caldav_mailbox(
            settings,
            workspace,
            member,
            account,
            allow_private_host=allow_private_host,
            address=address,
        )
        out.print(
            f"Connected [bold]{mailbox.address}[/bold] ({counted(calendars, 'calendar')} at "
            f"{account.url}) for {member.email}; `mailroom serve` keeps it in sync",
            soft_wrap=True,
        )

    run(work)


@app.command("connect")
def mailbox_connect(
    slug: str,
    member_email: str,
    provider: Annotated[
        AccountProvider,
        typer.Option(
            "--provider",
            metavar="PROVIDER",
            case_sensitive=False,
            help="google: a Google account (Gmail); microsoft: a Microsoft 365 work or school "
            "account (Outlook).",
        ),
    ],
) -> None:
    """Connect a member's account by their consent: prints the URL (on the last line) at which
    the account's owner allows Mailroom to read it; the mailbox is saved once they have.

    Example: mailroom mailbox connect acme alice@acme.com --provider google

    Settings: MAILROOM_GOOGLE_CLIENT_ID and MAILROOM_GOOGLE_CLIENT_SECRET (Google's OAuth
    client) or MAILROOM_MICROSOFT_CLIENT_ID and MAILROOM_MICROSOFT_CLIENT_SECRET (the Entra
    app registration; MAILROOM_MICROSOFT_TENANT),
    MAILROOM_PUBLIC_URL (where the browser comes back: `mailroom serve` must answer there),
    MAILROOM_SECRET_KEY (encrypts the tokens), MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR.
    """
    from mailroom.workspace import get_member, get_workspace, start_connection

    async def work(settings: Settings) -> ConsentLink:
        workspace = await get_workspace(slug)
        member = await get_member(workspace, member_email)
        return await start_connection(settings, workspace, member, provider)

    _print_consent(run(work), f"connect a {provider.value.capitalize()} account for {member_email}")


@app.command("reconnect")
def mailbox_reconnect(
    slug: str,
    address: str,
    password_env: Annotated[
        str | None,
        typer.Option(
            "--password-env",
            metavar="VARIABLE",
            help="A new password, from this environment variable.",
        ),
    ] = None,
    new_password: Annotated[
        bool, typer.Option("--new-password", help="Ask for a new password.")
    ] = False,
) -> None:
    """Let a mailbox sync again (after NEEDS_REAUTH): an IMAP login is checked again; a Google
    account's owner gives their consent again at the URL printed (on the last line).

    Example: mailroom mailbox reconnect acme alice@acme.com --new-password

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database), MAILROOM_SECRET_KEY,
    MAILROOM_IMAP_ALLOW_PRIVATE_HOSTS, MAILROOM_IMAP_TIMEOUT; for Google accounts
    MAILROOM_GOOGLE_CLIENT_ID, MAILROOM_GOOGLE_CLIENT_SECRET and MAILROOM_PUBLIC_URL.
    """
    from mailroom.workspace import (
        OPERATOR,
        reconnect_caldav_mailbox,
        reconnect_imap_mailbox,
        start_reconnection,
    )

    asked = password_env or new_password
    # Asked for before the database is opened, as add-imap does (a mailbox connected by
    # consent then refuses it).
    password = _password(password_env, "New password") if asked else None

    async def work(settings: Settings) -> ConsentLink | None:
        mailbox = await _mailbox(slug, address)
        if mailbox.provider is Provider.CALDAV:
            await reconnect_caldav_mailbox(settings, mailbox, password, by=OPERATOR)
            out.print(f"Reconnected [bold]{mailbox.address}[/bold]; it will sync again")
            return None
        if mailbox.provider is not Provider.IMAP:
            if asked:
                refuse(f"{mailbox.address} is reconnected by consent, not with a password")
            return await start_reconnection(settings, mailbox, by=OPERATOR)
        await reconnect_imap_mailbox(settings, mailbox, password, by=OPERATOR)
        out.print(f"Reconnected [bold]{mailbox.address}[/bold]; it will sync again")
        return None

    link = run(work)
    if link is not None:
        _print_consent(link, f"reconnect {address}")


@app.command("sync")
def mailbox_sync(
    slug: Annotated[str, typer.Argument(metavar="SLUG", help="The workspace's slug.")],
    address: Annotated[str, typer.Argument(metavar="ADDRESS", help="The mailbox's address.")],
    queue: Annotated[bool, QUEUE] = False,
) -> None:
    """Sync one mailbox (IMAP, Gmail, Microsoft 365 or CalDAV) to completion and exit (for
    cron, or to catch up by hand), or, with --queue, ask the workers for a pass.

    Example: mailroom mailbox sync acme alice@acme.com

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database), MAILROOM_SECRET_KEY,
    MAILROOM_IMAP_* (timeouts, batches, private hosts), MAILROOM_GMAIL_* and
    MAILROOM_GOOGLE_* (quota, endpoints, the OAuth client), MAILROOM_GRAPH_* and
    MAILROOM_MICROSOFT_* (the same for Microsoft 365), MAILROOM_NORMALIZE_WORKERS,
    MAILROOM_PARSE_TIMEOUT and the message limits (MAILROOM_MAX_*).
    """
    from mailroom.bootstrap import intake_for
    from mailroom.workspace import Synced, sync_mailbox

    if queue:
        from mailroom.jobs.queue import queue_sync

        async def ask(settings: Settings) -> Queued:
            return await queue_sync(settings, await _mailbox(slug, address))

        said_queued(run(ask), f"A pass of {address}")
        return

    async def work(settings: Settings) -> Synced:
        mailbox = await _mailbox(slug, address)
        async with intake_for(settings, untrusted=True) as intake:
            return await sync_mailbox(settings, mailbox, intake)

    synced = run(work)
    if synced.events is not None:
        e = synced.events
        out.print(
            f"{counted(e.new + e.updated + e.unchanged, 'event')}: {e.new} new, {e.updated} "
            f"updated, {e.unchanged} unchanged; {e.removed} removed ({e.private} private); "
            f"{counted(e.people_created, 'person', 'people')} created",
            soft_wrap=True,
        )
        return
    removed = f"; {counted(synced.removed, 'message')} removed" if synced.removed else ""
    out.print(summary(synced.report) + removed, soft_wrap=True)


@app.command("reconcile")
def mailbox_reconcile(
    slug: Annotated[str, typer.Argument(metavar="SLUG", help="The workspace's slug.")],
    address: Annotated[str, typer.Argument(metavar="ADDRESS", help="The mailbox's address.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
    repair: Annotated[
        bool, typer.Option("--repair", help="Fetch what is missing and remove what is extra.")
    ] = False,
    queue: Annotated[bool, QUEUE] = False,
) -> None:
    """Compare what the provider holds (Gmail: messages outside spam, trash and drafts;
    Microsoft 365: the messages of Inbox and Sent Items; IMAP: the UIDs of each synced folder)
    with what Mailroom stored for the mailbox.

    Prints `provider N, stored N, missing N, extra N` and the keys missing and extra; exits with
    1 when they differ and were not repaired.

    Example: mailroom mailbox reconcile acme alice@acme.com --repair

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database), MAILROOM_SECRET_KEY,
    MAILROOM_IMAP_*, MAILROOM_GMAIL_* / MAILROOM_GOOGLE_* and MAILROOM_GRAPH_* /
    MAILROOM_MICROSOFT_* (as for `mailbox sync`).
    """
    from mailroom.bootstrap import intake_for
    from mailroom.workspace import reconcile_mailbox

    if queue:
        from mailroom.jobs.queue import queue_reconcile

        async def ask(settings: Settings) -> Queued:
            mailbox = await _mailbox(slug, address)
            return await queue_reconcile(settings, mailbox, repair=repair)

        said_queued(run(ask), f"A reconciliation of {address}")
        return

    async def work(settings: Settings) -> Reconciliation:
        mailbox = await _mailbox(slug, address)
        async with intake_for(settings, untrusted=True) as intake:
            return await reconcile_mailbox(settings, mailbox, intake, repair=repair)

    found = run(work)
    if as_json:
        print(json.dumps(found.to_json()))
    else:
        out.print(
            f"provider {found.provider}, stored {found.stored}, missing {len(found.missing)}, "
            f"extra {len(found.extra)}"
            + (" (repaired)" if found.repaired and (found.missing or found.extra) else ""),
            markup=False,
            soft_wrap=True,
        )
        for key in found.missing:
            out.print(f"missing {key}", markup=False, soft_wrap=True)
        for key in found.extra:
            out.print(f"extra {key}", markup=False, soft_wrap=True)
    if (found.missing or found.extra) and not found.repaired:
        raise typer.Exit(1)


@app.command("status")
def mailbox_status(
    slug: str,
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list.")] = False,
) -> None:
    """Every mailbox of a workspace: status, messages stored, progress, last error, and what
    its last reconciliation found.

    Example: mailroom mailbox status acme --json

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    from mailroom.workspace import get_workspace, mailbox_statuses

    async def work(_: Settings) -> list[dict[str, Any]]:
        return await mailbox_statuses(await get_workspace(slug))

    rows = run(work)
    if as_json:
        print(json.dumps(rows))
        return
    for row in rows:
        progress = row["progress"]
        error = f"  last error: {row['last_error']}" if row["last_error"] else ""
        found = row["reconciliation"]
        reconciled = (
            f"  reconciled {found['at'][:16]}: missing {found['missing']}, extra {found['extra']}"
            if found
            else ""
        )
        out.print(
            f"{row['address']:<32} {row['provider']:<10} {row['status']:<12} "
            f"{counted(row['messages'], 'message'):>14}  {progress['done']}/{progress['total']}"
            f"{reconciled}{error}",
            soft_wrap=True,
        )


@app.command("remove")
def mailbox_remove(
    slug: Annotated[str, typer.Argument(metavar="SLUG", help="The workspace's slug.")],
    address: Annotated[str, typer.Argument(metavar="ADDRESS", help="The mailbox's address.")],
    provider: Annotated[
        Provider | None,
        typer.Option(
            "--provider",
            metavar="KIND",
            case_sensitive=False,
            help="imap, import or forwarding: which of a member's mailboxes at ADDRESS, when "
            "several share it (`mailbox status` shows them).",
        ),
    ] = None,
    yes: Yes = False,
) -> None:
    """Remove a mailbox: the mail only it had goes (a message another mailbox also has stays);
    people and companies stay, and their figures stop counting it.

    Example: mailroom mailbox remove acme bob@acme.com --provider imap --yes

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """
    from mailroom.workspace import (
        OPERATOR,
        get_workspace,
        mailbox_at,
        remove_mailbox,
        stored_messages,
    )

    async def work(_: Settings) -> int | None:
        mailbox = await mailbox_at(await get_workspace(slug), address, provider)
        kind = mailbox.provider.value.lower()
        held = counted(await stored_messages(mailbox.id), "message")
        what = (
            f"Removing the {kind} mailbox {mailbox.address} of {slug} (holding {held}) removes "
            "the mail no other mailbox has; people and companies stay."
        )
        if not confirm(what, f"Remove the {kind} mailbox {mailbox.address}?", yes=yes):
            return None
        return await remove_mailbox(OPERATOR, mailbox)

    removed = run(work)
    if removed is None:
        raise typer.Exit(1)
    out.print(
        f"Removed mailbox {address} of {slug}: {counted(removed, 'message')} no other mailbox had",
        markup=False,
        soft_wrap=True,
    )


def _print_consent(link: ConsentLink, what: str) -> None:
    """The URL alone on the last line, whole, so that scripts can take it with `tail -1`."""
    minutes = max(1, round((link.expires_at - datetime.now(UTC)).total_seconds() / 60))
    out.print(
        f"To {what}, the account's owner opens this URL in a browser, signs in to "
        f"{link.provider} and allows Mailroom (within {minutes} minutes):",
        markup=False,
        soft_wrap=True,
    )
    print(link.url)


async def _mailbox(slug: str, address: str) -> Mailbox:
    from mailroom.workspace import find_mailbox, get_workspace

    return await find_mailbox(await get_workspace(slug), address)
