"""Which database a command uses, and when one is made: only `serve`, `workspace create` and
`migrate` make one, and say where; every other command names the database it looked in."""

from __future__ import annotations

import asyncio
import importlib.metadata
from pathlib import Path

import asyncpg
import pytest

from mailroom.settings import Settings
from tests.cli.runner import mailroom_in, one_line
from tests.cli.test_commands import mailroom

READ_AND_ADMIN = [
    ["mailbox", "status", "acme"],
    ["mailbox", "sync", "acme", "alice@acme.com"],
    ["member", "add", "acme", "alice@acme.com"],
    ["member", "forwarding-address", "acme", "alice@acme.com"],
    ["token", "create", "acme", "alice@acme.com"],
    ["workspace", "set", "acme", "--name", "Acme"],
    ["ingest", "acme", "alice@acme.com", "."],
]


@pytest.mark.parametrize("args", READ_AND_ADMIN, ids=lambda args: " ".join(args[:2]))
def test_a_command_that_needs_data_makes_no_database(tmp_path: Path, args: list[str]) -> None:
    result = mailroom_in(tmp_path, *args)
    assert result.returncode == 1
    line = one_line(result)
    assert "no Mailroom database" in line
    assert f"sqlite://{tmp_path / 'mailroom-data' / 'mailroom.sqlite3'}" in line, line
    assert list(tmp_path.iterdir()) == []


def test_workspace_create_makes_the_database_and_says_where(tmp_path: Path) -> None:
    made = mailroom_in(tmp_path, "workspace", "create", "acme")
    assert made.returncode == 0, made.stderr
    database = tmp_path / "mailroom-data" / "mailroom.sqlite3"
    assert database.is_file()
    assert f"Created the database sqlite://{database}" in made.stderr
    again = mailroom_in(tmp_path, "workspace", "create", "beta")
    assert again.returncode == 0 and "Created the database" not in again.stderr
    assert mailroom_in(tmp_path, "mailbox", "status", "acme").returncode == 0

    # The case: the same command from another folder finds no database there.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    lost = mailroom_in(elsewhere, "mailbox", "status", "acme")
    assert lost.returncode == 1
    assert f"sqlite://{elsewhere / 'mailroom-data' / 'mailroom.sqlite3'}" in one_line(lost)
    assert list(elsewhere.iterdir()) == []


def test_a_database_url_in_a_missing_folder_makes_no_folder(tmp_path: Path) -> None:
    path = tmp_path / "nonexistent" / "dir" / "x.sqlite3"
    env = {"MAILROOM_DATABASE_URL": f"sqlite://{path}"}
    read = mailroom_in(tmp_path, "mailbox", "status", "acme", env=env)
    assert read.returncode == 1 and f"sqlite://{path}" in one_line(read)
    create = mailroom_in(tmp_path, "workspace", "create", "acme", env=env)
    assert create.returncode == 1
    line = one_line(create)
    assert f"sqlite://{path}" in line and f"{path.parent} does not exist" in line, line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["member", "add", "nope", "a@b.com"], "no workspace 'nope'"),
        (["token", "create", "acme", "zed@acme.com"], "no member"),
        (["mailbox", "sync", "acme", "alice@acme.com"], "mailbox alice@acme.com"),
    ],
)
def test_not_found_names_the_database(settings: Settings, args: list[str], expected: str) -> None:
    mailroom(settings, "workspace", "create", "acme")
    mailroom(settings, "member", "add", "acme", "alice@acme.com")
    result = mailroom(settings, *args, check=False)
    assert result.returncode == 1
    line = one_line(result)
    assert expected in line and line.endswith(f"(looked in {settings.database_url})"), line


async def _admin(url: str, sql: str) -> int:
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://"))
    try:
        if sql.startswith("SELECT"):
            return int(await connection.fetchval(sql))
        await connection.execute(sql)
        return 0
    finally:
        await connection.close()


def test_an_empty_postgres_database_is_made_by_workspace_create_only(
    tmp_path: Path, new_database: str
) -> None:
    env = {"MAILROOM_DATABASE_URL": new_database}
    tables = "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"
    read = mailroom_in(tmp_path, "mailbox", "status", "acme", env=env)
    assert read.returncode == 1
    assert f"no Mailroom database in {new_database}" in one_line(read)
    assert asyncio.run(_admin(new_database, tables)) == 0
    made = mailroom_in(tmp_path, "workspace", "create", "acme", env=env)
    assert made.returncode == 0, made.stderr
    assert f"Created the database {new_database}" in made.stderr
    assert asyncio.run(_admin(new_database, tables)) > 0
    assert list(tmp_path.iterdir()) == []  # no data folder for a database kept elsewhere


def test_info_says_what_mailroom_would_use(tmp_path: Path) -> None:
    env = {
        "MAILROOM_DATABASE_URL": "postgres://mailroom:s3cret@db.example:5433/crm",
        "MAILROOM_DATA_DIR": "data",
        "MAILROOM_HTTP_PORT": "8081",
        "MAILROOM_HTTP_WORKERS": "3",
        "MAILROOM_SMTP_PORT": "2526",
        "MAILROOM_MAIL_DOMAIN": "mail.example.com",
    }
    result = mailroom_in(tmp_path, "info", env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert importlib.metadata.version("mailroom") in out
    assert "postgres://mailroom@db.example:5433/crm" in out and "s3cret" not in out
    assert str(tmp_path / "data") in out
    assert "127.0.0.1:8081" in out and "127.0.0.1:2526" in out and "mail.example.com" in out
    assert "API processes 3" in out

    embedded = mailroom_in(tmp_path, "info")
    assert embedded.returncode == 0, embedded.stderr
    database = tmp_path / "mailroom-data" / "mailroom.sqlite3"
    assert f"sqlite://{database} (not made yet)" in embedded.stdout
    assert list(tmp_path.iterdir()) == []
