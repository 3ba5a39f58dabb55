"""Finding and reading mail in files: mbox as the standard library splits it, Maildir folders
(with Maildir++ subfolders), single messages, and what is not mail."""

from __future__ import annotations

import mailbox
import os
import threading
from pathlib import Path

from mailroom.sources.files.formats import (
    Discovery,
    FoundMessage,
    Kind,
    Unreadable,
    count,
    discover,
    messages,
)
from tests.conftest import CORPORA
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
    ours = [_found(found).raw for found in messages(source)]
    assert ours == _stdlib_split(path)
    assert count(source) == len(ours) == 4
    ids = [_found(f).provider_id for f in messages(source)]
    assert ids == [f"tricky.mbox:{i}" for i in range(4)]


def test_maildir_and_maildir_plus_plus_subfolders(tmp_path: Path) -> None:
    root = mailbox.Maildir(str(tmp_path / "Mail"))
    root.add(message(message_id="<in@x>"))
    sent = root.add_folder("Sent")
    sent.add(message(message_id="<out@x>"))
    (tmp_path / "Mail" / "dovecot-uidlist").write_text("3 V1 N2\n")
    found = discover([tmp_path])
    kinds = sorted((s.kind, s.path.name) for s in found.sources)
    assert kinds == [(Kind.MAILDIR, ".Sent"), (Kind.MAILDIR, "Mail")]
    assert found.unreadable == []
    by_folder = {s.path.name: [_found(f).folder for f in messages(s)] for s in found.sources}
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
    reasons = {bad.path.name: bad.reason for bad in found.unreadable}
    assert reasons["notes.txt"] == "not an email message, mbox or Maildir"
    assert reasons["empty.eml"] == "empty file"
    assert "Outlook" in reasons["outlook.msg"]


def test_named_paths_without_mail_are_reported_beside_the_mail(tmp_path: Path) -> None:
    """A batch is never stopped by one of its inputs: each bad one is reported, with why."""
    first, last = tmp_path / "first.eml", tmp_path / "last.eml"
    first.write_bytes(message(message_id="<first@x>"))
    last.write_bytes(message(message_id="<last@x>"))
    notes = tmp_path / "notes.txt"
    notes.write_text("shopping list\n")
    (tmp_path / "nothing").mkdir()
    (tmp_path / "dangling.eml").symlink_to(tmp_path / "gone.eml")
    names = ["first.eml", "notes.txt", "missing.mbox", "nothing", "dangling.eml", "last.eml"]
    found = discover([tmp_path / name for name in names])
    assert [s.path.name for s in found.sources] == ["first.eml", "last.eml"]
    assert [(bad.path.name, bad.reason) for bad in found.unreadable] == [
        ("notes.txt", "not an email message, mbox or Maildir"),
        ("missing.mbox", "no such file or folder"),
        ("nothing", "no mail in this folder"),
        ("dangling.eml", "no such file or folder"),
    ]


def test_a_first_header_with_blanks_before_its_colon_is_a_message(tmp_path: Path) -> None:
    """`Subject : x` is RFC 5322's obsolete syntax, which real mail uses: still a message."""
    (tmp_path / "spaced.eml").write_bytes(b"Subject : Hello\r\nFrom : a@x.org\r\n\r\nHi.\r\n")
    (tmp_path / "tabbed.eml").write_bytes(b"From\t:a@x.org\nSubject: Hello\n\nHi.\n")
    # `From :` is a header, not the `From ` line that starts each message of an mbox.
    (tmp_path / "from.eml").write_bytes(b"From :a@x.org\r\nSubject: Hello\r\n\r\nHi.\r\n")
    names = ["from.eml", "spaced.eml", "tabbed.eml"]
    named = discover([tmp_path / name for name in names])
    walked = discover([tmp_path])
    for found in (named, walked):
        assert found.unreadable == []
        assert sorted((s.kind, s.path.name) for s in found.sources) == [
            (Kind.MESSAGE, name) for name in names
        ]
        read = {s.path.name: _found(next(messages(s))).raw for s in found.sources}
        assert read == {name: (tmp_path / name).read_bytes() for name in names}


def test_a_maildir_message_that_cannot_be_read_is_reported_and_the_rest_read(
    tmp_path: Path,
) -> None:
    box = mailbox.Maildir(str(tmp_path / "Mail"))
    box.add(message(message_id="<1@x>"))
    box.add(message(message_id="<2@x>"))
    # A message the mail client removed between the listing and the reading.
    (tmp_path / "Mail" / "cur" / "0000.gone:2,S").symlink_to(tmp_path / "nowhere")
    (source,) = discover([tmp_path / "Mail"]).sources
    read = list(messages(source))
    assert [type(item) for item in read] == [Unreadable, FoundMessage, FoundMessage]
    bad = read[0]
    assert isinstance(bad, Unreadable)
    assert bad.path == tmp_path / "Mail" and "0000.gone" in bad.reason
    assert count(source) == 3


