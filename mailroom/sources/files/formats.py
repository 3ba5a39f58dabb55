"""Messages from files: mbox files, Maildir folders and single messages (.eml), found in the
paths given and, for folders, in everything beneath them.

Maildir is read with the standard library's `mailbox`. An mbox is streamed here instead: the
library first indexes the whole file with a `tell()` per line, which took longer than parsing
the messages of a large mbox (bench/ingest.py), and this reads each message once, in order, with
only that message in memory. Messages are split exactly as the library splits them.
"""

from __future__ import annotations

import mailbox
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from mailroom.errors import InvalidInputError

# A first line that starts a header field ("Received: ...", "From: ...").
_HEADER_LINE = re.compile(rb"^[\x21-\x39\x3b-\x7e]+:")
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


@dataclass(slots=True)
class Discovery:
    sources: list[Source]
    skipped: list[tuple[Path, str]]  # files that are not mail, with the reason


def discover(paths: Iterable[Path]) -> Discovery:
    """Find the mail in `paths`. A path that does not exist is an error; files beneath a folder
    that are not mail are skipped and reported."""
    found = Discovery([], [])
    for path in paths:
        if not path.exists():
            raise InvalidInputError(f"{path}: no such file or folder")
        if path.is_dir():
            _walk(path, found)
        else:
            kind, reason = _sniff(path)
            if kind is None:
                raise InvalidInputError(f"{path}: {reason}")
            found.sources.append(Source(kind, path))
    return found


def _walk(folder: Path, found: Discovery) -> None:
    if _is_maildir(folder):
        found.sources.append(Source(Kind.MAILDIR, folder))
    for root, dirs, files in os.walk(folder):
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
            if name.startswith("."):
                continue
            kind, reason = _sniff(here / name)
            if kind is None:
                found.skipped.append((here / name, reason))
            else:
                found.sources.append(Source(kind, here / name))


def _is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def _sniff(path: Path) -> tuple[Kind | None, str]:
    try:
        with path.open("rb") as file:
            head = file.read(1024)
    except OSError as error:
        raise InvalidInputError(f"{path}: cannot read: {error.strerror}") from error
    if head.startswith(b"From "):
        return Kind.MBOX, ""
    if head.startswith(_OLE_MAGIC):
        return None, "an Outlook .msg file (export it as .eml or mbox)"
    if _HEADER_LINE.match(head.lstrip(b"\r\n")):
        return Kind.MESSAGE, ""
    if not head:
        return None, "empty file"
    return None, "not an email message, mbox or Maildir"


def count(source: Source) -> int:
    """How many messages a source holds (for an mbox, one quick pass over the file)."""
    if source.kind is Kind.MESSAGE:
        return 1
    if source.kind is Kind.MBOX:
        return _count_mbox(source.path)
    return len(_maildir(source.path))


def messages(source: Source) -> Iterator[FoundMessage]:
    """The messages of a source, in file order."""
    if source.kind is Kind.MESSAGE:
        yield FoundMessage(_read(source.path), source.path.name, None)
    elif source.kind is Kind.MBOX:
        for index, raw in enumerate(_mbox_messages(source.path)):
            yield FoundMessage(raw, f"{source.path.name}:{index}", None)
    else:
        yield from _maildir_messages(source.path)


def _mbox_messages(path: Path) -> Iterator[bytes]:
    """Each message of an mbox: the lines after a `From ` line up to the next one, less the
    blank line that separates them (as `mailbox.mbox` reads them)."""
    lines: list[bytes] | None = None
    try:
        with path.open("rb") as file:
            for line in file:
                if line.startswith(b"From "):
                    if lines is not None:
                        yield _message_bytes(lines)
                    lines = []
                elif lines is not None:
                    lines.append(line)
    except OSError as error:
        raise InvalidInputError(f"{path}: cannot read: {error.strerror}") from error
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
    except OSError as error:
        raise InvalidInputError(f"{path}: cannot read: {error.strerror}") from error
    return found


def _maildir(path: Path) -> mailbox.Maildir:
    try:
        return mailbox.Maildir(str(path), factory=None, create=False)
    except (OSError, mailbox.Error) as error:
        raise InvalidInputError(f"{path}: cannot open: {error}") from error


def _maildir_messages(path: Path) -> Iterator[FoundMessage]:
    box = _maildir(path)
    for key in sorted(box.iterkeys()):
        try:
            raw = box.get_bytes(key)
        except (OSError, KeyError) as error:
            raise InvalidInputError(f"{path}: cannot read message {key}: {error}") from error
        yield FoundMessage(raw, f"{path.name}/{key}", path.name)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise InvalidInputError(f"{path}: cannot read: {error.strerror}") from error
