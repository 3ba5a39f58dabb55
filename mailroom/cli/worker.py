"""`mailroom worker`: jobs from the queue in PostgreSQL (mailroom/jobs), beside or instead of
`serve`'s own pollers, on as many processes and machines as the mailboxes need."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mailroom.cli.common import run

if TYPE_CHECKING:
    from mailroom.settings import Settings


def worker(
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            min=1,
            help="Jobs run at once (default MAILROOM_JOBS_CONCURRENCY, 10).",
        ),
    ] = None,
) -> None:
    """Run jobs: mailbox sync passes, reconciliations, relationship rebuilds, until stopped.

    Every worker also defers the passes of the mailboxes that are due, and takes up the jobs of
    a worker that died; any number may run, on any machine that reaches the database. SIGTERM
    or Ctrl-C stops taking jobs and waits for those running (MAILROOM_JOBS_SHUTDOWN_TIMEOUT,
    60 s, then aborts them).

    Example: MAILROOM_DATABASE_URL=postgres://mailroom@db/mailroom mailroom worker --concurrency 20

    Settings: MAILROOM_DATABASE_URL (PostgreSQL), MAILROOM_SECRET_KEY (connected mailboxes'
    credentials), MAILROOM_JOBS_* and the providers' MAILROOM_IMAP_*, _GMAIL_*, _GRAPH_*;
    /metrics on MAILROOM_METRICS_HOST:MAILROOM_METRICS_PORT when a port is set.
    """

    async def work(settings: Settings) -> None:
        from mailroom.logs import configure
        from mailroom.worker import run_worker

        configure(settings.log_format)
        await run_worker(settings, concurrency or settings.jobs_concurrency)

    run(work, server=True)
