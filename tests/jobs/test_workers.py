"""`mailroom worker` as processes, on the real PostgreSQL and a real Dovecot: 30 mailboxes with
new mail arriving, 3 workers, one of them killed with kill -9 in the middle of a pass. Every
message is stored exactly once, no mailbox is ever synced by two workers at once (read from
Dovecot's own log of logins and disconnections, not from anything Mailroom says), the killed
worker's pass is taken up by the others, and SIGTERM stops the others cleanly."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx
import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mailroom.models import Mailbox, MessageCopy, Plan
from mailroom.settings import Settings
from mailroom.sources.imap.accounts import connection_for
from mailroom.workspace import add_imap_mailbox, add_member, create_workspace
from tests.e2e.services import free_port
from tests.helpers import message
from tests.sources.imap.mailboxes import deliver_maildir
from tests.sources.imap.services import DovecotServer

MAILBOXES = 30
FIRST = 15  # messages each mailbox holds before the workers start
MORE = 3  # rounds of new mail while they run
EACH_ROUND = 5
WORKERS = 3

# Dovecot 2.3's lines: "imap-login: Info: Login: user=<u>, ..., session=<S>" and
# "imap(u)<pid><S>: Info: Disconnected: Logged out ..." (or "Connection closed", for a client
# that went away without a LOGOUT, a killed one's).
_LOGIN = re.compile(r"imap-login: (?:\w+: )?Login: user=<([^>]+)>.*session=<([^>]+)>")
_END = re.compile(r"imap\(([^)]+)\)<\d+><([^>]+)>: (?:\w+: )?Disconnected")


def _sessions(log: str) -> dict[str, list[tuple[int, int | None]]]:
    """Each user's IMAP sessions as (line of the login, line of the end; None if open), in the
    order Dovecot's log process wrote them."""
    opened: dict[str, tuple[str, int]] = {}
    found: dict[str, list[tuple[int, int | None]]] = defaultdict(list)
    ends: dict[str, int] = {}
    for number, line in enumerate(log.splitlines()):
        if login := _LOGIN.search(line):
            opened[login.group(2)] = (login.group(1), number)
        elif end := _END.search(line):
            ends.setdefault(end.group(2), number)
    for session, (user, start) in opened.items():
        found[user].append((start, ends.get(session)))
    return found


def _overlaps(sessions: list[tuple[int, int | None]]) -> list[tuple[int, int | None]]:
    ordered = sorted(sessions)
    return [
        later
        for earlier, later in zip(ordered, ordered[1:], strict=False)
        if earlier[1] is None or later[0] < earlier[1]
    ]


def _worker(env: dict[str, str], log: Path, metrics: int) -> subprocess.Popen[bytes]:
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "mailroom", "worker", "--concurrency", "4"],
            env={**env, "MAILROOM_METRICS_PORT": str(metrics)},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def _holds_connection(pid: int, port: int) -> bool:
    try:
        connections = psutil.Process(pid).net_connections("tcp")
    except psutil.NoSuchProcess:
        return False
    return any(
        c.status == psutil.CONN_ESTABLISHED and c.raddr and c.raddr.port == port
        for c in connections
    )


