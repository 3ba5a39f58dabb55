"""Reading DATA within the message size limit and the bytes-in-flight bound."""

from __future__ import annotations

import asyncio

from mailroom.sources.smtp.data import Received, read_data
from mailroom.sources.smtp.inflight import InFlight
from mailroom.sources.smtp.replies import Reply


async def _read(wire: bytes, pool: InFlight, max_bytes: int = 10_000) -> tuple[Received, int]:
    """What `read_data` returns for `wire`, and what the pool held just before the claim ended."""
    reader = asyncio.StreamReader(limit=1001)
    reader.feed_data(wire)
    reader.feed_eof()
    with pool.claim() as claim:
        received = await read_data(reader, claim, max_bytes=max_bytes, max_line=1001)
        return received, pool.held


async def test_a_message_is_unstuffed_and_held_until_its_claim_ends() -> None:
    pool = InFlight(10_000)
    wire = b"Subject: x\r\n\r\n..leading dot\r\nlast\r\n.\r\nNOOP\r\n"
    received, held = await _read(wire, pool)
    assert received == Received(b"Subject: x\r\n\r\n.leading dot\r\nlast\r\n")
    assert held == len(wire) - len(b".\r\nNOOP\r\n")
    assert pool.held == 0


async def test_no_room_refuses_and_gives_the_bytes_back_at_once() -> None:
    pool = InFlight(100)
    with pool.claim() as holder:
        assert holder.take(60)
        received, held = await _read(b"a" * 30 + b"\r\n" + b"b" * 30 + b"\r\n.\r\n", pool)
        assert received == Received(b"", Reply.NO_ROOM)
        assert held == 60  # only the other message's
    assert pool.held == 0


async def test_too_big_and_too_long_lines_are_refused_after_the_dot() -> None:
    pool = InFlight(100_000)
    big, _ = await _read(b"x" * 998 + b"\r\n" + b"y" * 998 + b"\r\n.\r\n", pool, max_bytes=1500)
    assert big == Received(b"", Reply.TOO_BIG)
    # A line past the reader's limit ending in ".\r\n" is not the end of the message.
    long, _ = await _read(b"z" * 3000 + b".\r\nok\r\n.\r\n", pool)
    assert long == Received(b"", Reply.LINE_TOO_LONG)
    assert pool.held == 0
