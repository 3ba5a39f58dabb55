"""The mailbox commands, run as a user runs them, against the real Dovecot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from mailroom.settings import Settings
from mailroom.vault import new_key
from tests.sources.imap.mailboxes import append_messages
from tests.sources.imap.services import ImapUser
from tests.sources.imap.test_sync import corpus_messages

pytestmark = pytest.mark.embedded


def mailroom(
    settings: Settings, *args: str, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "MAILROOM_DATABASE_URL": settings.database_url,
        "MAILROOM_DATA_DIR": str(settings.data_dir),
        "MAILROOM_NORMALIZE_WORKERS": "0",
        **(extra or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "mailroom", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_add_sync_and_status(settings: Settings, imap_user: Callable[[], ImapUser]) -> None:
    user = imap_user()
    append_messages(user.port, user.name, user.password, "INBOX", corpus_messages(12, "cli"))
    key = {"MAILROOM_SECRET_KEY": new_key(), "MAILROOM_IMAP_ALLOW_PRIVATE_HOSTS": "true"}
    assert mailroom(settings, "workspace", "create", "acme").returncode == 0
    assert mailroom(settings, "member", "add", "acme", "alice@acme.com").returncode == 0
    add = [
        "mailbox",
        "add-imap",
        "acme",
        "alice@acme.com",
        "--host",
        "127.0.0.1",
        "--port",
        str(user.port),
        "--security",
        "none",
        "--username",
        user.name,
        "--password-env",
        "IMAP_PASSWORD",
    ]
    wrong = mailroom(settings, *add, extra={**key, "IMAP_PASSWORD": "wrong"})
    assert wrong.returncode == 1 and "login was refused" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    keyless = mailroom(settings, *add, extra={"IMAP_PASSWORD": user.password})
    assert keyless.returncode == 1 and "MAILROOM_SECRET_KEY" in keyless.stderr
    added = mailroom(settings, *add, extra={**key, "IMAP_PASSWORD": user.password})
    assert added.returncode == 0, added.stderr
    status = json.loads(mailroom(settings, "mailbox", "status", "acme", "--json", extra=key).stdout)
    imap = [row for row in status if row["provider"] == "IMAP"]
    assert imap[0]["status"] == "PENDING" and imap[0]["messages"] == 0
    address = imap[0]["address"]
    synced = mailroom(settings, "mailbox", "sync", "acme", address, extra=key)
    assert synced.returncode == 0, synced.stderr
    assert "12 new" in synced.stdout
    status = json.loads(mailroom(settings, "mailbox", "status", "acme", "--json", extra=key).stdout)
    row = next(r for r in status if r["provider"] == "IMAP")
    assert row["status"] == "ACTIVE" and row["messages"] == 12
    assert row["progress"] == {"done": 12, "total": 12} and row["last_error"] is None
    assert set(row) >= {"address", "status", "messages", "progress", "last_error"}
