"""The spool: what was appended and synced is read back; a torn tail is not."""

from __future__ import annotations

import uuid
from pathlib import Path

from mailroom.intake.port import Incoming, SourceFacts
from mailroom.intake.spool import Spool, SpoolRecord, read_segment


def _record(n: int) -> SpoolRecord:
    facts = SourceFacts(provider_id=f"q{n}", labels=("from-member",), unwrap=True)
    return SpoolRecord(uuid.uuid4(), uuid.uuid4(), Incoming(b"Subject: %d\r\n\r\nbody" % n, facts))


def test_records_come_back_as_written(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    written = [_record(n) for n in range(5)]
    spool.append(written[:2])
    spool.append(written[2:])
    segment = spool.seal()
    assert segment is not None and spool.sealed() == [segment]
    assert list(read_segment(segment)) == written


def test_segments_are_sealed_by_size_and_read_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path, segment_records=3)
    records = [_record(n) for n in range(7)]
    for record in records:
        spool.append([record])
    spool.seal()
    sealed = spool.sealed()
    assert len(sealed) == 3
    assert [r for s in sealed for r in read_segment(s)] == records


def test_a_torn_tail_is_ignored(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([_record(1), _record(2)])
    segment = spool.seal()
    assert segment is not None
    whole = segment.read_bytes()
    one = len(_record(1).encode())
    for cut in (one + 3, one + 30, len(whole) - 1):
        segment.write_bytes(whole[:cut])
        assert [r.incoming.facts.provider_id for r in read_segment(segment)] == ["q1"]


def test_a_corrupt_record_ends_the_segment(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.append([_record(1), _record(2), _record(3)])
    segment = spool.seal()
    assert segment is not None
    data = bytearray(segment.read_bytes())
    data[len(_record(1).encode()) + 40] ^= 0xFF  # inside the second record
    segment.write_bytes(bytes(data))
    assert [r.incoming.facts.provider_id for r in read_segment(segment)] == ["q1"]


def test_an_empty_spool_seals_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    assert spool.seal() is None and spool.sealed() == []
