"""Filling and changing a test user's mailboxes on the test Dovecot as another mail client
would, over IMAP with imapclient, or as a local delivery agent would, by writing message files
into the Maildir.
"""

from __future__ import annotations

import imaplib
import itertools
import os
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from tests.sources.imap.services import mail_owner

HOST = "127.0.0.1"
# Messages per MULTIAPPEND command: larger batches gain little and hold more in memory.
APPEND_BATCH = 500
APPENDUID = re.compile(rb"\[APPENDUID (\d+) ([0-9:,]+)\]")
# Maildir's info letters for the system flags (https://cr.yp.to/proto/maildir.html), which
# Dovecot maps to IMAP flags; keywords would need Dovecot's dovecot-keywords file.
MAILDIR_FLAGS = {
    "\\Draft": "D",
    "\\Flagged": "F",
    "\\Answered": "R",
    "\\Seen": "S",
    "\\Deleted": "T",
}
# Numbers the Maildir files this process writes, in order (see deliver_maildir).
_file_numbers = itertools.count()


@contextmanager
def connect(port: int, user: str, password: str, timeout: float = 30.0) -> Iterator[IMAPClient]:
    """A logged-in plain IMAP connection with CONDSTORE enabled, logged out afterwards.
    IMAPClient's default is ssl=True: the plain port answers such a client with
    WRONG_VERSION_NUMBER."""
    client = IMAPClient(HOST, port, ssl=False, timeout=timeout)
    try:
        client.login(user, password)
        # Dovecot keeps per-message MODSEQs and the expunges QRESYNC reports as VANISHED only
        # in mailboxes that a CONDSTORE client has opened; until then every message has the
        # same MODSEQ and expunges leave no trace. Enabled here, the mailboxes these helpers
        # fill and change track them from the first message on, as Gmail's or Cyrus's do.
        client.enable("CONDSTORE")
        yield client
    finally:
        try:
            client.logout()
        except (OSError, imaplib.IMAP4.error):
            # A connection the test cut, or the server closed: nothing to log out of.
            client.shutdown()


def append_messages(
    port: int,
    user: str,
    password: str,
    folder: str,
    messages: Iterable[bytes],
    flags: Sequence[str | bytes] = (),
    dates: Iterable[datetime] | None = None,
) -> list[int]:
    """Append the messages to `folder` with MULTIAPPEND, APPEND_BATCH at a time, each with
    `flags` and its date in `dates` (the INTERNALDATE; the server's clock if None), and
    return their UIDs in the order of `messages`."""
    dated: Iterable[tuple[bytes, datetime | None]] = (
        zip(messages, dates, strict=True) if dates is not None else ((m, None) for m in messages)
    )
    uids: list[int] = []
    with connect(port, user, password) as client:
        for batch in _batched(dated):
            items = [_append_item(message, flags, date) for message, date in batch]
            # A refused MULTIAPPEND stores none of its messages (RFC 3502), and imapclient
            # returns the refusal rather than raising it.
            result, data = client.multiappend(folder, items)
            if result != "OK":
                raise IMAPClientError(f"APPEND to {folder!r} refused: {data[-1]!r}")
            uids += _appended_uids(data[-1], len(items))
    return uids


def delete_messages(port: int, user: str, password: str, folder: str, uids: Iterable[int]) -> None:
    """Flag the messages \\Deleted and expunge them, and only them (UID EXPUNGE)."""
    uids = list(uids)
    with connect(port, user, password) as client:
        client.select_folder(folder)
        client.add_flags(uids, [b"\\Deleted"], silent=True)
        client.uid_expunge(uids)


def create_folder(port: int, user: str, password: str, folder: str) -> None:
    with connect(port, user, password) as client:
        client.create_folder(folder)
        client.subscribe_folder(folder)