def _samples(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def _stored(mailbox_ids: list[object]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for mailbox_id in await MessageCopy.filter(mailbox_id__in=mailbox_ids).values_list(
        "mailbox_id", flat=True
    ):
        counts[str(mailbox_id)] += 1
    return counts


@pytest.mark.slow
async def test_three_workers_sync_thirty_mailboxes_once_each_through_a_kill_9(
    pg_db: Settings, dovecot: DovecotServer, tmp_path: Path
) -> None:
    settings = pg_db
    workspace = await create_workspace("acme", plan=Plan.ENTERPRISE)
    users = []
    mailboxes: list[Mailbox] = []
    for n in range(MAILBOXES):
        name, password = f"user{n}", f"secret-{n}"
        maildir = dovecot.add_user(name, password)
        member = await add_member(workspace, f"{name}@acme.test")
        connection = connection_for("127.0.0.1", dovecot.port, "none", name)
        mailboxes.append(await add_imap_mailbox(settings, workspace, member, connection, password))
        users.append((name, maildir))

    def deliver(round_: int, count: int) -> None:
        for name, maildir in users:
            raws = [
                message(
                    sender=f"Partner {i} <p{i}@partner{i % 7}.example>",
                    to=f"{name}@acme.test",
                    message_id=f"<{name}-{round_}-{i}@partner.example>",
                    subject=f"Round {round_} note {i}",
                )
                for i in range(count)
            ]
            deliver_maildir(maildir, "INBOX", raws)

    deliver(0, FIRST)
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
        "MAILROOM_JOBS_SHUTDOWN_TIMEOUT": "30",
        "MAILROOM_NORMALIZE_WORKERS": "1",
    }
    env.pop("MAILROOM_CONFIG", None)
    logs = [tmp_path / f"worker{n}.log" for n in range(WORKERS)]
    ports = [free_port() for _ in logs]
    processes = [_worker(env, log, port) for log, port in zip(logs, ports, strict=True)]
    arriving = threading.Thread(
        target=lambda: [(time.sleep(1.5), deliver(r, EACH_ROUND)) for r in range(1, MORE + 1)]
    )
    try:
        arriving.start()
        # kill -9 of the first worker while it holds an IMAP connection: in the middle of a pass.
        victim = processes[0]
        deadline = time.monotonic() + 60
        while not _holds_connection(victim.pid, dovecot.port):
            assert time.monotonic() < deadline, logs[0].read_text()
            assert victim.poll() is None, logs[0].read_text()
            await asyncio.sleep(0.01)
        victim.kill()
        victim.wait()
        arriving.join()

        expected = FIRST + MORE * EACH_ROUND
        ids = [m.id for m in mailboxes]
        deadline = time.monotonic() + 180
        while (stored := await _stored(ids)) != {str(i): expected for i in ids}:
            assert time.monotonic() < deadline, (stored, [log.read_text() for log in logs])
            for process, log in zip(processes[1:], logs[1:], strict=True):
                assert process.poll() is None, log.read_text()
            await asyncio.sleep(0.5)

        # Each survivor's /metrics: the jobs it ran, and the queue read from the database.
        scraped = [_samples(port) for port in ports[1:]]
        ran = sum(
            value
            for samples in scraped
            for (name, labels), value in samples.items()
            if name == "mailroom_jobs_total"
            and dict(labels) == {"task": "sync_mailbox", "outcome": "ok"}
        )
        assert ran >= MAILBOXES
        queued = {labels for name, labels in scraped[0] if name == "mailroom_jobs_queued"}
        assert frozenset({("task", "sync_mailbox"), ("status", "todo")}) in queued
        assert any(name == "mailroom_job_latency_seconds_count" for name, _ in scraped[0])

        # The survivors stop on SIGTERM, once their running jobs are done.
        for process in processes[1:]:
            process.send_signal(signal.SIGTERM)
        for process, log in zip(processes[1:], logs[1:], strict=True):
            assert process.wait(timeout=60) == 0, log.read_text()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()

    # Exactly once: each message one copy in its mailbox, no message stored twice.
    copies = await MessageCopy.filter(mailbox_id__in=ids).values_list(
        "mailbox_id", "message__internet_message_id"
    )
    assert len(copies) == len(set(copies)) == MAILBOXES * expected
    # No mailbox was ever in two sessions at once, the killed worker's included.
    sessions = _sessions(dovecot.log())
    assert set(sessions) == {name for name, _ in users}
    assert {user: _overlaps(s) for user, s in sessions.items() if _overlaps(s)} == {}
    # The killed worker's pass was taken up by a survivor.
    survivors = "".join(log.read_text() for log in logs[1:])
    assert "stalled: its worker died" in survivors, survivors
