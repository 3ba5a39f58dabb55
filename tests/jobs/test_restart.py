"""PostgreSQL restarted under two running workers (a server of the test's own, since every
connection is cut): they reconnect and carry on, and the mail that arrived meanwhile is stored,
once."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from mailroom.db import close_database, open_database
from mailroom.models import Mailbox, MessageCopy, Plan
from mailroom.settings import Settings
from mailroom.sources.imap.accounts import connection_for
from mailroom.vault import new_key
from mailroom.workspace import add_imap_mailbox, add_member, create_workspace
from tests.e2e.services import free_port
from tests.helpers import message
from tests.jobs.postgres import PrivatePostgres
from tests.jobs.test_workers import _stored, _worker
from tests.sources.imap.mailboxes import deliver_maildir
from tests.sources.imap.services import DovecotServer

MAILBOXES = 5


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    server = PrivatePostgres()
    try:
        server.start()
        yield server
    finally:
        server.close()


async def _wait_stored(
    settings: Settings, ids: list[object], each: int, seconds: float, logs: list[Path]
) -> None:
    """Until every mailbox holds `each` messages, read with a connection of this test's own
    (opened and closed each time: the server restarts in between)."""
    deadline = time.monotonic() + seconds
    while True:
        await open_database(settings, create=False)
        try:
            stored = await _stored(ids)
        finally:
            await close_database()
        if stored == {str(i): each for i in ids}:
            return
        assert time.monotonic() < deadline, (stored, [log.read_text()[-5000:] for log in logs])
        await asyncio.sleep(0.5)


@pytest.mark.slow
async def test_workers_carry_on_through_a_restart_of_postgresql(
    private_postgres: PrivatePostgres, dovecot: DovecotServer, tmp_path: Path
) -> None:
    admin = await asyncpg.connect(private_postgres.url().replace("postgres://", "postgresql://"))
    await admin.execute("CREATE DATABASE mailroom")
    await admin.close()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=private_postgres.url("mailroom"),
        secret_key=new_key(),
        imap_allow_private_hosts=True,
        normalize_workers=0,
    )
    await open_database(settings)
    try:
        workspace = await create_workspace("acme", plan=Plan.ENTERPRISE)
        users = []
        mailboxes: list[Mailbox] = []
        for n in range(MAILBOXES):
            name, password = f"user{n}", f"secret-{n}"
            maildir = dovecot.add_user(name, password)
            member = await add_member(workspace, f"{name}@acme.test")
            connection = connection_for("127.0.0.1", dovecot.port, "none", name)
            mailboxes.append(
                await add_imap_mailbox(settings, workspace, member, connection, password)
            )
            users.append((name, maildir))
    finally:
        await close_database()
    ids: list[object] = [m.id for m in mailboxes]

    def deliver(round_: int, count: int) -> None:
        for name, maildir in users:
            raws = [
                message(to=f"{name}@acme.test", message_id=f"<{name}-{round_}-{i}@p.example>")
                for i in range(count)
            ]
            deliver_maildir(maildir, "INBOX", raws)

    deliver(0, 10)
    env = {
        **os.environ,
        "MAILROOM_DATABASE_URL": settings.database_url,
        "MAILROOM_DATA_DIR": str(settings.data_dir),
        "MAILROOM_SECRET_KEY": settings.secret_key or "",
        "MAILROOM_IMAP_ALLOW_PRIVATE_HOSTS": "true",
        "MAILROOM_IMAP_POLL_INTERVAL": "1",
        "MAILROOM_IMAP_MAX_BACKOFF": "2",
        "MAILROOM_JOBS_HEARTBEAT_SECONDS": "1",
        "MAILROOM_JOBS_STALLED_AFTER": "3",
        "MAILROOM_NORMALIZE_WORKERS": "1",
    }
    env.pop("MAILROOM_CONFIG", None)
    logs = [tmp_path / f"worker{n}.log" for n in range(2)]
    processes = [_worker(env, log, free_port()) for log in logs]
    try:
        await _wait_stored(settings, ids, 10, seconds=120, logs=logs)

        private_postgres.restart()
        deliver(1, 5)
        await _wait_stored(settings, ids, 15, seconds=60, logs=logs)
        for process, log in zip(processes, logs, strict=True):
            assert process.poll() is None, log.read_text()

        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process, log in zip(processes, logs, strict=True):
            assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    await open_database(settings, create=False)
    try:
        copies = await MessageCopy.filter(mailbox_id__in=ids).values_list(
            "mailbox_id", "message__internet_message_id"
        )
    finally:
        await close_database()
    assert len(copies) == len(set(copies)) == MAILBOXES * 15
