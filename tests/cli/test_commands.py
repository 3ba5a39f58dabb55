"""The `mailroom` command, run as a user runs it: a subprocess with settings in the environment."""

from __future__ import annotations

import json
import mailbox
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from mailroom.models import ApiToken
from mailroom.settings import Settings
from mailroom.workspace import hash_token
from tests.conftest import CORPORA
from tests.helpers import message

pytestmark = pytest.mark.embedded

PARSE_KEYS = {
    "file",
    "message_id",
    "in_reply_to",
    "references",
    "subject",
    "date",
    "from",
    "sender",
    "reply_to",
    "to",
    "cc",
    "bcc",
    "text",
    "snippet",
    "attachments",
    "calendar",
    "list_id",
    "bulk",
    "defects",
}


def mailroom(
    settings: Settings, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MAILROOM_DATABASE_URL": settings.database_url,
        "MAILROOM_DATA_DIR": str(settings.data_dir),
        "COLUMNS": "200",
    }
    result = subprocess.run(
        [sys.executable, "-m", "mailroom", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


def _mbox(path: Path, raws: list[bytes]) -> Path:
    box = mailbox.mbox(str(path))
    for raw in raws:
        box.add(raw)
    box.close()
    return path


@pytest.fixture
def workspace(settings: Settings) -> Settings:
    mailroom(settings, "workspace", "create", "acme", "--name", "Acme", "--plan", "pro")
    mailroom(
        settings, "member", "add", "acme", "alice@acme.com", "--admin", "--alias", "alice@acme.io"
    )
    return settings


def test_token_is_printed_alone_on_the_last_line_and_stored_hashed(workspace: Settings) -> None:
    result = mailroom(workspace, "token", "create", "acme", "alice@acme.io")
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("mr_") and " " not in token

    async def stored() -> list[str]:
        from mailroom.db import database

        async with database(workspace):
            return list(await ApiToken.all().values_list("token_hash", flat=True))

    import asyncio

    assert asyncio.run(stored()) == [hash_token(token)]


def test_ingest_reports_new_then_nothing_new(workspace: Settings, tmp_path: Path) -> None:
    raws = [
        message(sender="alice@acme.com", to=f"p{i}@globex.com", message_id=f"<m{i}@x>")
        for i in range(5)
    ]
    export = tmp_path / "export"  # beside the database: a folder holds mail only
    export.mkdir()
    box = _mbox(export / "sent.mbox", raws)
    eml = export / "one.eml"
    eml.write_bytes(message(message_id="<single@x>"))
    first = mailroom(
        workspace,
        "ingest",
        "acme",
        "alice@acme.com",
        str(box),
        str(eml),
    )
    summary = first.stdout.strip().splitlines()[-1]
    assert "6 new" in summary and "5 people and 1 company created" in summary
    second = mailroom(workspace, "ingest", "acme", "alice@acme.com", str(export))
    assert "0 new" in second.stdout and "6 unchanged" in second.stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["ingest", "nope", "a@b.com", "."], "no workspace 'nope'"),
        (["ingest", "acme", "zed@acme.com", "."], "no member"),
        (
            ["ingest", "acme", "alice@acme.com", "/no/such/file"],
            "no such file or folder",
        ),
        (["workspace", "create", "acme"], "already exists"),
        (["workspace", "create", "Bad Slug!"], "invalid workspace slug"),
        (["member", "add", "acme", "not-an-address"], "not a valid email address"),
        (
            ["member", "add", "acme", "other@acme.com", "--alias", "alice@acme.io"],
            "already belongs to a member",
        ),
    ],
)
def test_errors_are_one_line_without_traceback(
    workspace: Settings, args: list[str], expected: str
) -> None:
    result = mailroom(workspace, *args, check=False)
    assert result.returncode == 1
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_unreachable_database_is_one_line(tmp_path: Path) -> None:
    settings = Settings(database_url="postgres://nobody@127.0.0.1:1/none", data_dir=tmp_path)
    result = mailroom(settings, "workspace", "create", "x", check=False)
    assert result.returncode == 1
    assert "cannot open database postgres://nobody@127.0.0.1:1/none" in result.stderr
    assert "Traceback" not in result.stderr


