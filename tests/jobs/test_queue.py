"""The job queue on PostgreSQL, in this process: which mailboxes are due for a pass, one waiting
job per mailbox, and jobs left `doing` by a dead worker taken up again without breaking the
queueing lock (the trap procrastinate's own suggested recovery falls into)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import procrastinate
import pytest
from procrastinate import exceptions
from procrastinate.jobs import Status

from mailroom.errors import SettingsError, SyncError
from mailroom.intake import Intake
from mailroom.jobs.engine import JOB_TABLES, conninfo, job_app
from mailroom.jobs.schedule import SYNC, defer_due, defer_sync, due, mailbox_lock
from mailroom.jobs.stalled import job_of, job_owner, recover_stalled
from mailroom.jobs.tasks import Tools, sync_mailbox
from mailroom.models import Mailbox, MailboxStatus, Plan, Provider
from mailroom.settings import Settings
from mailroom.sources import supervision
from mailroom.sources.imap.accounts import connection_for, stored_connection
from mailroom.vault import Vault
from mailroom.workspace import add_member, create_workspace
from tests.e2e.services import free_port

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def jobs_settings(pg_db: Settings) -> Settings:
    return pg_db.model_copy(
        update={
            "imap_poll_interval": 60,
            "imap_max_backoff": 600,
            "gmail_poll_seconds": 120,
            "gmail_enabled": True,
            "graph_enabled": False,
        }
    )


@pytest.fixture
async def app(jobs_settings: Settings) -> AsyncIterator[procrastinate.App]:
    engine = job_app(jobs_settings)
    async with engine.open_async():
        yield engine


async def _mailbox(name: str, provider: Provider = Provider.IMAP, **values: object) -> Mailbox:
    workspace = await create_workspace(f"w-{name}", plan=Plan.PRO)
    member = await add_member(workspace, f"{name}@acme.test")
    return await Mailbox.create(
        workspace=workspace,
        owner=member,
        provider=provider,
        address=f"{name}@acme.test",
        **values,
    )


async def _jobs(app: procrastinate.App) -> list[dict[str, object]]:
    rows = await app.connector.execute_query_all_async(
        "SELECT id, task_name, status, lock, queueing_lock FROM procrastinate_jobs ORDER BY id"
    )
    return [dict(row) for row in rows]


async def _doing_on_dead_worker(app: procrastinate.App) -> procrastinate.jobs.Job:
    """The next job, fetched by a worker that then stopped beating (a kill -9)."""
    manager = app.job_manager
    worker = await manager.register_worker()
    job = await manager.fetch_job(queues=None, worker_id=worker)
    assert job is not None
    await app.connector.execute_query_async(
        "UPDATE procrastinate_workers SET last_heartbeat = now() - interval '1 hour'"
        " WHERE id = %(id)s",
        id=worker,
    )
    return job


async def _lease_as(job_id: int | None, mailbox: Mailbox) -> None:
    """Take the mailbox's lease as the job's run would."""
    assert job_id is not None
    holding = supervision.lease_owner.set(job_owner(job_id))
    try:
        assert await supervision.lease(mailbox)
    finally:
        supervision.lease_owner.reset(holding)


def test_jobs_need_postgresql() -> None:
    with pytest.raises(SettingsError, match="jobs need PostgreSQL"):
        conninfo("sqlite:///tmp/mailroom.sqlite3")
    # asyncpg's options in Tortoise's URL are not libpq's: left out.
    url = "postgres://mr:secret@db.internal:5433/mailroom?minsize=2&maxsize=20"
    assert conninfo(url) == "postgresql://mr:secret@db.internal:5433/mailroom"


async def test_the_migrations_make_the_job_tables(app: procrastinate.App) -> None:
    # The session's database was made by Mailroom's migrations alone.
    rows = await app.connector.execute_query_all_async(
        "SELECT tablename FROM pg_tables WHERE tablename LIKE 'procrastinate%%'"
    )
    assert {row["tablename"] for row in rows} == set(JOB_TABLES)
    assert await app.check_connection_async()


async def test_due_follows_the_poll_interval_the_backoff_and_the_providers_on(
    jobs_settings: Settings,
) -> None:
    never = await _mailbox("never")
    recent = await _mailbox("recent", last_synced_at=NOW - timedelta(seconds=30))
    stale = await _mailbox("stale", last_synced_at=NOW - timedelta(seconds=61))
    # Three failures in a row: 8 s after the last one.
    failing = await _mailbox(
        "failing",
        failures=3,
        last_error_at=NOW - timedelta(seconds=5),
        last_synced_at=NOW - timedelta(hours=1),
        status=MailboxStatus.FAILED,
    )
    await _mailbox("reauth", status=MailboxStatus.NEEDS_REAUTH)
    gmail = await _mailbox("gmail", Provider.GMAIL, last_synced_at=NOW - timedelta(seconds=90))
    await _mailbox("graph", Provider.MICROSOFT)  # graph_enabled is off
    await _mailbox("import", Provider.IMPORT)  # never synced from a provider

    assert set(await due(jobs_settings, NOW)) == {never.id, stale.id}
    assert failing.id not in await due(jobs_settings, NOW + timedelta(seconds=2))
    assert failing.id in await due(jobs_settings, NOW + timedelta(seconds=3))
    later = NOW + timedelta(seconds=31)
    expected = {never.id, stale.id, recent.id, gmail.id, failing.id}
    assert set(await due(jobs_settings, later)) == expected
    # The ceiling holds however many failures there were.
    failing.failures = 40
    await failing.save(update_fields=["failures"])
    assert failing.id not in await due(jobs_settings, NOW + timedelta(seconds=590))
    assert failing.id in await due(jobs_settings, NOW + timedelta(seconds=601))


async def test_one_waiting_job_per_mailbox_however_often_it_is_due(
    jobs_settings: Settings, app: procrastinate.App
) -> None:
    first = await _mailbox("first")
    second = await _mailbox("second")

    assert await defer_due(app, jobs_settings, NOW) == 2
    assert await defer_due(app, jobs_settings, NOW) == 0
    assert await defer_sync(app, first.id) is None  # a request while one waits: refused quietly
    jobs = await _jobs(app)
    assert sorted(str(j["lock"]) for j in jobs) == sorted(
        [mailbox_lock(first.id), mailbox_lock(second.id)]
    )
    assert all(j["lock"] == j["queueing_lock"] and j["task_name"] == SYNC for j in jobs)

    # While a pass runs, the next one may wait, but not two.
    await _doing_on_dead_worker(app)
    assert await defer_due(app, jobs_settings, NOW) == 0  # one runs, the other waits
    await app.connector.execute_query_async("UPDATE procrastinate_jobs SET status = 'succeeded'")
    assert await defer_due(app, jobs_settings, NOW) == 2


async def test_a_stalled_pass_is_retried_and_keeps_its_lease(
    jobs_settings: Settings, app: procrastinate.App
) -> None:
    mailbox = await _mailbox("stalled")
    await defer_sync(app, mailbox.id)
    job = await _doing_on_dead_worker(app)
    assert job.id is not None
    await _lease_as(job.id, mailbox)

    found = await recover_stalled(app, seconds_since_heartbeat=30)

    assert (found.retried, found.closed) == (1, 0)
    assert await app.job_manager.get_job_status_async(job.id) is Status.TODO
    # The retry is the same job: it may take the lease its first run took, and nobody else may.
    assert (await Mailbox.get(id=mailbox.id)).lease_owner == job_owner(job.id)
    assert not await supervision.lease(mailbox)


async def test_a_stalled_pass_beside_a_waiting_one_is_closed_not_left_doing(
    jobs_settings: Settings, app: procrastinate.App
) -> None:
    mailbox = await _mailbox("raced")
    await defer_sync(app, mailbox.id)
    stalled = await _doing_on_dead_worker(app)
    assert stalled.id is not None
    await _lease_as(stalled.id, mailbox)
    successor = await defer_sync(app, mailbox.id)  # the scheduler's next pass, while it ran
    assert successor is not None
    # procrastinate's own suggestion, retrying every stalled job, fails here and leaves the job
    # `doing`, holding the mailbox's lock for ever.
    with pytest.raises(exceptions.UniqueViolation):
        await app.job_manager.retry_job(stalled)
    assert await app.job_manager.get_job_status_async(stalled.id) is Status.DOING

    found = await recover_stalled(app, seconds_since_heartbeat=30)

    assert (found.retried, found.closed) == (0, 1)
    assert await app.job_manager.get_job_status_async(stalled.id) is Status.FAILED
    assert await app.job_manager.get_job_status_async(successor) is Status.TODO
    # The dead run's lease is given up: the next pass need not wait for it to run out.
    assert (await Mailbox.get(id=mailbox.id)).lease_owner is None
    # And the successor can be fetched: the lock is free.
    fetched = await app.job_manager.fetch_job(
        queues=None, worker_id=await app.job_manager.register_worker()
    )
    assert fetched is not None and fetched.id == successor


async def test_a_live_workers_jobs_are_not_taken(
    jobs_settings: Settings, app: procrastinate.App
) -> None:
    mailbox = await _mailbox("alive")
    await defer_sync(app, mailbox.id)
    worker = await app.job_manager.register_worker()
    job = await app.job_manager.fetch_job(queues=None, worker_id=worker)
    assert job is not None and job.id is not None

    found = await recover_stalled(app, seconds_since_heartbeat=30)

    assert (found.retried, found.closed) == (0, 0)
    assert await app.job_manager.get_job_status_async(job.id) is Status.DOING


async def _run_sync(app: procrastinate.App, settings: Settings, job_id: int) -> None:
    """The sync task as a worker runs it, for the job `job_id`."""
    [row] = await app.connector.execute_query_all_async(
        "SELECT * FROM procrastinate_jobs WHERE id = %(id)s", id=job_id
    )
    context = procrastinate.JobContext(
        app=app,
        job=procrastinate.jobs.Job.from_row(row),
        start_timestamp=0.0,
        abort_reason=lambda: None,
        additional_context=Tools(settings, Intake(settings.limits)).context(),
    )
    await sync_mailbox(context, **row["args"])


async def test_a_lease_left_by_a_job_that_ended_is_taken_over_not_waited_for(
    jobs_settings: Settings, app: procrastinate.App
) -> None:
    # A mailbox whose server refuses connections: a pass that gets the lease fails, and says so
    # on the mailbox; one that does not get it changes nothing.
    port = free_port()
    settings = jobs_settings
    mailbox = await _mailbox(
        "ended",
        connection=stored_connection(connection_for("127.0.0.1", port, "none", "ended")),
        credentials=Vault(settings.secret_key).seal({"password": "pw"}),
    )
    await defer_sync(app, mailbox.id)
    earlier = await _doing_on_dead_worker(app)
    assert earlier.id is not None
    await _lease_as(earlier.id, mailbox)
    later = await defer_sync(app, mailbox.id)
    assert later is not None

    # While the earlier job runs, its lease holds.
    await _run_sync(app, settings, later)
    assert (await Mailbox.get(id=mailbox.id)).failures == 0

    # Ended (its lease could not be given up: the database went away as it ended).
    await app.job_manager.finish_job(earlier, status=Status.FAILED, delete_job=False)
    with pytest.raises(SyncError):
        await _run_sync(app, settings, later)
    assert (await Mailbox.get(id=mailbox.id)).failures == 1
    # The pass gave the lease up when it ended.
    assert (await Mailbox.get(id=mailbox.id)).lease_owner is None


async def test_a_job_naming_no_mailbox_fails_alone_and_holds_no_lease(
    jobs_settings: Settings, app: procrastinate.App
) -> None:
    # Arguments a job carries are data: a malformed id fails that job, a stranger's id finds
    # nothing, and neither takes a lease or touches another mailbox.
    bystander = await _mailbox("bystander")
    for forged in ("../../etc/passwd", "' OR 1=1 --", "x" * 10_000):
        job_id = await app.configure_task(SYNC).defer_async(mailbox_id=forged)
        with pytest.raises(ValueError):
            await _run_sync(app, jobs_settings, job_id)
    unknown = await app.configure_task(SYNC).defer_async(mailbox_id=str(uuid4()))
    await _run_sync(app, jobs_settings, unknown)
    after = await Mailbox.get(id=bystander.id)
    assert (after.lease_owner, after.failures) == (None, 0)
    # A lease holder's name is read as a job's only when it is exactly one: a host named "job",
    # or a number with anything after it, is no job.
    assert [job_of(owner) for owner in ("job#12", "job:12", "job#12x", "job#", "job#-1")] == [
        12,
        None,
        None,
        None,
        None,
    ]
