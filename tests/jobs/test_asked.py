"""Work asked of the workers from the command line (`--queue`), and the meetings a worker counts
once they begin: a pass, a reconciliation and a rebuild queued by `mailroom` commands are run by
a `mailroom worker` process, once each however often they are asked for, and what cannot be
queued is refused with a clear error."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mailroom.envelope import Attendee, CalendarEvent, Response
from mailroom.errors import InvalidInputError
from mailroom.intake import Intake
from mailroom.intake.events import EventItem, apply_events
from mailroom.jobs.engine import job_app
from mailroom.jobs.queue import queue_reconcile, queue_sync
from mailroom.jobs.tasks import every
from mailroom.models import Connection, Interaction, Mailbox, MessageCopy, Person, Provider
from mailroom.settings import Settings
from mailroom.sources.imap.accounts import connection_for
from mailroom.workspace import add_imap_mailbox, reconcile_mailbox, sync_mailbox
from tests.helpers import ingest, message, team
from tests.sources.imap.mailboxes import deliver_maildir
from tests.sources.imap.services import DovecotServer


def _mailroom(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "mailroom", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def _job(done: subprocess.CompletedProcess[str]) -> int:
    assert done.returncode == 0, done.stderr
    found = re.search(r"queued for the workers: job (\d+)", done.stdout)
    assert found, done.stdout
    return int(found.group(1))


def test_every_divides_the_minute_and_the_hour() -> None:
    assert every(1) == "* * * * * */1"
    assert every(7) == "* * * * * */6"
    assert every(0.2) == "* * * * * */1"
    assert every(60) == "*/1 * * * *"
    assert every(600) == "*/10 * * * *"
    assert every(25 * 60) == "*/20 * * * *"
    assert every(86_400) == "0 * * * *"


async def test_passes_reconciliations_and_rebuilds_queued_by_hand_run_once_on_a_worker(
    pg_db: Settings, dovecot: DovecotServer, tmp_path: Path
) -> None:
    settings = pg_db
    crew = await team()
    maildir = dovecot.add_user("alice", "secret")
    raws = [
        message(
            sender=f"Partner {i} <p{i}@globex.example>",
            to="alice@acme.com",
            message_id=f"<note-{i}@globex.example>",
        )
        for i in range(5)
    ]
    deliver_maildir(maildir, "INBOX", raws)
    connection = connection_for("127.0.0.1", dovecot.port, "none", "alice")
    box = await add_imap_mailbox(settings, crew.workspace, crew.bob, connection, "secret")
    # Mail imported before the figures existed: its interactions are for a rebuild to make.
    answered = message(sender="alice@acme.com", to="jane@initech.example", subject="Hello")
    await ingest(crew.alice_box, answered)
    await Interaction.filter(workspace_id=crew.workspace.id).delete()
    await Connection.filter(workspace_id=crew.workspace.id).delete()
    # A meeting two seconds ahead: counted by a worker once it has begun.
    begins = datetime.now(UTC) + timedelta(seconds=2)
    meeting = CalendarEvent(
        uid="kickoff@initech.example",
        recurrence_id=None,
        start=begins,
        end=begins + timedelta(hours=1),
        summary="Kickoff",
        organizer=Attendee("bill@initech.example", None, Response.ACCEPTED),
        attendees=(Attendee("alice@acme.com", None, Response.ACCEPTED),),
    )
    await apply_events(crew.alice_box, "primary", [EventItem("k", meeting)])

    env = {
        **os.environ,
        "MAILROOM_DATABASE_URL": settings.database_url,
        "MAILROOM_DATA_DIR": str(settings.data_dir),
        "MAILROOM_SECRET_KEY": settings.secret_key or "",
        "MAILROOM_IMAP_ALLOW_PRIVATE_HOSTS": "true",
        # No scheduled pass while the test runs: the passes are those asked for.
        "MAILROOM_IMAP_POLL_INTERVAL": "3600",
        "MAILROOM_SETTLE_SECONDS": "1",
        "MAILROOM_NORMALIZE_WORKERS": "0",
    }
    env.pop("MAILROOM_CONFIG", None)
    address = box.address
    # Asked twice, queued once: one pass of a mailbox waits at a time.
    _job(_mailroom(env, "mailbox", "sync", "acme", address, "--queue"))
    again = _mailroom(env, "mailbox", "sync", "acme", address, "--queue")
    assert again.returncode == 0 and "queued already" in again.stdout, again
    reconcile = _job(_mailroom(env, "mailbox", "reconcile", "acme", address, "--queue"))
    rebuild = _job(_mailroom(env, "intelligence", "rebuild", "acme", "--queue"))
    assert "queued already" in _mailroom(env, "intelligence", "rebuild", "acme", "--queue").stdout
    assert rebuild != reconcile
    # What cannot be queued is said, and nothing is: an import mailbox is not synced.
    for command in ("sync", "reconcile"):
        refused = _mailroom(env, "mailbox", command, "acme", crew.alice_box.address, "--queue")
        assert refused.returncode == 1, refused
        assert "no connected mailbox alice@acme.com" in refused.stderr, refused

    log = tmp_path / "worker.log"
    with log.open("wb") as stderr:
        worker = subprocess.Popen(
            [sys.executable, "-m", "mailroom", "worker", "--concurrency", "2"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            await box.refresh_from_db()
            copies = await MessageCopy.filter(mailbox_id=box.id).count()
            rebuilt = await Interaction.filter(
                workspace_id=crew.workspace.id, address="jane@initech.example"
            ).exists()
            bill = await Person.get_or_none(emails__address="bill@initech.example")
            met = bill is not None and bill.last_meeting_at is not None
            if copies == len(raws) and box.reconciliation and rebuilt and met:
                break
            assert time.monotonic() < deadline, (copies, box.reconciliation, log.read_text())
            assert worker.poll() is None, log.read_text()
            await asyncio.sleep(0.3)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0, log.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    status = _mailroom(env, "mailbox", "status", "acme", "--json")
    [shown] = [row for row in json.loads(status.stdout) if row["provider"] == "IMAP"]
    assert shown["reconciliation"]["provider"] == shown["reconciliation"]["stored"] == len(raws)
    assert shown["reconciliation"]["missing"] == shown["reconciliation"]["extra"] == 0
    assert bill is not None and bill.last_meeting_at is not None
    assert abs((bill.last_meeting_at - begins).total_seconds()) < 1
    assert await Mailbox.filter(id=box.id, lease_owner__isnull=False).count() == 0


def test_queueing_needs_postgresql(tmp_path: Path) -> None:
    env = {**os.environ, "MAILROOM_DATA_DIR": str(tmp_path)}
    env.pop("MAILROOM_DATABASE_URL", None)
    env.pop("MAILROOM_CONFIG", None)
    assert _mailroom(env, "workspace", "create", "acme").returncode == 0
    done = _mailroom(env, "intelligence", "rebuild", "acme", "--queue")
    assert done.returncode == 1 and "jobs need PostgreSQL" in done.stderr, done


async def test_work_a_mailbox_cannot_do_is_refused_and_nothing_is_queued(pg_db: Settings) -> None:
    """A reconciliation of a calendar mailbox, a pass of an import mailbox: refused with what
    the mailbox is, before any job is deferred; and the work itself refuses them the same."""
    crew = await team()
    calendars = await Mailbox.create(
        workspace=crew.workspace,
        owner=crew.bob,
        provider=Provider.CALDAV,
        address="bob@calendars.example",
    )
    with pytest.raises(InvalidInputError, match="holds calendars, no mail to reconcile"):
        await queue_reconcile(pg_db, calendars, repair=False)
    with pytest.raises(InvalidInputError, match="import mailbox, which is not synced"):
        await queue_sync(pg_db, crew.alice_box)
    with pytest.raises(InvalidInputError, match="import mailbox, which is not synced"):
        await queue_reconcile(pg_db, crew.alice_box, repair=True)
    with pytest.raises(InvalidInputError, match="holds calendars"):
        await reconcile_mailbox(pg_db, calendars, Intake())
    with pytest.raises(InvalidInputError, match="which is not synced from a provider"):
        await sync_mailbox(pg_db, crew.alice_box, Intake())
    app = job_app(pg_db)
    async with app.open_async():
        rows = await app.connector.execute_query_all_async("SELECT id FROM procrastinate_jobs")
    assert rows == []


def test_a_hostile_slug_or_address_queues_nothing(pg_db: Settings, tmp_path: Path) -> None:
    env = {**os.environ, "MAILROOM_DATABASE_URL": pg_db.database_url}
    env.pop("MAILROOM_CONFIG", None)
    hostile = [
        "acme'; DROP TABLE workspace;--",
        "../" * 50 + "etc",
        "x" * 10_000,
        "acme\r\n[/red]QUIT",
    ]
    for slug in hostile:
        done = _mailroom(env, "intelligence", "rebuild", slug, "--queue")
        assert done.returncode == 1 and "error" in done.stderr, done
        done = _mailroom(env, "mailbox", "sync", "acme", slug, "--queue")
        assert done.returncode == 1 and "error" in done.stderr, done
    created = _mailroom(env, "workspace", "create", "acme")
    assert created.returncode == 0, created  # the tables are all still there
