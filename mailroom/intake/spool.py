"""An append-only spool on local disk: how the gateway makes bytes durable before it answers.

Committing to the database before every `250` made a sender wait for the one write the
database takes at a time (bench/smtp.py); an MTA writes its queue file instead. Records are
appended to the current segment file and `fdatasync`ed, many senders' records in one sync; the
pipeline later moves sealed segments into the database and deletes them. A record is framed with
its lengths and a CRC-32, so a write torn by a crash (never acknowledged, since the sync had not
returned) is recognised and ignored when the spool is read back at start.

Record: b"MRS1" | header length (u32) | raw length (u64) | crc32 of header and raw (u32) |
header (JSON: workspace, mailbox, source facts) | raw bytes.
"""

from __future__ import annotations

import json
import logging
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from uuid_utils.compat import uuid7

from mailroom.intake.port import Incoming, SourceFacts

log = logging.getLogger(__name__)

MAGIC = b"MRS1"
FRAME = struct.Struct(">4sIQI")
SUFFIX = ".spool"


@dataclass(frozen=True, slots=True)
class SpoolRecord:
    workspace_id: UUID
    mailbox_id: UUID
    incoming: Incoming

    def encode(self) -> bytes:
        header = json.dumps(
            {
                "workspace": str(self.workspace_id),
                "mailbox": str(self.mailbox_id),
                "facts": self.incoming.facts.to_json(),
            }
        ).encode()
        raw = self.incoming.raw
        crc = zlib.crc32(raw, zlib.crc32(header))
        return FRAME.pack(MAGIC, len(header), len(raw), crc) + header + raw

    @classmethod
    def decode(cls, header: bytes, raw: bytes) -> SpoolRecord:
        data: dict[str, Any] = json.loads(header)
        facts = SourceFacts.from_json(data["facts"])
        return cls(UUID(data["workspace"]), UUID(data["mailbox"]), Incoming(raw, facts))


class Spool:
    """Segments in one folder. Appending and sealing are for one writer (the pipeline); the
    blocking file calls are made by the caller, in a worker thread."""

    def __init__(self, folder: Path, segment_records: int = 1000) -> None:
        self.folder = folder
        self.segment_records = segment_records
        self.folder.mkdir(parents=True, exist_ok=True)
        self._current: Path | None = None
        self._fd: int | None = None
        self._records = 0

    def append(self, records: list[SpoolRecord]) -> None:
        """Write records and sync them to disk; when this returns they survive a crash."""
        data = b"".join(r.encode() for r in records)
        if self._fd is None:
            self._open_segment()
        assert self._fd is not None
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
        os.fdatasync(self._fd)
        self._records += len(records)
        if self._records >= self.segment_records:
            # Segments of bounded size can be moved on one at a time while mail keeps coming.
            self.seal()

    def seal(self) -> Path | None:
        """Close the current segment (if it has records) so it can be moved to the database;
        the next append starts a new one."""
        if self._fd is None or self._records == 0:
            return None
        os.close(self._fd)
        sealed, self._current, self._fd, self._records = self._current, None, None, 0
        return sealed

    def sealed(self) -> list[Path]:
        """Segments not being written, oldest first (UUIDv7 names sort by time)."""
        return sorted(p for p in self.folder.glob(f"*{SUFFIX}") if p != self._current)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd, self._current = None, None

    def _open_segment(self) -> None:
        self._current = self.folder / f"{uuid7()}{SUFFIX}"
        self._fd = os.open(self._current, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        # The new file's name must be on disk too, or a crash could lose the whole segment.
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self._records = 0


def read_segment(path: Path) -> Iterator[SpoolRecord]:
    """The complete records of a segment; a torn or corrupt tail ends it (and is logged)."""
    with path.open("rb") as file:
        while True:
            frame = file.read(FRAME.size)
            if not frame:
                return
            if len(frame) < FRAME.size:
                log.warning("spool %s ends in a torn record; ignored", path.name)
                return
            magic, header_length, raw_length, crc = FRAME.unpack(frame)
            header, raw = file.read(header_length), file.read(raw_length)
            intact = (
                magic == MAGIC
                and len(header) == header_length
                and len(raw) == raw_length
                and zlib.crc32(raw, zlib.crc32(header)) == crc
            )
            if not intact:
                log.warning("spool %s has a torn or corrupt record; the rest is ignored", path.name)
                return
            yield SpoolRecord.decode(header, raw)
