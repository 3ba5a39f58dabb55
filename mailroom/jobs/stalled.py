"""Jobs a worker left `doing` when it died (a kill -9, a lost machine), taken up again.

A worker writes a heartbeat every few seconds; a job whose worker's heartbeat stopped is
stalled, and would otherwise stay `doing` for ever, holding its lock: its mailbox would never be
synced again. procrastinate finds such jobs and leaves what to do to the application.

Its suggested answer, retrying every stalled job, breaks where a queueing lock is involved
(procrastinate issues #1446 and #1543): a retried job goes back to `todo`, and if a job with the
same queueing lock was deferred while the stalled one ran (the scheduler defers a mailbox's next
pass as soon as none waits), the retry violates the unique index, fails, and leaves the job
`doing` for good. So a stalled job is retried only when no job with its queueing lock waits;
otherwise it is closed as failed, and the waiting job does the same work. Either way its lock is
free again, and a lease its run took on a mailbox is given up, so the next pass does not wait
for the lease to run out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

import procrastinate
from procrastinate import exceptions
from procrastinate.jobs import Job, Status

from mailroom.jobs.schedule import SYNC
from mailroom.sources import supervision

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recovered:
    retried: int = 0
    closed: int = 0


def job_owner(job_id: int) -> str:
    """Who holds a lease that a job's run took (supervision.lease_owner)."""
    return f"job#{job_id}"  # "#" is in no host name (a process holds "host:pid")


def job_of(owner: str) -> int | None:
    """The job that holds a lease, if a job does."""
    prefix, _, number = owner.partition("#")
    return int(number) if prefix == "job" and number.isdigit() else None


async def recover_stalled(app: procrastinate.App, seconds_since_heartbeat: float) -> Recovered:
    manager = app.job_manager
    retried = closed = 0
    for job in await manager.get_stalled_jobs(seconds_since_heartbeat=seconds_since_heartbeat):
        assert job.id is not None  # read from the table
        if job.queueing_lock is None or not await _waiting(app, job.queueing_lock):
            try:
                await manager.retry_job(job)
            except exceptions.UniqueViolation:
                pass  # one was deferred since we looked: close this one instead, below
            else:
                retried += 1
                log.warning("job %s (%s) stalled: its worker died; retried", job.id, job.task_name)
                continue
        await manager.finish_job(job, status=Status.FAILED, delete_job=False)
        await _give_up_lease(job)
        closed += 1
        log.warning(
            "job %s (%s) stalled: its worker died; closed, a job for the same work waits",
            job.id,
            job.task_name,
        )
    return Recovered(retried, closed)


async def _waiting(app: procrastinate.App, queueing_lock: str) -> bool:
    row = await app.connector.execute_query_one_async(
        "SELECT EXISTS (SELECT 1 FROM procrastinate_jobs"
        " WHERE queueing_lock = %(lock)s AND status = 'todo') AS waiting",
        lock=queueing_lock,
    )
    return bool(row["waiting"])


async def _give_up_lease(job: Job) -> None:
    if job.task_name == SYNC and job.id is not None:
        await supervision.release(UUID(str(job.task_kwargs["mailbox_id"])), job_owner(job.id))
