"""Messages from files: mbox files, Maildir folders and single messages (.eml), found in the
paths given and, for folders, in everything beneath them.

Maildir is read with the standard library's `mailbox`. An mbox is streamed here instead: the
library first indexes the whole file with a `tell()` per line, which took longer than parsing
the messages of a large mbox (bench/ingest.py), and this reads each message once, in order, with
only that message in memory. Messages are split exactly as the library splits them.

Nothing here raises for a bad input: a path that holds no mail, a file that cannot be read, a
Maildir message that vanished are each an `Unreadable`, found beside the mail, so that a batch
reports them and goes on with the rest.

A file is a message, or an mbox, when it starts with a mail header block (after an mbox's
`From ` line): lines of `Name: value`, at least one of them a field that mail has and other
`Name: value` text does not (From, Date, Subject, Received, ...). `/etc/passwd`, a log or
a YAML file is not mail, and stored as a message it would head every list sorted by date.
"""

from __future__ import annotations

import mailbox
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

# A line that starts a header field ("Received: ...", "From: ..."): a name of printable
# characters but the colon, blanks before the colon allowed ("Subject : ...", RFC 5322's
# obsolete syntax, which real mail has).
_FIELD = re.compile(rb"([\x21-\x39\x3b-\x7e]+)[ \t]*:")
# Fields that say a header block is mail's: one of them is enough.
_MAIL_FIELDS = frozenset(
    b"""
    from sender reply-to to cc bcc date subject message-id in-reply-to references received
    return-path delivered-to mime-version content-type
    """.split()
)
# How much of a file is read to tell what it is: header blocks of real mail (Received chains,
# DKIM and ARC signatures) run to several kilobytes.
_SNIFF_BYTES = 16 * 1024
_OLE_MAGIC = bytes.fromhex("d0cf11e0a1b11ae1")


class Kind(StrEnum):
    MBOX = "mbox"
    MAILDIR = "maildir"
    MESSAGE = "message"


@dataclass(frozen=True, slots=True)
class Source:
    kind: Kind
    path: Path


@dataclass(frozen=True, slots=True)
class FoundMessage:
    raw: bytes
    provider_id: str  # where in the source: "file", "file:index" or "folder/key"
    folder: str | None


@dataclass(frozen=True, slots=True)
class Unreadable:
    """An input, or a message in one, that gave no mail, and why."""

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(slots=True)
class Discovery:
    sources: list[Source]
    unreadable: list[Unreadable]  # paths given or found that are not mail


def discover(paths: Iterable[Path]) -> Discovery:
    """Find the mail in `paths` and everything beneath them; what is not mail is reported in
    `unreadable`, including a folder given that holds none."""
    found = Discovery([], [])
    for path in paths:
        if path.is_dir():
            before = len(found.sources), len(found.unreadable)
            _walk(path, found)
            if (len(found.sources), len(found.unreadable)) == before:
                found.unreadable.append(Unreadable(path, "no mail in this folder"))
        elif not path.exists():
            found.unreadable.append(Unreadable(path, "no such file or folder"))
        else:
            _add_file(path, found)
    return found


def _add_file(path: Path, found: Discovery) -> None:
    kind, reason = _sniff(path)
    if kind is None:
        found.unreadable.append(Unreadable(path, reason))
    else:
        found.sources.append(Source(kind, path))


def _walk(folder: Path, found: Discovery) -> None:
    if _is_maildir(folder):
        found.sources.append(Source(Kind.MAILDIR, folder))

    def unlisted(error: OSError) -> None:
        where = Path(error.filename) if error.filename else folder
        found.unreadable.append(Unreadable(where, _cannot("list", error)))

    for root, dirs, files in os.walk(folder, onerror=unlisted):
        here = Path(root)
        dirs.sort()
        # A Maildir's own cur/new/tmp are read through the Maildir; its subfolders (Maildir++
        # ".Sent" and the like) are Maildirs of their own.
        for name in dirs:
            if _is_maildir(here / name):
                found.sources.append(Source(Kind.MAILDIR, here / name))
        if _is_maildir(here):
            # Its messages are read through the Maildir; the files beside them are the mail
            # client's bookkeeping.
            dirs[:] = [d for d in dirs if d not in ("cur", "new", "tmp")]
            continue
        for name in sorted(files):
            if not name.startswith("."):
                _add_file(here / name, found)


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _sniff(path: Path) -> tuple[Kind | None, str]:
    # Opening a FIFO waits for a writer, and a device may never end.
    if not path.is_file():
        return None, "not a regular file"
    try:
        with path.open("rb") as file:
            head = file.read(_SNIFF_BYTES)
    except OSError as error:
        return None, _cannot("read", error)
    text = head.lstrip(b"\r\n")
    # First: `From :a@x.org` is a header, where an mbox's `From ` line has no colon after it.
    if _FIELD.match(text):
        if _mail_header_block(text):
            return Kind.MESSAGE, ""
    elif head.startswith(b"From "):
        if _mail_header_block(head.partition(b"\n")[2]):
            return Kind.MBOX, ""
    elif head.startswith(_OLE_MAGIC):
        return None, "an Outlook .msg file (export it as .eml or mbox)"
    if not head:
        return None, "empty file"
    return None, "not an email message, mbox or Maildir"