def recreate_folder(port: int, user: str, password: str, folder: str) -> int:
    """DELETE and CREATE `folder`, emptying it, and return its new UIDVALIDITY (Dovecot gives
    a recreated folder a new one, so a client must resync it from scratch)."""
    if folder.upper() == "INBOX":
        raise ValueError("INBOX cannot be deleted")
    with connect(port, user, password) as client:
        client.delete_folder(folder)
        client.create_folder(folder)
        client.subscribe_folder(folder)
        return int(client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"])


def deliver_maildir(
    maildir: Path,
    folder: str,
    messages: Iterable[bytes],
    flags: Iterable[str] = (),
    dates: Iterable[datetime] | None = None,
) -> list[Path]:
    """Write the messages straight into `folder` of `maildir` (what add_user returned), as a
    local delivery agent would, and return the files. Dovecot gives them UIDs, in this order,
    when it next looks at the folder: when a client opens it, or at once for a client idling
    in it, which hears of them as of any new mail. About as fast as append_messages: 20,000
    messages in a second or two."""
    info = "2," + "".join(sorted(MAILDIR_FLAGS[flag] for flag in set(flags)))
    directory = _folder_directory(maildir, folder)
    uid, gid = mail_owner()
    dated: Iterable[tuple[bytes, datetime | None]] = (
        zip(messages, dates, strict=True) if dates is not None else ((m, None) for m in messages)
    )
    # Dovecot numbers new files in the order of the time their names start with, seconds then
    # the M field's microseconds: a number counting up there keeps the order of `messages`,
    # also across calls in the same second.
    seconds = int(time.time())
    paths = []
    for message, date in dated:
        number = next(_file_numbers)
        name = f"{seconds}.M{number}P{os.getpid()}.mailroom,S={len(message)}:{info}"
        # Written in tmp/ and renamed into cur/, so that Dovecot never sees half a file.
        temporary = directory / "tmp" / name
        temporary.write_bytes(message)
        os.chown(temporary, uid, gid)
        if date is not None:
            os.utime(temporary, (date.timestamp(), date.timestamp()))
        path = directory / "cur" / name
        temporary.rename(path)
        paths.append(path)
    return paths


def _folder_directory(maildir: Path, folder: str) -> Path:
    """The folder's directory in Dovecot's default Maildir++ layout (`.Parent.Child`),
    created if missing."""
    if folder.upper() == "INBOX":
        return maildir
    if not folder.isascii() or "." in folder or folder.startswith("/"):
        raise ValueError(f"deliver_maildir takes ASCII folder names without dots: {folder!r}")
    directory = maildir / ("." + folder.replace("/", "."))
    uid, gid = mail_owner()
    for path in (directory, directory / "cur", directory / "new", directory / "tmp"):
        if not path.exists():
            path.mkdir(mode=0o700)
            os.chown(path, uid, gid)
    return directory


def _batched(
    items: Iterable[tuple[bytes, datetime | None]],
) -> Iterator[list[tuple[bytes, datetime | None]]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, APPEND_BATCH)):
        yield batch


def _append_item(
    message: bytes, flags: Sequence[str | bytes], date: datetime | None
) -> dict[str, object]:
    item: dict[str, object] = {"msg": message, "flags": list(flags)}
    if date is not None:
        item["date"] = date
    return item


def _appended_uids(response: bytes, count: int) -> list[int]:
    """The UIDs in the tagged OK's `[APPENDUID validity set]` (RFC 4315), in append order."""
    match = APPENDUID.search(response)
    if match is None:
        raise AssertionError(f"no APPENDUID in the APPEND response: {response!r}")
    uids = list(_uid_set(match.group(2).decode("ascii")))
    if len(uids) != count:
        raise AssertionError(
            f"{count} messages appended, APPENDUID names {len(uids)}: {response!r}"
        )
    return uids


def _uid_set(text: str) -> Iterator[int]:
    """The UIDs of an IMAP sequence set such as `4,7:9`, in the order given."""
    for part in text.split(","):
        first, _, last = part.partition(":")
        start, stop = int(first), int(last or first)
        step = 1 if stop >= start else -1
        yield from range(start, stop + step, step)
