"""`serve --smtp` and `serve --api` as processes with one role each, on PostgreSQL: the receiver
answers SMTP, /health and /metrics but no API, and commits what it accepts to the database
rather than to a spool on its own disk; the API process answers GraphQL with what the receiver
stored, and listens for no mail."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from mailroom.models import migrations
from mailroom.settings import Settings
from tests.conftest import empty_postgres
from tests.e2e.test_operate import DOMAIN, _cli, _free_port, _send, _wait_healthy
from tests.helpers import message

QUERY = "{ emails(first: 5) { nodes { subject } } }"
Start = Callable[[dict[str, str], str, int, int], subprocess.Popen[bytes]]


@pytest.fixture
def pg_settings(postgres_url: str, model_tables: list[str], tmp_path: Path) -> Settings:
    asyncio.run(empty_postgres(postgres_url, model_tables))
    return Settings(data_dir=tmp_path / "data", database_url=postgres_url)


@pytest.fixture
def env(pg_settings: Settings) -> dict[str, str]:
    values = {
        **os.environ,
        "MAILROOM_DATABASE_URL": pg_settings.database_url,
        "MAILROOM_DATA_DIR": str(pg_settings.data_dir),
        "MAILROOM_MAIL_DOMAIN": DOMAIN,
        "MAILROOM_HTTP_WORKERS": "1",
    }
    values.pop("MAILROOM_CONFIG", None)
    _cli(values, "workspace", "create", "acme")
    _cli(values, "workspace", "set", "acme", "--sender-policy", "ADDRESS_ONLY")
    _cli(values, "member", "add", "acme", "alice@acme.com")
    return values


def _token(env: dict[str, str]) -> str:
    command = [sys.executable, "-m", "mailroom", "token", "create", "acme", "alice@acme.com"]
    done = subprocess.run(command, env=env, check=True, capture_output=True, timeout=120)
    return done.stdout.decode().strip().splitlines()[-1]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    started: list[subprocess.Popen[bytes]] = []

    def run(env: dict[str, str], role: str, http: int, smtp: int) -> subprocess.Popen[bytes]:
        log = tmp_path / f"serve{role}.log"
        values = {**env, "MAILROOM_HTTP_PORT": str(http), "MAILROOM_SMTP_PORT": str(smtp)}
        with log.open("wb") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "mailroom", "serve", role],
                env=values,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        started.append(process)
        _wait_healthy(http, process, log)
        return process

    yield run
    for process in started:
        process.terminate()
        process.wait(timeout=60)


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_a_receiver_and_an_api_process_with_one_role_each(
    env: dict[str, str], pg_settings: Settings, start: Start
) -> None:
    receiver_http, receiver_smtp = _free_port(), _free_port()
    api_http, api_smtp = _free_port(), _free_port()
    start(env, "--smtp", receiver_http, receiver_smtp)
    start(env, "--api", api_http, api_smtp)

    # The receiver: mail, health and metrics, no API.
    raw = message(sender="alice@acme.com", message_id="<roles@acme.com>", subject="Roles")
    assert _send(receiver_smtp, raw, "alice@acme.com") == 250
    receiver = f"http://127.0.0.1:{receiver_http}"
    assert httpx.get(f"{receiver}/health").json()["smtp"] == "listening"
    assert httpx.get(f"{receiver}/metrics").status_code == 200
    assert httpx.post(f"{receiver}/graphql", json={"query": QUERY}).status_code == 404
    # Committed to the database before the 250: no spool of its own on this machine's disk.
    assert not (pg_settings.data_dir / "spool").exists()

    # The API process: the mail the receiver stored, and no SMTP of its own.
    assert not _listening(api_smtp)
    api = f"http://127.0.0.1:{api_http}"
    assert httpx.get(f"{api}/health").json()["smtp"] == "off"
    headers = {"Authorization": f"Bearer {_token(env)}"}
    deadline = time.monotonic() + 30
    while not (found := _subjects(api, headers)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert found == ["Roles"]


def _subjects(api: str, headers: dict[str, str]) -> list[str]:
    answer = httpx.post(f"{api}/graphql", json={"query": QUERY}, headers=headers).json()
    return [node["subject"] for node in answer["data"]["emails"]["nodes"]]


def test_processes_starting_at_once_migrate_a_new_database_once(
    new_database: str, tmp_path: Path
) -> None:
    # After an upgrade, every node starts at once, and each brings the schema up to date first.
    env = {**os.environ, "MAILROOM_DATABASE_URL": new_database}
    env.pop("MAILROOM_CONFIG", None)
    command = [sys.executable, "-m", "mailroom", "migrate"]
    starting = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(4)
    ]
    results = [process.communicate(timeout=120) for process in starting]
    assert [process.returncode for process in starting] == [0] * 4, results

    async def applied() -> list[str]:
        connection = await asyncpg.connect(new_database.replace("postgres://", "postgresql://"))
        try:
            rows = await connection.fetch("SELECT name FROM tortoise_migrations ORDER BY id")
            return [row["name"] for row in rows]
        finally:
            await connection.close()

    names = asyncio.run(applied())
    # Each of Mailroom's migrations, once.
    folder = Path(migrations.__file__).parent
    shipped = sorted(path.stem for path in folder.glob("0*.py"))
    assert names == shipped
