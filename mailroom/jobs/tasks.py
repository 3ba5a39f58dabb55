"""Mailroom's tasks, and those that run on a schedule in every worker (procrastinate makes
sure each tick is deferred once, whatever the number of workers): deferring the passes that
are due, taking up stalled jobs, processing what a receiver left, counting the meetings that
began, and forgetting old jobs.

A sync pass's failure is the mailbox's, recorded on it as `serve`'s pollers record it, and
retried by the scheduler after the mailbox's backoff, not by procrastinate: a retry of the job
itself would go back into the queue beside the next pass the scheduler defers, which its
queueing lock forbids (stalled.py says how that breaks).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued
from procrastinate.jobs import Status
from procrastinate.worker import Worker

from mailroom import logs
from mailroom.errors import SyncError, TransientError
from mailroom.intake import Intake
from mailroom.jobs import schedule, stalled
from mailroom.metrics import JOB_LATENCY_SECONDS, JOB_SECONDS, JOBS
from mailroom.models import Mailbox, MailboxStatus
from mailroom.settings import Settings
from mailroom.sources import supervision

log = logging.getLogger(__name__)

RECONCILE = "reconcile_mailbox"
REBUILD = "rebuild_figures"
SCHEDULE = "schedule_syncs"
RECOVER = "recover_stalled"
PRUNE = "prune_jobs"
STRANDED = "process_stranded"
SETTLE = "settle_meetings"
KEEP_FAILED_HOURS = 7 * 24  # failed jobs, for an operator to look into
TASKS = (schedule.SYNC, RECONCILE, REBUILD, SCHEDULE, RECOVER, PRUNE, STRANDED, SETTLE)
EVERY_5_SECONDS = "* * * * * */5"  # procrastinate's cron takes seconds as a sixth column


@dataclass(frozen=True, slots=True)
class Tools:
    """What a worker hands its jobs (procrastinate's additional context)."""

    settings: Settings
    intake: Intake

    @classmethod
    def of(cls, context: procrastinate.JobContext) -> Tools:
        tools = context.additional_context["tools"]
        assert isinstance(tools, Tools)
        return tools

    def context(self) -> dict[str, Any]:
        return {"tools": self}


def register(app: procrastinate.App, settings: Settings) -> None:
    """Add Mailroom's tasks to `app`, and the schedule of the periodic ones."""
    app.task(name=schedule.SYNC, pass_context=True, queue="sync")(sync_mailbox)
    app.task(name=RECONCILE, pass_context=True, queue="sync")(reconcile_mailbox)
    app.task(name=REBUILD, pass_context=True)(rebuild_figures)
    periodic = (
        (SCHEDULE, schedule_syncs, EVERY_5_SECONDS),
        (RECOVER, recover_stalled, EVERY_5_SECONDS),
        (STRANDED, process_stranded, "* * * * * */15"),
        (SETTLE, settle_meetings, every(settings.settle_seconds)),
        (PRUNE, prune_jobs, "17 * * * *"),  # hourly
    )
    # No queueing lock on a periodic task: procrastinate's periodic deferrer stops the worker
    # when one collides (its issue #1158). A lock keeps two ticks from running at once.
    for name, function, cron in periodic:
        task = app.task(name=name, pass_context=True, lock=name)(function)
        app.periodic(cron=cron, periodic_id=name)(task)


def every(seconds: float) -> str:
    """A cron schedule (procrastinate's, with seconds as a sixth column) of about every
    `seconds`: cron counts seconds and minutes within the minute and the hour, so the step
    is the nearest one that divides them evenly, up to an hour."""
    if seconds < 60:
        step = max(s for s in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30) if s <= max(1, seconds))
        return f"* * * * * */{step}"
    minutes = seconds / 60
    step = max(s for s in (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60) if s <= minutes)
    return "0 * * * *" if step == 60 else f"*/{step} * * * *"


async def measured(
    call_next: Callable[[], Awaitable[Any]],
    context: procrastinate.JobContext,
    worker: Worker,
) -> Any:
    """Every job counted by outcome and timed, with how late it started after it was due (a
    worker middleware: around every job, on the event loop)."""
    job = context.job
    due = _due(job)
    if due is not None:
        JOB_LATENCY_SECONDS.labels(job.task_name).observe(max(0.0, time.time() - due))
    started = time.monotonic()
    outcome = "failed"
    try:
        result = await call_next()
        outcome = "ok"
        return result
    finally:
        JOB_SECONDS.labels(job.task_name).observe(time.monotonic() - started)
        JOBS.labels(job.task_name, outcome).inc()


def _due(job: procrastinate.jobs.Job) -> float | None:
    """When the job was due, as a Unix time: its scheduled time, a periodic job's tick, or
    when it was deferred (Mailroom's deferrals say)."""
    if job.scheduled_at is not None:
        return job.scheduled_at.timestamp()
    for key in ("timestamp", "deferred_at"):
        value = job.task_kwargs.get(key)
        if isinstance(value, int | float):
            return float(value)
    return None


