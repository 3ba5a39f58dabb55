"""The `mailroom` command, one module per command group:

common      settings, database, errors: what every command shares
workspace   workspace create / set / list / remove
member      member add / list / remove / forwarding-address
token       token create / list / revoke
mailbox     mailbox add-imap / add-caldav / connect / reconnect / sync / status / remove
blocklist   blocklist add / list / remove
files       ingest, parse
events      events: a workspace's meetings
intelligence  explain, intelligence rebuild: relationship figures
server      serve, migrate, secret-key
worker      worker: jobs from the queue in PostgreSQL, for running at scale
demo        demo: a sample workspace to try Mailroom with, then served
info        info, --version
labels      how help labels what a command takes

Importing this package loads typer and rich only: each command imports what its work needs.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer

from mailroom.cli import (
    blocklist,
    common,
    demo,
    events,
    files,
    info,
    intelligence,
    labels,
    mailbox,
    member,
    server,
    token,
    worker,
    workspace,
)

app = typer.Typer(
    name="mailroom",
    help="Email and calendar ingestion for CRM workspaces.",
    no_args_is_help=True,
    epilog="Settings come from MAILROOM_* environment variables, or the TOML file that "
    "MAILROOM_CONFIG names; `mailroom info` shows the ones in use. To try it: mailroom demo "
    "(a sample workspace, served). To begin for real: mailroom workspace create acme",
    pretty_exceptions_enable=False,
    add_completion=False,
    # Help as plain text, for every command (the groups take this one's): drawing it in rich's
    # panels loads rich's Markdown and traceback modules, which doubled `mailroom --help`'s time.
    rich_markup_mode=None,
)


def _print_version(asked: bool) -> None:
    if asked:
        print(f"mailroom {info.version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    pass


app.add_typer(workspace.app, name="workspace")
app.add_typer(member.app, name="member")
app.add_typer(token.app, name="token")
app.add_typer(mailbox.app, name="mailbox")
app.add_typer(blocklist.app, name="blocklist")
app.add_typer(intelligence.app, name="intelligence")
app.command()(intelligence.explain)
app.command()(files.ingest)
app.command()(files.parse)
app.command()(events.events)
app.command()(server.serve)
app.command()(server.migrate)
app.command()(worker.worker)
app.command("secret-key")(server.secret_key)
app.command()(info.info)
app.command()(demo.demo)


def main() -> None:
    # What Mailroom writes (the database and its journal, the SMTP spool, exports) holds other
    # people's mail: readable by its owner only, whatever the umask of the shell that started it.
    os.umask(0o077)
    labels.readable()
    common.QUIET_LOGS = True
    app(prog_name="mailroom")  # also when run as `python -m mailroom`