def test_a_fifo_among_the_files_is_reported_not_waited_on(tmp_path: Path) -> None:
    """Opening a FIFO waits for a writer: a folder holding one must not hang the batch."""
    (tmp_path / "one.eml").write_bytes(message())
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    result: list[object] = []
    reader = threading.Thread(target=lambda: result.append(discover([tmp_path])), daemon=True)
    reader.start()
    reader.join(10)
    if reader.is_alive():  # let the reader go before failing
        with fifo.open("wb"):
            pass
        reader.join(10)
    assert not reader.is_alive() and len(result) == 1, "discover waited on the FIFO"
    found = result[0]
    assert isinstance(found, Discovery)
    assert [s.path.name for s in found.sources] == ["one.eml"]
    assert [(bad.path.name, bad.reason) for bad in found.unreadable] == [
        ("pipe", "not a regular file")
    ]


def _found(item: FoundMessage | Unreadable) -> FoundMessage:
    assert isinstance(item, FoundMessage), item
    return item


def test_files_that_are_not_mail_are_refused_and_real_mail_is_not(tmp_path: Path) -> None:
    """A file is mail when it starts with a mail header block: `/etc/passwd` (whose first line
    has a colon), JSON, YAML, a CSV of mail's field names and a PNG are not; every message of
    the corpora that has one, malformed or not, is."""
    passwd = b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n"
    not_mail = {
        "passwd": passwd,
        "passwd.mbox": b"From root\n" + passwd,  # an mbox's separator, then no header
        "pixel.png": bytes.fromhex("89504e470d0a1a0a0000000d49484452"),
        "data.json": b'{"From": "alice@acme.com", "Subject": "hi"}\n',
        "config.yaml": b"title: plans\nowner: alice\n\nbody\n",
        "contacts.csv": b"From,To,Subject\nalice@acme.com,bob@acme.com,hi\n",
        "indented.eml": b" Subject: continued from nowhere\n\nbody\n",
    }
    for name, data in not_mail.items():
        (tmp_path / name).write_bytes(data)
    found = discover([tmp_path / name for name in not_mail])
    assert found.sources == []
    assert {bad.path.name: bad.reason for bad in found.unreadable} == {
        name: "not an email message, mbox or Maildir" for name in not_mail
    }

    corpora = sorted(
        path
        for folder in ("cpython", "flanker", "mime4j", "spamscope")
        for path in (CORPORA / folder).rglob("*")
        if path.is_file()
    )
    found = discover(corpora)
    kept = {s.path.relative_to(CORPORA).as_posix() for s in found.sources}
    assert len(kept) > 150
    # Messages with their blank line missing or a broken field read as the parser reads them.
    for name in (
        "cpython/msg_35.txt",
        "mime4j/basic-plain-with-bad-header-separator.msg",
        "mime4j/malformedHeader-nocrlfcrlf.msg",
        "mime4j/obsolete.msg",
        "flanker/long-header.eml",
    ):
        assert name in kept, name
    refused = {bad.path.relative_to(CORPORA).as_posix() for bad in found.unreadable}
    # What is refused has no header block at its start: a mailing list digest's text, messages
    # that say they have none, a line of blanks first, an empty file, an Outlook file.
    assert refused == {
        "cpython/msg_19.txt",
        "mime4j/malformedHeader-noheader.msg",
        "mime4j/malformedHeaderStartsBody-noheader.msg",
        *(
            f"flanker/{name}.eml"
            for name in (
                "enclosed",
                "enclosed-bad-encoding",
                "enclosed-broken",
                "enclosed-broken-body",
                "enclosed-endless",
                "enclosed-global",
                "iphone",
                "mailgun-pic",
                "russian-attachment-yahoo",
            )
        ),
        "flanker/dkim/email.01",
        "spamscope/mail_outlook_1",
    }


def test_a_long_header_block_is_mail(tmp_path: Path) -> None:
    """Received chains and signatures can fill the bytes read before the blank line comes."""
    received = b"".join(
        b"Received: from relay%d.example.net by mx.example.com; Mon, 2 Mar 2026 09:30:00 +0000\r\n"
        % n
        for n in range(400)
    )
    (tmp_path / "long.eml").write_bytes(received + message())
    assert [s.kind for s in discover([tmp_path / "long.eml"]).sources] == [Kind.MESSAGE]
