"""The operator's verbs, run as a person runs them: tokens listed and revoked, members, workspaces
and mailboxes listed and removed (asked first, or `--yes`), the blocklist; and input refused at
the edge: blocklist entries, files that are not mail, unknown keys in the config file."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from mailroom.models import (
    ApiToken,
    Mailbox,
    Member,
    Message,
    Person,
    Provider,
    RawMessage,
    Workspace,
)
from mailroom.settings import Settings
from mailroom.workspace import token_holder
from tests.conftest import CORPORA
from tests.helpers import message

pytestmark = pytest.mark.embedded

T = TypeVar("T")
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000")


def mailroom(
    settings: Settings,
    *args: str,
    answer: str | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """The command, with `answer` on its standard input (none: a closed input, as from cron)."""
    return subprocess.run(
        [sys.executable, "-m", "mailroom", *args],
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
            "MAILROOM_DATABASE_URL": settings.database_url,
            "MAILROOM_DATA_DIR": str(settings.data_dir),
            "COLUMNS": "200",
            **(env or {}),
        },
        input=answer or "",
        capture_output=True,
        text=True,
        timeout=300,
    )


def ok(settings: Settings, *args: str, answer: str | None = None) -> str:
    result = mailroom(settings, *args, answer=answer)
    assert result.returncode == 0, result.stderr
    return result.stdout


def in_database(settings: Settings, read: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        from mailroom.db import database

        async with database(settings):
            return await read()

    return asyncio.run(main())


def ingest(settings: Settings, member: str, path: Path) -> None:
    ok(settings, "ingest", "acme", member, str(path))


@pytest.fixture
def acme(settings: Settings, tmp_path: Path) -> Settings:
    """Alice (admin) and Bob; Bob's import holds a message only he has and one both have, and
    every participant is a person (ALL)."""
    ok(settings, "workspace", "create", "acme", "--name", "Acme", "--plan", "pro")
    ok(settings, "member", "add", "acme", "alice@acme.com", "--admin")
    ok(settings, "member", "add", "acme", "bob@acme.com")
    ok(settings, "workspace", "set", "acme", "--record-creation-mode", "ALL")
    both = message(sender="jane@globex.com", to="alice@acme.com, bob@acme.com")
    only_bob = message(sender="pat@initech.com", to="bob@acme.com", message_id="<bob@x>")
    for name, raws in (("alice", [both]), ("bob", [both, only_bob])):
        folder = tmp_path / f"{name}-export"
        folder.mkdir()
        for n, raw in enumerate(raws):
            (folder / f"{n}.eml").write_bytes(raw)
        ingest(settings, f"{name}@acme.com", folder)
    return settings


def _tokens(settings: Settings, *args: str) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = json.loads(ok(settings, "token", "list", "acme", *args, "--json"))
    return rows


def test_tokens_are_listed_without_their_secret_and_revoked(acme: Settings) -> None:
    alice = ok(acme, "token", "create", "acme", "alice@acme.com").strip().splitlines()[-1]
    bob = ok(acme, "token", "create", "acme", "bob@acme.com").strip().splitlines()[-1]
    listed = ok(acme, "token", "list", "acme")
    assert alice not in listed and bob not in listed
    rows = _tokens(acme)
    assert [(r["member"], r["prefix"]) for r in rows] == [
        ("alice@acme.com", alice[:10]),
        ("bob@acme.com", bob[:10]),
    ]
    assert all(r["last_used_at"] is None for r in rows)
    lines = listed.strip().splitlines()
    assert lines[0].split()[:3] == ["ID", "PREFIX", "MEMBER"]
    assert rows[1]["id"] in lines[2] and "bob@acme.com" in lines[2] and "never" in lines[2]
    assert [r["member"] for r in _tokens(acme, "bob@acme.com")] == ["bob@acme.com"]

    revoked = ok(acme, "token", "revoke", "acme", rows[1]["id"])
    assert "bob@acme.com" in revoked and bob not in revoked
    assert [r["member"] for r in _tokens(acme)] == ["alice@acme.com"]
    assert in_database(acme, lambda: token_holder(bob)) is None
    assert in_database(acme, lambda: token_holder(alice)) is not None
    # The prefix the list shows names a token too; a revoked one is gone.
    ok(acme, "token", "revoke", "acme", alice[:10])
    again = mailroom(acme, "token", "revoke", "acme", rows[1]["id"])
    assert again.returncode == 1 and "no token" in again.stderr
    assert in_database(acme, lambda: ApiToken.filter(revoked_at=None).count()) == 0


def test_member_remove_asks_then_takes_their_mailboxes_and_only_their_mail(
    acme: Settings,
) -> None:
    ok(acme, "token", "create", "acme", "bob@acme.com")
    members = json.loads(ok(acme, "member", "list", "acme", "--json"))
    assert [(m["email"], m["role"], m["tokens"]) for m in members] == [
        ("alice@acme.com", "ADMIN", 0),
        ("bob@acme.com", "MEMBER", 1),
    ]
    assert [b["provider"] for b in members[1]["mailboxes"]] == ["IMPORT"]
    assert "bob@acme.com" in ok(acme, "member", "list", "acme")
    people = in_database(acme, lambda: Person.all().count())
    assert people > 0
    assert in_database(acme, lambda: Message.all().count()) == 2

    for answer in (None, "n\n"):  # no answer (no terminal), then a no
        refused = mailroom(acme, "member", "remove", "acme", "bob@acme.com", answer=answer)
        assert refused.returncode == 1 and "nothing removed" in refused.stderr
        assert "their 1 mailbox (holding 2 messages)" in refused.stderr
        assert "Traceback" not in refused.stderr
    assert in_database(acme, lambda: Member.filter(email="bob@acme.com").exists())

    done = ok(acme, "member", "remove", "acme", "bob@acme.com", answer="y\n")
    assert "Removed bob@acme.com from acme: 1 mailbox, 1 message no other mailbox had" in done
    assert [m["email"] for m in json.loads(ok(acme, "member", "list", "acme", "--json"))] == [
        "alice@acme.com"
    ]
    # The message Alice has too stays; people stay; Bob's token went with him.
    assert in_database(acme, lambda: Message.all().count()) == 1
    assert in_database(acme, lambda: Person.all().count()) == people
    assert in_database(acme, lambda: ApiToken.all().count()) == 0

    last = mailroom(acme, "member", "remove", "acme", "alice@acme.com", "--yes")
    assert last.returncode == 1 and "last admin" in last.stderr


def test_workspace_list_and_remove_with_everything_in_it(acme: Settings) -> None:
    ok(acme, "workspace", "create", "initech")
    rows = json.loads(ok(acme, "workspace", "list", "--json"))
    assert [(r["slug"], r["members"], r["mailboxes"], r["messages"]) for r in rows] == [
        ("acme", 2, 2, 2),
        ("initech", 0, 0, 0),
    ]
    assert "2 members, 2 mailboxes, 2 messages" in ok(acme, "workspace", "list")

    refused = mailroom(acme, "workspace", "remove", "acme", answer="no\n")
    assert refused.returncode == 1 and "nothing removed" in refused.stderr
    assert "2 members and their API tokens, 2 mailboxes, 2 messages" in refused.stderr
    assert "Removed workspace acme" in ok(acme, "workspace", "remove", "acme", "--yes")

    assert [r["slug"] for r in json.loads(ok(acme, "workspace", "list", "--json"))] == ["initech"]
    for model in (Workspace, Member, Mailbox, Message, RawMessage, Person):
        left = in_database(acme, lambda m=model: m.all().count())  # type: ignore[misc]
        assert left == (1 if model is Workspace else 0), model
    gone = mailroom(acme, "member", "list", "acme")
    assert gone.returncode == 1 and "no workspace 'acme'" in gone.stderr


def test_mailbox_remove_asks_and_names_the_one_meant(acme: Settings) -> None:
    async def connect() -> None:
        alice = await Member.get(email="alice@acme.com")
        await Mailbox.create(
            workspace_id=alice.workspace_id,
            owner=alice,
            provider=Provider.IMAP,
            address="alice@acme.com",
        )

    in_database(acme, connect)
    ambiguous = mailroom(acme, "mailbox", "remove", "acme", "alice@acme.com", "--yes")
    assert ambiguous.returncode == 1
    assert "2 mailboxes at alice@acme.com (import, imap)" in ambiguous.stderr
    assert "--provider" in ambiguous.stderr

    args = ["mailbox", "remove", "acme", "alice@acme.com", "--provider", "import"]
    refused = mailroom(acme, *args)
    assert refused.returncode == 1 and "nothing removed" in refused.stderr
    assert "import mailbox alice@acme.com of acme (holding 1 message)" in refused.stderr
    # Bob has the message too: it stays.
    done = ok(acme, *args, answer="y\n")
    assert "Removed mailbox alice@acme.com of acme: 0 messages no other mailbox had" in done
    assert in_database(acme, lambda: Message.all().count()) == 2
    done = ok(acme, "mailbox", "remove", "acme", "bob@acme.com", "-y")
    assert "2 messages no other mailbox had" in done
    assert in_database(acme, lambda: Message.all().count()) == 0
    assert in_database(acme, lambda: Person.all().count()) > 0
    missing = mailroom(acme, "mailbox", "remove", "acme", "nobody@acme.com", "--yes")
    assert missing.returncode == 1 and "no mailbox nobody@acme.com" in missing.stderr


def test_blocklist_takes_addresses_domains_and_web_addresses_and_refuses_the_rest(
    acme: Settings,
) -> None:
    for entry, stored in (
        ("https://www.Spam.com/offer?id=1", "Blocklisted domain www.spam.com"),
        ("@hooli.com", "Blocklisted domain hooli.com"),
        ("Sales@Initech.com", "Blocklisted address sales@initech.com"),
        ("globex.com", "Blocklisted domain globex.com"),
    ):
        assert stored in ok(acme, "blocklist", "add", "acme", entry)
    for entry, reason in (
        ("*@spam.example", "is a pattern"),
        ("*.spam.com", "so give spam.com"),
        ("https://", "without a host name"),
        ("not a domain", "neither an email address nor a domain"),
        ("com", "not a domain an organisation holds"),
        ("@hooli.com", "already blocklisted"),
    ):
        refused = mailroom(acme, "blocklist", "add", "acme", entry)
        assert refused.returncode == 1 and reason in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
    listed = json.loads(ok(acme, "blocklist", "list", "acme", "--json"))
    assert [(e["kind"], e["value"]) for e in listed] == [
        ("DOMAIN", "www.spam.com"),
        ("DOMAIN", "hooli.com"),
        ("ADDRESS", "sales@initech.com"),
        ("DOMAIN", "globex.com"),
    ]
    # Taken off in another of the forms it could have been written in.
    assert "Removed domain hooli.com" in ok(acme, "blocklist", "remove", "acme", "hooli.com")
    assert "Removed domain globex.com" in ok(
        acme, "blocklist", "remove", "acme", "https://globex.com/"
    )
    assert ok(acme, "blocklist", "list", "acme").splitlines() == [
        "domain   www.spam.com",
        "address  sales@initech.com",
    ]
    missing = mailroom(acme, "blocklist", "remove", "acme", "@hooli.com")
    assert missing.returncode == 1 and "hooli.com is not on the blocklist" in missing.stderr


def test_ingest_skips_files_that_are_not_mail(acme: Settings, tmp_path: Path) -> None:
    """`/etc/passwd` was stored as a message and headed everyone's list: text whose first line
    has a colon, or any file without a mail header block, is reported and skipped."""
    folder = tmp_path / "not-mail"
    folder.mkdir()
    (folder / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    )
    (folder / "pixel.png").write_bytes(PNG)
    (folder / "data.json").write_text('{"From": "alice@acme.com", "Subject": "hi"}\n')
    (folder / "contacts.csv").write_text("From,Subject,Date\nalice@acme.com,hi,2026-03-02\n")
    (folder / "notes.yaml").write_text("title: plans\nowner: alice\n\nbody\n")
    real = CORPORA / "spamscope" / "mail_test_3"
    before = in_database(acme, lambda: Message.all().count())
    result = mailroom(acme, "ingest", "acme", "alice@acme.com", str(folder), str(real))
    assert result.returncode == 1
    assert result.stdout.strip().splitlines()[-1].startswith("1 message"), result.stdout
    skipped = result.stderr.strip().splitlines()
    assert sorted(Path(line.split()[1].rstrip(":")).name for line in skipped) == [
        "contacts.csv",
        "data.json",
        "notes.yaml",
        "passwd",
        "pixel.png",
    ], skipped
    assert all("not an email message" in line for line in skipped)
    assert in_database(acme, lambda: Message.all().count()) == before + 1


def test_an_unknown_key_in_the_config_file_is_named(settings: Settings, tmp_path: Path) -> None:
    config = tmp_path / "mailroom.toml"
    config.write_text('http_port = 8001\nsmpt_port = 2526\ndata_dir = "x"\n')
    result = mailroom(settings, "workspace", "list", env={"MAILROOM_CONFIG": str(config)})
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert f"{config}: 'smpt_port' is not a setting; did you mean 'smtp_port'?" in result.stderr
