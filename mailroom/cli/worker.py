"""`mailroom worker`: jobs from the queue in PostgreSQL (mailroom/jobs), beside or instead of
`serve`'s own pollers, on as many processes and machines as the mailboxes need."""

from __future__ import annotations

import logging
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
    credentials), MAILROOM_JOBS_* and the providers' MAILROOM_IMAP_*, _GMAIL_*, _GRAPH_*.
    """

    async def work(settings: Settings) -> None:
        from mailroom.bootstrap import intake_for
        from mailroom.jobs.engine import job_app
        from mailroom.jobs.tasks import Tools
        from mailroom.logs import configure
        from mailroom.sources.supervision import OWNER

        configure(settings.log_format)
        # procrastinate logs every job's start and end at INFO: two periodic jobs every five
        # seconds, and a pass of every mailbox every minute. Mailroom logs what a pass changed.
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
        app = job_app(settings.database_url)
        async with intake_for(settings, untrusted=True) as intake, app.open_async():
            await app.run_worker_async(
                name=OWNER,
                concurrency=concurrency or settings.jobs_concurrency,
                additional_context=Tools(settings, intake).context(),
                update_heartbeat_interval=settings.jobs_heartbeat_seconds,
                stalled_worker_timeout=settings.jobs_stalled_after,
                shutdown_graceful_timeout=settings.jobs_shutdown_timeout,
                install_signal_handlers=True,
                delete_jobs="successful",  # failed ones are kept a week (tasks.prune_jobs)
            )

    run(work, server=True)
