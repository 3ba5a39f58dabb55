"""Crash safety of the forwarding gateway: every message that received `250` is stored exactly
once, even when the server is killed (SIGKILL) in the middle of a burst and started again."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from mailroom.db import database
from mailroom.models import Message, PendingIngest
from mailroom.settings import Settings
from tests.helpers import message

DOMAIN = "crash.mailroom.test"
CONNECTIONS, PER_CONNECTION, KILL_AFTER = 8, 125, 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environment(settings: Settings, smtp: int, http: int) -> dict[str, str]:
    return {
        **os.environ,
        "MAILROOM_DATABASE_URL": settings.database_url,
        "MAILROOM_DATA_DIR": str(settings.data_dir),
        "MAILROOM_SMTP_PORT": str(smtp),
        "MAILROOM_HTTP_PORT": str(http),
        "MAILROOM_MAIL_DOMAIN": DOMAIN,
        "MAILROOM_SMTP_MESSAGES_PER_SENDER_PER_MINUTE": "100000",
    }


def _cli(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "mailroom", *args],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


@contextmanager
def _serve(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "mailroom", "serve"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_healthy(int(env["MAILROOM_HTTP_PORT"]), server, log)
        yield server
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=60)


def _wait_healthy(port: int, server: subprocess.Popen[bytes], log: Path) -> None:
    """Health answers only after startup, which replays what an earlier run left pending."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert server.poll() is None, log.read_text(errors="replace")[-3000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not come up")


def _burst(port: int, acked: list[str], stop: threading.Event) -> list[threading.Thread]:
    def connection(index: int) -> None:
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
                for n in range(PER_CONNECTION):
                    if stop.is_set():
                        return
                    message_id = f"crash-{index}-{n}@acme.com"
                    raw = message(
                        sender="alice@acme.com", to="jane@globex.com", message_id=f"<{message_id}>"
                    )
                    client.sendmail("alice@acme.com", [f"acme@{DOMAIN}"], raw)
                    acked.append(message_id)  # only after the 250
        except (smtplib.SMTPException, OSError):
            return  # the server was killed

    threads = [threading.Thread(target=connection, args=(i,)) for i in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    return threads


def test_messages_acknowledged_before_a_kill_are_stored_exactly_once(
    settings: Settings, tmp_path: Path
) -> None:
    env = _environment(settings, _free_port(), _free_port())
    _cli(env, "workspace", "create", "acme")
    _cli(env, "workspace", "set", "acme", "--sender-policy", "ADDRESS_ONLY")
    _cli(env, "member", "add", "acme", "alice@acme.com")
    log = tmp_path / "serve.log"
    acked: list[str] = []
    stop = threading.Event()
    with _serve(env, log) as server:
        threads = _burst(int(env["MAILROOM_SMTP_PORT"]), acked, stop)
        deadline = time.monotonic() + 120
        while len(acked) < KILL_AFTER and time.monotonic() < deadline:
            time.sleep(0.005)
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    assert len(acked) >= KILL_AFTER, "the burst was too slow to be interrupted"
    assert len(acked) < CONNECTIONS * PER_CONNECTION, "the kill came after the burst"
    with _serve(env, log):
        counts = _stored_counts(settings, acked)
    assert counts["pending"] == 0
    missing = [m for m in acked if counts.get(m, 0) == 0]
    doubled = [m for m in acked if counts.get(m, 0) > 1]
    assert missing == [] and doubled == []


def _stored_counts(settings: Settings, acked: list[str]) -> dict[str, int]:
    import asyncio

    async def read() -> dict[str, int]:
        async with database(settings):
            counts: dict[str, int] = {}
            for message_id in await Message.all().values_list("internet_message_id", flat=True):
                counts[message_id] = counts.get(message_id, 0) + 1
            counts["pending"] = await PendingIngest.all().count()
            return counts

    return asyncio.run(read())
