"""A worker process (`mailroom worker`): procrastinate's worker over Mailroom's tasks
(mailroom/jobs), with the intake its sync passes store through, and /metrics on a port of its
own when one is set."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import start_http_server

from mailroom.bootstrap import intake_for
from mailroom.jobs.depth import queued_jobs
from mailroom.jobs.engine import job_app
from mailroom.jobs.tasks import Tools, measured
from mailroom.metrics import GAUGES, REGISTRY, Reading
from mailroom.settings import Settings
from mailroom.sources.supervision import OWNER

log = logging.getLogger(__name__)
READ_EVERY = 5.0  # seconds between reads of the queue's depth, for /metrics


async def run_worker(settings: Settings, concurrency: int) -> None:
    """Run jobs until SIGTERM or SIGINT, then wait for those running (up to
    `jobs_shutdown_timeout`, then abort them)."""
    # procrastinate logs every job's start and end at INFO: two periodic jobs every five
    # seconds, and a pass of every mailbox every minute. Mailroom logs what a pass changed.
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    app = job_app(settings.database_url)
    async with intake_for(settings, untrusted=True) as intake, app.open_async(), _metrics(settings):
        await app.run_worker_async(
            name=OWNER,
            concurrency=concurrency,
            additional_context=Tools(settings, intake).context(),
            update_heartbeat_interval=settings.jobs_heartbeat_seconds,
            stalled_worker_timeout=settings.jobs_stalled_after,
            shutdown_graceful_timeout=settings.jobs_shutdown_timeout,
            install_signal_handlers=True,
            delete_jobs="successful",  # failed ones are kept a week (tasks.prune_jobs)
            worker_middleware=[measured],
        )


@asynccontextmanager
async def _metrics(settings: Settings) -> AsyncIterator[None]:
    """/metrics on metrics_host:metrics_port when a port is set (a worker serves no HTTP
    otherwise): the jobs this worker ran, and the queue's depth, read every few seconds."""
    if not settings.metrics_enabled or settings.metrics_port is None:
        yield
        return
    server, thread = start_http_server(
        settings.metrics_port, settings.metrics_host, registry=REGISTRY
    )
    reading = asyncio.create_task(_keep_reading())
    try:
        yield
    finally:
        reading.cancel()
        server.shutdown()
        thread.join()


async def _keep_reading() -> None:
    while True:
        try:
            GAUGES.reading = Reading(jobs=await queued_jobs())
        except Exception:  # the next look tries again; a scrape shows the last reading
            log.exception("metrics: the database does not answer")
        await asyncio.sleep(READ_EVERY)
