"""Finding and reading mail in files: mbox as the standard library splits it, Maildir folders
(with Maildir++ subfolders), single messages, and what is not mail."""

from __future__ import annotations

import mailbox
from pathlib import Path

import pytest

from mailroom.errors import InvalidInputError
from mailroom.sources.files.formats import Kind, count, discover, messages
from tests.helpers import message


def _stdlib_split(path: Path) -> list[bytes]:
    box = mailbox.mbox(str(path), create=False)
    try:
        return [box.get_bytes(key) for key in box.iterkeys()]
    finally:
        box.close()


def test_mbox_is_split_exactly_as_the_standard_library_splits_it(tmp_path: Path) -> None:
    path = tmp_path / "tricky.mbox"
    box = mailbox.mbox(str(path))
    box.add(message(message_id="<1@x>", body="From the start, a line the writer escapes.\n"))
    box.add(message(message_id="<2@x>", body="no final newline"))
    box.add(b"Subject: crlf\r\n\r\nline one\r\n\r\n")
    box.close()
    # A message appended by hand, without the separating blank line.
    with path.open("ab") as file:
        file.write(b"From someone Mon Jan  1 00:00:00 2024\nSubject: last\n\nbody\n")
    source = discover([path]).sources[0]
    assert source.kind is Kind.MBOX
    ours = [found.raw for found in messages(source)]
    assert ours == _stdlib_split(path)
    assert count(source) == len(ours) == 4
    assert [f.provider_id for f in messages(source)] == [f"tricky.mbox:{i}" for i in range(4)]


def test_maildir_and_maildir_plus_plus_subfolders(tmp_path: Path) -> None:
    root = mailbox.Maildir(str(tmp_path / "Mail"))
    root.add(message(message_id="<in@x>"))
    sent = root.add_folder("Sent")
    sent.add(message(message_id="<out@x>"))
    (tmp_path / "Mail" / "dovecot-uidlist").write_text("3 V1 N2\n")
    found = discover([tmp_path])
    kinds = sorted((s.kind, s.path.name) for s in found.sources)
    assert kinds == [(Kind.MAILDIR, ".Sent"), (Kind.MAILDIR, "Mail")]
    assert found.skipped == []
    by_folder = {s.path.name: [f.folder for f in messages(s)] for s in found.sources}
    assert by_folder == {"Mail": ["Mail"], ".Sent": [".Sent"]}


def test_folders_are_searched_and_non_mail_is_reported(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.eml").write_bytes(message())
    (tmp_path / "a" / "notes.txt").write_text("shopping list\n")
    (tmp_path / "empty.eml").write_bytes(b"")
    (tmp_path / "outlook.msg").write_bytes(bytes.fromhex("d0cf11e0a1b11ae1") + b"\0" * 100)
    (tmp_path / ".hidden").write_bytes(message())
    found = discover([tmp_path])
    assert [(s.kind, s.path.name) for s in found.sources] == [(Kind.MESSAGE, "one.eml")]
    reasons = {path.name: reason for path, reason in found.skipped}
    assert reasons["notes.txt"] == "not an email message, mbox or Maildir"
    assert reasons["empty.eml"] == "empty file"
    assert "Outlook" in reasons["outlook.msg"]


def test_a_named_file_that_is_not_mail_is_an_error(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list\n")
    with pytest.raises(InvalidInputError, match="not an email message"):
        discover([notes])
    with pytest.raises(InvalidInputError, match="no such file"):
        discover([tmp_path / "missing.mbox"])
