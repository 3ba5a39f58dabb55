"""Whatever goes wrong, a command says it on one line: a busy port, a database URL Mailroom
cannot use, a refused database login, a password with no terminal to ask it on."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.runner import mailroom_in, one_line
from tests.conftest import POSTGRES_URL


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port something else listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("taken", ["HTTP", "SMTP"])
def test_serve_on_a_busy_port(tmp_path: Path, busy_port: int, taken: str) -> None:
    ports = {"HTTP": _free_port(), "SMTP": _free_port(), taken: busy_port}
    env = {
        "MAILROOM_HTTP_PORT": str(ports["HTTP"]),
        "MAILROOM_SMTP_PORT": str(ports["SMTP"]),
        "MAILROOM_IMAP_ENABLED": "false",
        "MAILROOM_NORMALIZE_WORKERS": "0",
    }
    assert mailroom_in(tmp_path, "workspace", "create", "acme", env=env).returncode == 0
    result = mailroom_in(tmp_path, "serve", env=env, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    [line] = [line for line in result.stderr.splitlines() if str(busy_port) in line]
    assert line.startswith("error:") and "in use" in line, result.stderr
    assert f"MAILROOM_{taken}_PORT" in line, line


@pytest.mark.parametrize("url", ["mysql://root@127.0.0.1/crm", "notaurl"])
def test_a_database_url_mailroom_cannot_use(tmp_path: Path, url: str) -> None:
    result = mailroom_in(tmp_path, "mailbox", "status", "acme", env={"MAILROOM_DATABASE_URL": url})
    assert result.returncode == 1
    line = one_line(result)
    assert url in line and "sqlite://" in line and "postgres://" in line, line
    assert list(tmp_path.iterdir()) == []


def test_a_refused_database_login(tmp_path: Path) -> None:
    server = POSTGRES_URL.rpartition("@")[2].rpartition("/")[0]
    url = f"postgres://nobody:hunter2@{server}/test"
    result = mailroom_in(tmp_path, "mailbox", "status", "acme", env={"MAILROOM_DATABASE_URL": url})
    assert result.returncode == 1
    line = one_line(result)
    prefix = f"error: cannot open database postgres://nobody@{server}/test: "
    assert line.startswith(prefix) and "nobody" in line.removeprefix(prefix), line
    assert "hunter2" not in line and "internal error" not in line


@pytest.mark.parametrize(
    "args",
    [
        ["mailbox", "add-imap", "acme", "alice@acme.com", "--host", "imap.example.com"],
        ["mailbox", "reconnect", "acme", "alice@acme.com", "--new-password"],
    ],
)
def test_a_password_with_no_terminal_to_ask_on(tmp_path: Path, args: list[str]) -> None:
    full = [*args, "--username", "alice"] if "add-imap" in args else args
    result = mailroom_in(tmp_path, *full)
    assert result.returncode == 1
    line = one_line(result)
    assert "--password-env" in line and "terminal" in line, line


def test_a_password_variable_that_is_not_set(tmp_path: Path) -> None:
    args = ["mailbox", "add-imap", "acme", "alice@acme.com", "--host", "imap.example.com"]
    result = mailroom_in(tmp_path, *args, "--username", "a", "--password-env", "NOT_SET_HERE")
    assert result.returncode == 1
    assert "NOT_SET_HERE is not set" in one_line(result)
