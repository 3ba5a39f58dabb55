"""A real `mailroom serve` and its normalize workers: a poison message leaves the API answering
and other mail flowing (#7), and the workers die with the server when it is killed (#14: after
a kill -9, one went on parsing for six minutes)."""

from __future__ import annotations

import asyncio
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

from mailroom.db import database
from mailroom.models import Message
from mailroom.settings import Settings

DOMAIN = "workers.mailroom.test"
WORKSPACE = f"acme@{DOMAIN}"
HEADERS = "From: Alice <alice@acme.com>\r\nTo: Jane <jane@globex.com>\r\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environment(settings: Settings, **values: str) -> dict[str, str]:
    env = {
        **os.environ,
        "MAILROOM_DATABASE_URL": settings.database_url,
        "MAILROOM_DATA_DIR": str(settings.data_dir),
        "MAILROOM_SMTP_PORT": str(_free_port()),
        "MAILROOM_HTTP_PORT": str(_free_port()),
        "MAILROOM_MAIL_DOMAIN": DOMAIN,
        "MAILROOM_IMAP_ENABLED": "false",
    }
    return {**env, **{f"MAILROOM_{name.upper()}": value for name, value in values.items()}}


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "mailroom", *args],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
        text=True,
    )
    return done.stdout


@contextmanager
def _serve(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "mailroom", "serve"], env=env, stdout=output, stderr=output
        )
    try:
        deadline = time.monotonic() + 120
        while _health(env, 2) is None:
            assert server.poll() is None, log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.2)
        yield server
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(timeout=60)


def _health(env: dict[str, str], timeout: float) -> float | None:
    """Seconds /health took to answer 200, or None."""
    start = time.monotonic()
    try:
        url = f"http://127.0.0.1:{env['MAILROOM_HTTP_PORT']}/health"
        if httpx.get(url, timeout=timeout).status_code == 200:
            return time.monotonic() - start
    except httpx.TransportError:
        pass
    return None


def _send(env: dict[str, str], *raws: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", int(env["MAILROOM_SMTP_PORT"]), timeout=60) as client:
        for raw in raws:
            assert client.sendmail("alice@acme.com", [WORKSPACE], raw) == {}


def _team(env: dict[str, str]) -> str:
    """The workspace and Alice; returns her API token."""
    _cli(env, "workspace", "create", "acme")
    _cli(env, "workspace", "set", "acme", "--sender-policy", "ADDRESS_ONLY")
    _cli(env, "member", "add", "acme", "alice@acme.com")
    return _cli(env, "token", "create", "acme", "alice@acme.com").strip().splitlines()[-1]


def _subjects(env: dict[str, str], token: str) -> set[str]:
    url = f"http://127.0.0.1:{env['MAILROOM_HTTP_PORT']}/graphql"
    query = "{ emails(first: 10) { nodes { subject } } }"
    response = httpx.post(
        url, json={"query": query}, headers={"Authorization": f"Bearer {token}"}, timeout=5
    )
    body: dict[str, Any] = response.json()
    return {node["subject"] for node in body["data"]["emails"]["nodes"]}


def test_a_poison_message_leaves_the_api_answering_and_other_mail_flowing(
    settings: Settings, tmp_path: Path
) -> None:
    env = _environment(settings, parse_timeout="5")
    token = _team(env)
    divs = "".join("<div>" * 100 + "\r\n" for _ in range(1500))  # 150,000 nested, 1.6 MB
    poison = (
        f"{HEADERS}Subject: poison\r\nMessage-ID: <poison@acme.com>\r\n"
        f"Content-Type: text/html\r\n\r\n{divs}<p>payload</p>\r\n"
    ).encode()
    normal = f"{HEADERS}Subject: normal\r\nMessage-ID: <normal@acme.com>\r\n\r\nHi.\r\n"
    with _serve(env, tmp_path / "serve.log"):
        _send(env, poison, normal.encode())
        waits: list[float | None] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            waits.append(_health(env, 5))
            if _subjects(env, token) == {"poison", "normal"}:
                break
            time.sleep(0.1)
        assert _subjects(env, token) == {"poison", "normal"}
    assert all(wait is not None and wait < 2 for wait in waits), waits
    defects = asyncio.run(_defects(settings, "poison@acme.com"))
    assert any("read tag by tag" in d or "took longer than" in d for d in defects), defects


async def _defects(settings: Settings, message_id: str) -> list[str]:
    async with database(settings):
        found = await Message.get(internet_message_id=message_id)
        return list(found.defects)


def _workers(server: psutil.Process) -> list[psutil.Process]:
    children = server.children()
    return [child for child in children if "spawn_main" in " ".join(child.cmdline())]


def test_normalize_workers_die_with_a_killed_server(settings: Settings, tmp_path: Path) -> None:
    # Multiparts nested 400 deep over a million lines, with the depth limit raised: about half
    # a minute of parsing each (the stdlib checks every line against every open boundary).
    levels = "".join(
        f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n" for i in range(400)
    )
    body = "Content-Type: text/plain\r\n\r\n" + "x\r\n" * 1_000_000
    slow = [
        f"{HEADERS}Subject: slow\r\nMessage-ID: <slow{n}@acme.com>\r\n{levels}{body}".encode()
        for n in (1, 2)
    ]
    env = _environment(settings, max_mime_depth="5000", parse_timeout="600", normalize_workers="1")
    _team(env)
    with _serve(env, tmp_path / "serve.log") as server:
        process = psutil.Process(server.pid)
        _send(env, *slow)
        deadline = time.monotonic() + 60
        busy: list[psutil.Process] = []
        while not busy and time.monotonic() < deadline:
            time.sleep(0.2)
            busy = [w for w in _workers(process) if sum(w.cpu_times()[:2]) > 1.0]
        assert busy, "no worker took up the slow messages"
        workers = _workers(process)
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(_running(w) for w in workers):
            time.sleep(0.1)
        assert not any(_running(w) for w in workers), workers


def _running(process: psutil.Process) -> bool:
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
