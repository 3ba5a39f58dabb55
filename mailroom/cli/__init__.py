"""The `mailroom` command, one module per command group:

common      settings, database, errors: what every command shares
workspace   workspace create / set
member      member add / forwarding-address
token       token create
mailbox     mailbox add-imap / reconnect / sync / status
files       ingest, parse
server      serve, migrate, secret-key
"""

from __future__ import annotations

import os

import typer

from mailroom.cli import files, mailbox, member, server, token, workspace

app = typer.Typer(
    name="mailroom",
    help="Email and calendar ingestion for CRM workspaces.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(workspace.app, name="workspace")
app.add_typer(member.app, name="member")
app.add_typer(token.app, name="token")
app.add_typer(mailbox.app, name="mailbox")
app.command()(files.ingest)
app.command()(files.parse)
app.command()(server.serve)
app.command()(server.migrate)
app.command("secret-key")(server.secret_key)


def main() -> None:
    # What Mailroom writes (the database and its journal, the SMTP spool, exports) holds other
    # people's mail: readable by its owner only, whatever the umask of the shell that started it.
    os.umask(0o077)
    app()
