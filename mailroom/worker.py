"""A worker process (`mailroom worker`): procrastinate's worker over Mailroom's tasks
(mailroom/jobs), with the intake its sync passes store through, and /metrics on a port of its
own when one is set."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
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
MAX_PAUSE = 30.0  # seconds, the longest wait before a stopped worker is started again


async def run_worker(settings: Settings, concurrency: int) -> None:
    """Run jobs until SIGTERM or SIGINT, then wait for those running (up to
    `jobs_shutdown_timeout`, then abort them).

    procrastinate's worker stops, as if asked to, when one of its side tasks fails (the LISTEN
    connection, the heartbeat, the periodic deferrer): a restart or failover of PostgreSQL
    would end every worker. So the signals are Mailroom's to take, and a worker that stopped
    without one is started again, after a growing pause, with a new connection pool; what it
    was running when the database went away is taken up as stalled (jobs/stalled.py)."""
    # procrastinate logs every job's start and end at INFO: two periodic jobs every five
    # seconds, and a pass of every mailbox every minute. Mailroom logs what a pass changed.
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    pause = 0.0
    try:
        async with intake_for(settings, untrusted=True) as intake, _metrics(settings):
            tools = Tools(settings, intake)
            while not stopping.is_set():
                started = loop.time()
                try:
                    await _run_until_stopped(settings, concurrency, tools, stopping)
                except Exception:  # the database, most likely: started again below
                    log.exception("the job worker failed")
                if stopping.is_set():
                    return
                if loop.time() - started > 2 * MAX_PAUSE:
                    pause = 0.0  # it ran a while: this is a new outage, not the same one
                pause = min(MAX_PAUSE, max(1.0, pause * 2))
                log.warning("the job worker stopped; starting it again in %g s", pause)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), pause)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def _run_until_stopped(
    settings: Settings, concurrency: int, tools: Tools, stopping: asyncio.Event
) -> None:
    """One run of procrastinate's worker, on a pool of its own, until it stops by itself or
    `stopping` is set (then it is cancelled: it finishes its running jobs, for up to
    `jobs_shutdown_timeout`)."""
    app = job_app(settings)
    async with app.open_async():
        worker = asyncio.create_task(
            app.run_worker_async(
                name=OWNER,
                concurrency=concurrency,
                additional_context=tools.context(),
                update_heartbeat_interval=settings.jobs_heartbeat_seconds,
                stalled_worker_timeout=settings.jobs_stalled_after,
                shutdown_graceful_timeout=settings.jobs_shutdown_timeout,
                install_signal_handlers=False,
                delete_jobs="successful",  # failed ones are kept a week (tasks.prune_jobs)
                worker_middleware=[measured],
            )
        )
        asked = asyncio.create_task(stopping.wait())
        await asyncio.wait({worker, asked}, return_when=asyncio.FIRST_COMPLETED)
        asked.cancel()
        if stopping.is_set() and not worker.done():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            return
        await worker  # raises what stopped it, if anything did


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
