"""`mailroom explain` and `mailroom intelligence rebuild`, as a person runs them, on the demo's
mail (real messages written for Mailroom: threads, a forward, an invitation, a newsletter)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.cli.runner import mailroom_in, one_line

pytestmark = pytest.mark.embedded

MBOX = Path(__file__).resolve().parents[2] / "mailroom" / "demo" / "alice.mbox"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(MBOX, tmp_path / "alice.mbox")
    for args in (
        ["workspace", "create", "acme"],
        ["member", "add", "acme", "alice@acme.com", "--admin"],
        ["member", "add", "acme", "bob@acme.com"],
        ["ingest", "acme", "alice@acme.com", "alice.mbox"],
    ):
        result = mailroom_in(tmp_path, *args)
        assert result.returncode == 0, result.stderr
    return tmp_path


def explained(folder: Path, *args: str) -> dict[str, object]:
    result = mailroom_in(folder, "explain", "acme", *args, "--json")
    assert result.returncode == 0, result.stderr
    found: dict[str, object] = json.loads(result.stdout)
    return found


def test_explain_says_what_made_a_connection(folder: Path) -> None:
    text = mailroom_in(folder, "explain", "acme", "Samira.Haddad@initech.com")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0] == (
        "samira.haddad@initech.com (Samira Haddad): connections with the team, strongest first"
    )
    assert lines[1].startswith("alice@acme.com: ")
    # Alice wrote to her and answered her; the invitation in Alice's mail is a meeting.
    assert any(line.strip().startswith("1 meeting, last 2026-03-10") for line in lines)
    assert any("of their emails answered" in line for line in lines)

    data = explained(folder, "samira.haddad@initech.com")
    [alice] = data["connections"]  # type: ignore[misc]
    assert alice["member"] == "alice@acme.com"
    kinds = {p["kind"]: p for p in alice["explanation"]}
    assert {"SENT", "RECEIVED", "ANSWERED", "MET"} <= set(kinds)
    assert sum(p["contribution"] for p in alice["explanation"]) == pytest.approx(1, abs=1e-3)
    # Bob holds none of this mail: no connection of his.
    assert (
        explained(folder, "samira.haddad@initech.com", "--member", "bob@acme.com")["connections"]
        == []
    )


def test_a_newsletter_sender_and_a_stranger_have_no_connection(folder: Path) -> None:
    assert explained(folder, "editor@funnelweekly.com")["connections"] == []
    text = mailroom_in(folder, "explain", "acme", "nobody@nowhere.example")
    assert text.stdout.strip() == "nobody@nowhere.example: no interactions with the team"
    refused = mailroom_in(folder, "explain", "acme", "not an address")
    assert refused.returncode == 1
    assert "not a valid email address" in one_line(refused)
    unknown = mailroom_in(folder, "explain", "acme", "raj@globex.com", "--member", "x@acme.com")
    assert unknown.returncode == 1 and "x@acme.com" in one_line(unknown)


def test_rebuild_gives_the_figures_kept(folder: Path) -> None:
    before = explained(folder, "raj@globex.com")
    result = mailroom_in(folder, "intelligence", "rebuild", "acme")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Rebuilt the relationship figures of acme: ")
    after = explained(folder, "raj@globex.com")
    # The scores are of the moment each was asked; what they are made of is the same.
    for connection in (before, after):
        for c in connection["connections"]:  # type: ignore[union-attr]
            c.pop("score")
            for part in c["explanation"]:
                part.pop("contribution")
    assert before == after
