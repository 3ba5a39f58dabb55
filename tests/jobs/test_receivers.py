"""Receivers at scale (`serve --smtp`, several of them on PostgreSQL): a message is processed
once however many processes reach for it, and two receivers taking a burst of 1,000 messages,
one of them killed half-way, lose none they answered `250` and store none twice (the
workers process what the killed one left)."""

from __future__ import annotations

import asyncio
import os
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mailroom.intake import Intake
from mailroom.intake.port import Incoming
from mailroom.models import Message, MessageCopy, PendingIngest, Plan, SenderPolicy
from mailroom.settings import Settings
from mailroom.workspace import add_member, create_workspace, import_mailbox
from tests.e2e.services import free_port
from tests.e2e.test_operate import DOMAIN, _wait_healthy
from tests.helpers import message
from tests.jobs.test_workers import _worker

BURST = 1000
CLIENTS = 8


async def test_pending_messages_two_processes_reach_for_are_processed_once(
    pg_db: Settings,
) -> None:
    workspace = await create_workspace("acme", plan=Plan.PRO)
    member = await add_member(workspace, "alice@acme.com")
    mailbox = await import_mailbox(member)
    intake = Intake(pg_db.limits)
    raws = [message(message_id=f"<twice-{n}@client.example>") for n in range(40)]
    await intake.store_many([(mailbox, Incoming(raw)) for raw in raws])

    # Two replays read the same pending rows; the second to commit finds them gone.
    first, second = await asyncio.gather(intake.replay(), Intake(pg_db.limits).replay())

    assert len(first.outcomes) + len(second.outcomes) == 40
    assert await Message.filter(workspace_id=workspace.id).count() == 40
    assert await MessageCopy.filter(mailbox_id=mailbox.id).count() == 40
    assert not await PendingIngest.all().exists()


def _send_burst(ports: list[int], accepted: list[str], lock: threading.Lock) -> None:
    """BURST messages from CLIENTS threads, spread over the receivers; a receiver that has
    gone is left for the others. The Message-IDs answered 250 go into `accepted`."""

    def client(number: int) -> None:
        for n in range(number, BURST, CLIENTS):
            message_id = f"burst-{n}@acme.com"  # as stored: without its angle brackets
            raw = message(
                sender="alice@acme.com", message_id=f"<{message_id}>", subject=f"Burst {n}"
            )
            for port in (ports[n % len(ports)], *ports):
                try:
                    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
                        smtp.sendmail(
                            "alice@acme.com", [f"acme@{DOMAIN}"], raw.replace(b"\n", b"\r\n")
                        )
                except (OSError, smtplib.SMTPException):
                    continue  # not accepted there: the next receiver
                with lock:
                    accepted.append(message_id)
                break

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


@pytest.mark.slow
async def test_two_receivers_one_killed_mid_burst_lose_nothing_they_accepted(
    pg_db: Settings, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "MAILROOM_DATABASE_URL": pg_db.database_url,
        "MAILROOM_DATA_DIR": str(pg_db.data_dir),
        "MAILROOM_MAIL_DOMAIN": DOMAIN,
        "MAILROOM_HTTP_WORKERS": "1",
        "MAILROOM_SMTP_MESSAGES_PER_SENDER_PER_MINUTE": "100000",
        "MAILROOM_SMTP_MESSAGES_PER_CLIENT_PER_MINUTE": "100000",
        "MAILROOM_JOBS_HEARTBEAT_SECONDS": "1",
        "MAILROOM_JOBS_STALLED_AFTER": "3",
        "MAILROOM_JOBS_STRANDED_AFTER": "2",
    }
    env.pop("MAILROOM_CONFIG", None)
    workspace = await create_workspace("acme", plan=Plan.PRO)
    workspace.sender_policy = SenderPolicy.ADDRESS_ONLY
    await workspace.save(update_fields=["sender_policy"])
    await add_member(workspace, "alice@acme.com")

    receivers = []
    smtp_ports = []
    for n in range(2):
        http, smtp = free_port(), free_port()
        log = tmp_path / f"receiver{n}.log"
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "mailroom", "serve", "--smtp"],
                env={**env, "MAILROOM_HTTP_PORT": str(http), "MAILROOM_SMTP_PORT": str(smtp)},
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        receivers.append((process, log))
        smtp_ports.append(smtp)
        _wait_healthy(http, process, log)
    worker_log = tmp_path / "worker.log"
    worker = _worker(env, worker_log, free_port())
    accepted: list[str] = []
    lock = threading.Lock()
    try:
        sending = threading.Thread(target=_send_burst, args=(smtp_ports, accepted, lock))
        sending.start()
        while len(accepted) < BURST // 2:
            assert sending.is_alive(), len(accepted)
            await asyncio.sleep(0.01)
        victim = receivers[0][0]
        victim.kill()  # kill -9, with messages accepted and not yet processed
        victim.wait()
        await asyncio.to_thread(sending.join)

        assert len(accepted) == len(set(accepted)) >= BURST * 0.9
        deadline = time.monotonic() + 120
        while (stored := await _stored_ids()) != set(accepted):
            missing = set(accepted) - stored
            assert time.monotonic() < deadline, (len(missing), worker_log.read_text()[-3000:])
            await asyncio.sleep(0.5)
    finally:
        for process in [*(p for p, _ in receivers), worker]:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=60)
    # Stored once each: one message and one copy per Message-ID.
    ids = await Message.filter(internet_message_id__in=accepted).values_list(
        "internet_message_id", flat=True
    )
    assert sorted(ids) == sorted(accepted)
    assert await MessageCopy.filter(message__internet_message_id__in=accepted).count() == len(
        accepted
    )


async def _stored_ids() -> set[str]:
    return {
        str(i)
        for i in await Message.filter(internet_message_id__startswith="burst-").values_list(
            "internet_message_id", flat=True
        )
    }