async def sync_mailbox(
    context: procrastinate.JobContext, mailbox_id: str, deferred_at: float | None = None
) -> None:
    """One pass of a mailbox, under its lease, held by this job (so that a `serve` poller on
    the same database keeps off it, and a retry of this job after its worker died takes it
    back at once)."""
    from mailroom.workspace.syncing import sync_mailbox as one_pass

    tools = Tools.of(context)
    assert context.job.id is not None
    owner = stalled.job_owner(context.job.id)
    holding = supervision.lease_owner.set(owner)
    try:
        mailbox = await Mailbox.get_or_none(id=UUID(mailbox_id))
        if mailbox is None or mailbox.status is MailboxStatus.NEEDS_REAUTH:
            return  # removed, or waiting to be reconnected, since the job was deferred
        if not await supervision.lease(mailbox) and not await _take_over(context, mailbox):
            log.info("mailbox synced elsewhere; pass skipped", extra=_fields(mailbox))
            return
        try:
            await one_pass(tools.settings, mailbox, tools.intake)
        except SyncError:
            raise  # recorded on the mailbox by the pass
        except Exception as error:
            # A bug or the database lost: recorded like a transient failure, so that the
            # mailbox backs off rather than being tried again every few seconds.
            failure = TransientError(f"{type(error).__name__}: {error}")
            await supervision.failed(mailbox, failure, mailbox.provider.value, log)
            raise
        finally:
            await supervision.release(mailbox.id, owner)
    finally:
        supervision.lease_owner.reset(holding)


async def _take_over(context: procrastinate.JobContext, mailbox: Mailbox) -> bool:
    """Take the lease from a job that holds it and is no longer running: one whose lease could
    not be given up because the database went away as it ended. Waiting for such a lease to
    run out would hold the mailbox back for `supervision.LEASE`."""
    holder = (await Mailbox.get(id=mailbox.id)).lease_owner or ""
    job_id = stalled.job_of(holder)
    if job_id is None:
        return False  # a process's lease: `serve`'s pollers sync this mailbox
    status = await context.app.job_manager.get_job_status_async(job_id)
    if status is Status.DOING:
        return False
    return await supervision.take_over(mailbox, holder)


async def reconcile_mailbox(
    context: procrastinate.JobContext,
    mailbox_id: str,
    repair: bool = False,
    deferred_at: float | None = None,
) -> None:
    from mailroom.workspace.syncing import reconcile_mailbox as reconcile

    tools = Tools.of(context)
    mailbox = await Mailbox.get_or_none(id=UUID(mailbox_id))
    if mailbox is None:
        return
    found = await reconcile(tools.settings, mailbox, tools.intake, repair=repair)
    # Kept on the mailbox too, for `mailbox status` and the API.
    log.info(
        "mailbox reconciled",
        extra=logs.fields(
            mailbox=mailbox.address,
            provider=found.provider,
            stored=found.stored,
            missing=len(found.missing),
            extra=len(found.extra),
            repaired=found.repaired,
        ),
    )


async def rebuild_figures(
    context: procrastinate.JobContext, workspace_id: str, deferred_at: float | None = None
) -> None:
    from mailroom.intake.intelligence import rebuild_figures as rebuild

    await rebuild(UUID(workspace_id))


async def schedule_syncs(context: procrastinate.JobContext, timestamp: int) -> None:
    tools = Tools.of(context)
    deferred = await schedule.defer_due(context.app, tools.settings, datetime.now(UTC))
    if deferred:
        log.debug("sync passes deferred", extra=logs.fields(count=deferred))


async def recover_stalled(context: procrastinate.JobContext, timestamp: int) -> None:
    tools = Tools.of(context)
    await stalled.recover_stalled(context.app, tools.settings.jobs_stalled_after)


async def process_stranded(context: procrastinate.JobContext, timestamp: int) -> None:
    """Process the messages a receiver (`serve --smtp`) committed and did not process: it was
    killed, or its machine lost, after its `250`."""
    tools = Tools.of(context)
    before = datetime.now(UTC) - timedelta(seconds=tools.settings.jobs_stranded_after)
    report = await tools.intake.replay(tools.settings.ingest_batch_size, before=before)
    if report.outcomes:
        log.info(
            "processed messages a receiver left", extra=logs.fields(count=len(report.outcomes))
        )


async def settle_meetings(context: procrastinate.JobContext, timestamp: int) -> None:
    """Count the meetings that began in the relationship figures (`serve` does this itself)."""
    from mailroom.intake.intelligence import settle_workspaces

    counted = await settle_workspaces()
    if counted:
        log.info("meetings that began counted", extra=logs.fields(count=counted))


async def prune_jobs(context: procrastinate.JobContext, timestamp: int) -> None:
    """Forget finished jobs older than a week (successful ones go as they end)."""
    await context.app.job_manager.delete_old_jobs(
        nb_hours=KEEP_FAILED_HOURS, include_failed=True, include_aborted=True
    )


def _fields(mailbox: Mailbox) -> dict[str, Any]:
    return logs.fields(mailbox=mailbox.address)


async def defer_reconcile(app: procrastinate.App, mailbox_id: UUID, *, repair: bool) -> int:
    lock = schedule.mailbox_lock(mailbox_id)
    return await app.configure_task(RECONCILE, lock=lock).defer_async(
        mailbox_id=str(mailbox_id), repair=repair, deferred_at=time.time()
    )


async def defer_rebuild(app: procrastinate.App, workspace_id: UUID) -> int | None:
    lock = f"figures:{workspace_id}"
    try:
        return await app.configure_task(REBUILD, lock=lock, queueing_lock=lock).defer_async(
            workspace_id=str(workspace_id), deferred_at=time.time()
        )
    except AlreadyEnqueued:
        return None
