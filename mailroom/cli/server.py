"""`mailroom serve`, `migrate` and `secret-key`: running Mailroom."""

from __future__ import annotations

from mailroom.cli.common import out, run
from mailroom.settings import Settings


def serve() -> None:
    """Run Mailroom: the GraphQL API and health check, the SMTP receiver, the IMAP pollers."""
    from mailroom.app import run_server

    run(run_server, with_database=False, server=True)


def secret_key() -> None:
    """Print a new key for MAILROOM_SECRET_KEY (credentials are encrypted with it)."""
    from mailroom.vault import new_key

    print(new_key())


def migrate() -> None:
    """Bring the database schema up to date (every command also does this on start)."""

    async def work(settings: Settings) -> None:
        out.print("Database schema is up to date")

    run(work)