def _mail_header_block(text: bytes) -> bool:
    """Whether `text` (the start of a file) is a mail header block: `Name: value` lines and
    their continuations, one of them a field of `_MAIL_FIELDS`. The block ends at a blank line,
    at the end of `text`, or (as the standard library's parser reads mail whose blank line is
    missing) at the first line that is not a field, so long as one came before."""
    mail = False
    for index, line in enumerate(text.splitlines()):
        if not line:
            break
        if line[:1] in (b" ", b"\t"):
            if index == 0:
                return False
            continue
        field = _FIELD.match(line)
        if field is None:
            break
        mail = mail or field.group(1).lower() in _MAIL_FIELDS
    return mail


def count(source: Source) -> int:
    """How many messages a source holds (for an mbox, one quick pass over the file); what
    cannot be read is not counted, and is reported when the messages are read."""
    if source.kind is Kind.MESSAGE:
        return 1
    if source.kind is Kind.MBOX:
        return _count_mbox(source.path)
    try:
        return len(_maildir(source.path))
    except (OSError, mailbox.Error):
        return 0


def messages(source: Source) -> Iterator[FoundMessage | Unreadable]:
    """The messages of a source, in file order, and what of it could not be read."""
    if source.kind is Kind.MESSAGE:
        yield _single(source.path)
    elif source.kind is Kind.MBOX:
        yield from _mbox(source.path)
    else:
        yield from _maildir_messages(source.path)


def _single(path: Path) -> FoundMessage | Unreadable:
    try:
        return FoundMessage(path.read_bytes(), path.name, None)
    except OSError as error:
        return Unreadable(path, _cannot("read", error))


def _mbox(path: Path) -> Iterator[FoundMessage | Unreadable]:
    done = 0
    try:
        for raw in _mbox_messages(path):
            yield FoundMessage(raw, f"{path.name}:{done}", None)
            done += 1
    except OSError as error:
        yield Unreadable(path, f"{_cannot('read', error)} (after {done} messages)")


def _mbox_messages(path: Path) -> Iterator[bytes]:
    """Each message of an mbox: the lines after a `From ` line up to the next one, less the
    blank line that separates them (as `mailbox.mbox` reads them)."""
    lines: list[bytes] | None = None
    with path.open("rb") as file:
        for line in file:
            if line.startswith(b"From "):
                if lines is not None:
                    yield _message_bytes(lines)
                lines = []
            elif lines is not None:
                lines.append(line)
    if lines is not None:
        yield _message_bytes(lines)


def _message_bytes(lines: list[bytes]) -> bytes:
    if lines and lines[-1] == b"\n":
        lines.pop()
    return b"".join(lines)


def _count_mbox(path: Path) -> int:
    found, tail = 0, b"\n"  # the file's start counts as a line start
    try:
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                found += (tail + chunk).count(b"\nFrom ")
                tail = chunk[-5:]
    except OSError:
        pass  # reported when the messages are read
    return found


def _maildir(path: Path) -> mailbox.Maildir:
    return mailbox.Maildir(str(path), factory=None, create=False)


def _maildir_messages(path: Path) -> Iterator[FoundMessage | Unreadable]:
    try:
        box = _maildir(path)
        keys = sorted(box.iterkeys())
    except (OSError, mailbox.Error) as error:
        yield Unreadable(path, _cannot("open", error))
        return
    for key in keys:
        try:
            raw = box.get_bytes(key)
        except (OSError, KeyError) as error:  # KeyError: removed since it was listed
            yield Unreadable(path, _cannot(f"read message {key}", error))
            continue
        yield FoundMessage(raw, f"{path.name}/{key}", path.name)


def _cannot(doing: str, error: Exception) -> str:
    detail = error.strerror if isinstance(error, OSError) and error.strerror else error
    return f"cannot {doing}: {detail}"