def test_parse_json_prints_one_object_per_message(settings: Settings, tmp_path: Path) -> None:
    box = _mbox(tmp_path / "two.mbox", [message(message_id="<p1@x>"), message(message_id="<p2@x>")])
    spam = CORPORA / "spamscope" / "mail_test_3"
    result = mailroom(settings, "parse", "--json", str(box), str(spam))
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3
    assert all(set(obj) == PARSE_KEYS for obj in lines)
    assert [obj["message_id"] for obj in lines[:2]] == ["p1@x", "p2@x"]
    assert lines[0]["file"] == str(box) and lines[2]["file"] == str(spam)
    assert lines[0]["from"] == [{"name": "Jane Doe", "address": "jane@globex.com"}]
    assert lines[0]["date"] == "2026-03-02T09:30:00+00:00"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_health_and_the_api(workspace: Settings) -> None:
    token = mailroom(workspace, "token", "create", "acme", "alice@acme.com").stdout
    token = token.strip().splitlines()[-1]
    port = _free_port()
    env = {
        **os.environ,
        "MAILROOM_DATABASE_URL": workspace.database_url,
        "MAILROOM_DATA_DIR": str(workspace.data_dir),
        "MAILROOM_HTTP_PORT": str(port),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "mailroom", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert response.status_code == 200
        health = response.json()
        assert (health["status"], health["database"], health["smtp"]) == ("ok", "ok", "listening")
        query = {"query": "{ me { email role } workspace { slug recordCreationMode } }"}
        answer = httpx.post(
            f"{base}/graphql", json=query, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["data"] == {
            "me": {"email": "alice@acme.com", "role": "ADMIN"},
            "workspace": {"slug": "acme", "recordCreationMode": "SELECTIVE"},
        }
        assert httpx.post(f"{base}/graphql", json=query).status_code == 401
        # Production settings: no GraphiQL page.
        assert "text/html" not in httpx.get(f"{base}/graphql").headers.get("content-type", "")
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stdout:
            server.stdout.close()


def test_forwarding_address_and_rotation(workspace: Settings) -> None:
    first = mailroom(workspace, "member", "forwarding-address", "acme", "alice@acme.com")
    address = first.stdout.strip().splitlines()[-1]
    local, _, domain = address.partition("@")
    assert domain == "mailroom.localhost" and local.startswith("acme+") and len(local) > 20
    again = mailroom(workspace, "member", "forwarding-address", "acme", "alice@acme.io")
    assert again.stdout.strip().splitlines()[-1] == address
    rotated = mailroom(
        workspace, "member", "forwarding-address", "acme", "alice@acme.com", "--rotate"
    )
    assert rotated.stdout.strip().splitlines()[-1] not in ("", address)


def test_workspace_set_sender_policy_and_mode(workspace: Settings) -> None:
    result = mailroom(
        workspace,
        "workspace",
        "set",
        "acme",
        "--sender-policy",
        "ADDRESS_ONLY",
        "--record-creation-mode",
        "all",
    )
    assert "record creation ALL" in result.stdout and "sender policy ADDRESS_ONLY" in result.stdout
    bad = mailroom(workspace, "workspace", "set", "acme", "--sender-policy", "MAYBE", check=False)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


def test_the_data_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """The database holds everyone's mail: not for the machine's other users, whatever the
    umask, and an older, looser data folder is tightened."""
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    settings = Settings(data_dir=data)  # the embedded default: SQLite in the data folder
    old_umask = os.umask(0o022)
    try:
        mailroom(settings, "workspace", "create", "acme", "--name", "Acme")
    finally:
        os.umask(old_umask)
    assert data.stat().st_mode & 0o777 == 0o700
    files = [p for p in data.iterdir() if p.name.startswith("mailroom.sqlite3")]
    assert files, list(data.iterdir())
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600, path


# --- a batch with bad inputs: each reported on its own line, the rest read, a non-zero exit ---


def test_parse_reports_each_bad_input_and_reads_the_rest(
    settings: Settings, tmp_path: Path
) -> None:
    first = tmp_path / "first.eml"
    first.write_bytes(message(message_id="<first@x>"))
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list\n")
    missing = tmp_path / "missing.eml"
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    obsolete = CORPORA / "mime4j" / "obsolete.msg"  # `Subject :`, as real mail writes it
    last = _mbox(tmp_path / "last.mbox", [message(message_id="<last@x>")])
    paths = [first, notes, missing, nothing, obsolete, last]
    result = mailroom(settings, "parse", "--json", *map(str, paths), check=False)
    assert result.returncode == 1
    read = [json.loads(line) for line in result.stdout.splitlines()]
    assert [obj["file"] for obj in read] == [str(first), str(obsolete), str(last)]
    assert read[1]["subject"].startswith("The obsolete syntax allow spaces before the colon")
    problems = result.stderr.strip().splitlines()
    assert len(problems) == 3 and "Traceback" not in result.stderr, result.stderr
    for path, reason in (
        (notes, "not an email message"),
        (missing, "no such file"),
        (nothing, "no mail"),
    ):
        assert any(str(path) in line and reason in line for line in problems), problems


def test_ingest_reports_each_bad_input_and_imports_the_rest(
    workspace: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "export"
    (folder / "sub").mkdir(parents=True)
    (folder / "one.eml").write_bytes(message(message_id="<one@x>"))
    (folder / "notes.txt").write_text("shopping list\n")
    (folder / "sub" / "spaced.eml").write_bytes(
        b"From : Pat <pat@initech.com>\r\nTo: alice@acme.com\r\nSubject : Spaced\r\n"
        b"Message-ID\t: <spaced@x>\r\n\r\nHi.\r\n"
    )
    maildir = mailbox.Maildir(str(folder / "Mail"))
    maildir.add(message(message_id="<kept@x>"))
    # A message the mail client removed while the import ran.
    (folder / "Mail" / "cur" / "0000.gone:2,S").symlink_to(tmp_path / "nowhere")
    named = tmp_path / "two.eml"
    named.write_bytes(message(message_id="<two@x>"))
    missing = tmp_path / "missing.mbox"
    result = mailroom(
        workspace,
        "ingest",
        "acme",
        "alice@acme.com",
        str(missing),
        str(folder),
        str(named),
        check=False,
    )
    assert result.returncode == 1
    assert "4 new" in result.stdout.strip().splitlines()[-1], result.stdout
    problems = result.stderr.strip().splitlines()
    assert len(problems) == 3 and "Traceback" not in result.stderr, result.stderr
    for path, reason in (
        (missing, "no such file"),
        (folder / "notes.txt", "not an email message"),
        (folder / "Mail", "0000.gone"),
    ):
        assert any(str(path) in line and reason in line for line in problems), problems

    async def spaced_was_read() -> bool:
        from mailroom.db import database
        from mailroom.models import Message

        async with database(workspace):
            return await Message.filter(subject="Spaced").exists()

    import asyncio

    assert asyncio.run(spaced_was_read())


def test_parse_prints_what_a_message_says_as_it_says_it(settings: Settings, tmp_path: Path) -> None:
    """Subjects and file names are data: brackets and colons in them are not console markup."""
    eml = tmp_path / "[draft].eml"
    eml.write_bytes(message(subject="Re: [/b] [bold]budget[/bold] :warning:"))
    result = mailroom(settings, "parse", str(eml), check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == str(eml)
    assert "subject  Re: [/b] [bold]budget[/bold] :warning:" in result.stdout


def test_an_error_is_printed_as_written(settings: Settings) -> None:
    """What an error names (a slug, a path, a server's words) may look like markup."""
    result = mailroom(settings, "ingest", "no[/b]pe", "a@b.com", ".", check=False)
    assert result.returncode == 1
    assert "no workspace 'no[/b]pe'" in result.stderr and "Traceback" not in result.stderr
