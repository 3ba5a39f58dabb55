"""`mailroom serve`, `migrate` and `secret-key`: running Mailroom."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated

import typer

from mailroom.cli.common import out, run

if TYPE_CHECKING:
    from mailroom.settings import Settings


def serve(
    api: Annotated[
        bool, typer.Option("--api", help="Only the HTTP API (at scale: any number of them).")
    ] = False,
    smtp: Annotated[
        bool, typer.Option("--smtp", help="Only the SMTP receiver (and /health, /metrics).")
    ] = False,
) -> None:
    """Run Mailroom: the GraphQL API and health check, the SMTP receiver, the IMAP pollers.

    The API is answered by a process per core on one port; the SMTP receiver, the pollers and
    ingest run in the first of them only. At scale, on PostgreSQL, each process may take one
    role: `serve --api`, `serve --smtp` (which then commits every message to the database
    before it accepts it), and `mailroom worker` for the syncing; README.md, "At scale".

    It makes the database if there is none yet, and says where.

    Example: MAILROOM_HTTP_PORT=8080 mailroom serve

    Settings: the API listens on MAILROOM_HTTP_HOST:MAILROOM_HTTP_PORT (127.0.0.1:8000), answered
    by MAILROOM_HTTP_WORKERS processes (default: one per core; 1: a single process), SMTP
    on MAILROOM_SMTP_HOST:MAILROOM_SMTP_PORT (127.0.0.1:2525; off with MAILROOM_SMTP_ENABLED=false)
    for MAILROOM_MAIL_DOMAIN; MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database, and the
    SMTP spool in the data folder); MAILROOM_SECRET_KEY for connected mailboxes, MAILROOM_IMAP_*,
    MAILROOM_SMTP_*, MAILROOM_GRAPHQL_* and MAILROOM_API_* limits: `mailroom info` shows the
    main ones, README.md all of them.
    """
    with _metrics_folder():
        from mailroom.app import run_server
        from mailroom.bootstrap import Roles

        roles = Roles.only(api=api, smtp=smtp)
        run(lambda settings: run_server(settings, roles), with_database=False, server=True)


@contextmanager
def _metrics_folder() -> Iterator[None]:
    """prometheus_client's multiprocess mode, for the API worker processes (mailroom/metrics.py):
    a folder of its own for this run, named in the environment before prometheus_client is
    imported (it reads it then) and so inherited by the workers; removed when `serve` stops.
    An operator's own PROMETHEUS_MULTIPROC_DIR is used as it is."""
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        yield
        return
    folder = tempfile.mkdtemp(prefix="mailroom-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    try:
        yield
    finally:
        del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        shutil.rmtree(folder, ignore_errors=True)


def secret_key() -> None:
    """Print a new key for MAILROOM_SECRET_KEY (credentials are encrypted with it).

    Example: export MAILROOM_SECRET_KEY=$(mailroom secret-key)

    Settings: none.
    """
    from mailroom.vault import new_key

    print(new_key())


def migrate() -> None:
    """Bring the database schema up to date, making the database if there is none yet.

    Every other command brings an existing database up to date too when it starts.

    Example: MAILROOM_DATABASE_URL=postgres://mailroom:secret@db:5432/mailroom mailroom migrate

    Settings: MAILROOM_DATABASE_URL or MAILROOM_DATA_DIR (the database).
    """

    async def work(settings: Settings) -> None:
        out.print("Database schema is up to date")

    run(work, create=True)
