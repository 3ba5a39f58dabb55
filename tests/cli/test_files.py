"""`mailroom ingest SLUG MEMBER_EMAIL PATH...`: how it is called, what its summary says, and
that a small import does not wait for a worker process."""

from __future__ import annotations

import mailbox
import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.cli.runner import mailroom_in
from tests.helpers import message

pytestmark = pytest.mark.embedded


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder with Mailroom's embedded database: workspace acme, member alice@acme.com."""
    for args in (["workspace", "create", "acme"], ["member", "add", "acme", "alice@acme.com"]):
        assert mailroom_in(tmp_path, *args).returncode == 0
    return tmp_path


def _mbox(path: Path, raws: list[bytes]) -> Path:
    box = mailbox.mbox(str(path))
    for raw in raws:
        box.add(raw)
    box.close()
    return path


def test_one_sent_message_in_the_singular(folder: Path) -> None:
    eml = folder / "sent.eml"
    eml.write_bytes(message(sender="alice@acme.com", to="Jane <jane@globex.com>"))
    result = mailroom_in(folder, "ingest", "acme", "alice@acme.com", str(eml))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "1 message: 1 new, 0 duplicate, 0 unchanged; 0 with defects; 1 person and 1 company created"
    )


def test_why_inbound_mail_alone_makes_no_records(folder: Path) -> None:
    """SELECTIVE makes records of the people members wrote to: received mail alone makes none,
    which looks like a failure unless the summary says why."""
    raws = [message(message_id=f"<in{i}@globex.com>") for i in range(3)]
    box = _mbox(folder / "inbox.mbox", raws)
    result = mailroom_in(folder, "ingest", "acme", "alice@acme.com", str(box))
    assert result.returncode == 0, result.stderr
    summary = result.stdout.strip()
    assert summary.startswith("3 messages: 3 new"), summary
    assert "no people or companies created" in summary and "SELECTIVE" in summary, summary
    assert "sent by alice@acme.com" in summary and "--record-creation-mode ALL" in summary


def test_a_small_import_starts_no_worker(folder: Path) -> None:
    """A worker process takes longer to start than a few hundred messages take to parse."""
    box = _mbox(folder / "few.mbox", [message(message_id=f"<f{i}@x>") for i in range(20)])
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("MAILROOM_")},
        "MAILROOM_NORMALIZE_WORKERS": "1",
    }
    command = [sys.executable, "-m", "mailroom", "ingest", "acme", "alice@acme.com", str(box)]
    with subprocess.Popen(
        command, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as child:
        process = psutil.Process(child.pid)
        children: dict[int, str] = {}
        while child.poll() is None:
            try:
                for found in process.children(recursive=True):
                    children.setdefault(found.pid, " ".join(_cmdline(found)))
            except psutil.NoSuchProcess:
                break
            time.sleep(0.01)
        out, err = child.communicate()
    assert child.returncode == 0, err
    assert "20 new" in out
    # A worker is a spawned interpreter (multiprocessing's spawn_main); other children are the
    # short commands libraries run as they are imported (ldconfig for ctypes' find_library,
    # from trio, which the tests' selenium brings).
    workers = {pid: line for pid, line in children.items() if "spawn_main" in line}
    assert not workers, f"a worker process was started: {workers}"


def _cmdline(process: psutil.Process) -> list[str]:
    try:
        return process.cmdline()
    except psutil.Error:
        return ["(gone)"]
