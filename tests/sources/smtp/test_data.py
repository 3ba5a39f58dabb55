"""Reading DATA within the message size limit and the bytes-in-flight bound."""

from __future__ import annotations

import asyncio
import time

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

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


# What follows the final dot: a pipelining client may send its next command at once, and it
# must be left for the command loop.
AFTER = b"NOOP\r\n"
# Bytes that make the end of DATA hard to find: dots, CRs and LFs alone and together.
TOKENS = st.sampled_from([b".", b"\r", b"\n", b"\r\n", b"a", b"\r\n.", b"..", b"ab.\r\n"])


def _spec(wire: bytes) -> tuple[bytes, bytes, bytes]:
    """RFC 5321 (4.1.1.4, 4.5.2), line by line: what the client sent before the first line
    holding only a dot (as sent, and unstuffed), and the bytes after that line."""
    lines = wire.split(b"\r\n")
    end = lines.index(b".", 0, len(lines) - 1)  # a dot followed by CRLF
    sent = b"".join(line + b"\r\n" for line in lines[:end])
    content = b"".join((line[1:] if line[:1] == b"." else line) + b"\r\n" for line in lines[:end])
    return sent, content, b"\r\n".join(lines[end + 1 :])


async def _read_in_pieces(
    wire: bytes, cuts: list[int], limit: int, max_line: int = 10**9
) -> tuple[Received, bytes]:
    """`read_data` over `wire` arriving in pieces cut at `cuts`, through a reader of `limit`;
    and what it left unread."""
    reader = asyncio.StreamReader(limit=limit)
    pool = InFlight(10**9)

    async def feed() -> None:
        start = 0
        for cut in [*sorted(set(cuts)), len(wire)]:
            reader.feed_data(wire[start:cut])
            start = max(start, cut)
            await asyncio.sleep(0)
        reader.feed_eof()

    feeding = asyncio.create_task(feed())
    with pool.claim() as claim:
        received = await read_data(reader, claim, max_bytes=10**9, max_line=max_line)
    await feeding
    return received, await reader.read()


@settings(max_examples=400, deadline=None, database=None)
@given(
    body=st.lists(TOKENS, max_size=40).map(b"".join),
    cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=6),
    limit=st.sampled_from([8, 16, 64, 64 * 1024]),
)
async def test_the_end_of_data_is_the_first_line_holding_only_a_dot(
    body: bytes, cuts: list[int], limit: int
) -> None:
    wire = body + b"\r\n.\r\n" + AFTER
    sent, content, rest = _spec(wire)
    received, unread = await _read_in_pieces(wire, cuts, limit)
    assert received == Received(content)
    assert received.size == len(sent)
    assert unread == rest  # nothing past the final dot was taken


@settings(max_examples=200, deadline=None, database=None)
@given(
    body=st.lists(st.sampled_from([b"a" * 7, b"\r\n", b"\n", b".", b"b"]), max_size=40).map(
        b"".join
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=300), max_size=6),
    limit=st.sampled_from([8, 64, 64 * 1024]),
    max_line=st.integers(min_value=2, max_value=40),
)
@example(body=b"a" * 40, cuts=[10, 20, 30], limit=8, max_line=35)  # a line in pieces
async def test_a_line_longer_than_the_limit_refuses_the_message_after_its_end(
    body: bytes, cuts: list[int], limit: int, max_line: int
) -> None:
    wire = body + b"\r\n.\r\n" + AFTER
    sent, content, rest = _spec(wire)
    longest = max(len(line) + 1 for line in sent.split(b"\n"))
    received, unread = await _read_in_pieces(wire, cuts, limit, max_line)
    if longest > max_line:
        assert received == Received(b"", Reply.LINE_TOO_LONG)
    else:
        assert received == Received(content)
    assert unread == rest


async def test_a_message_of_no_lines_and_one_of_an_empty_line() -> None:
    assert await _read_in_pieces(b".\r\n" + AFTER, [], 64) == (Received(b""), AFTER)
    assert await _read_in_pieces(b"\r\n.\r\n" + AFTER, [1, 2], 64) == (Received(b"\r\n"), AFTER)


@pytest.mark.parametrize(
    "line",
    [b"a\n.\r\n", b"\r\n", b".\r\r\n", b"x" * 998 + b"\r\n"],
    ids=["bare LF before a dot line", "empty lines", "dot and CR lines", "longest lines"],
)
async def test_hostile_lines_cost_time_linear_in_their_size(line: bytes) -> None:
    # 5 MB of each: the first makes the most pieces (two a line: each of its dot lines looks
    # like the end until the byte before it is read), about 2 s; the line-by-line loop before
    # took 1.4 s for it and up to 3 s for the others, which now take tens of milliseconds.
    wire = line * (5_000_000 // len(line)) + b".\r\n" + AFTER
    started = time.process_time()
    received, unread = await _read_in_pieces(wire, [], 64 * 1024, max_line=1001)
    assert time.process_time() - started < 20
    assert (received, unread) == (Received(_spec(wire)[1]), AFTER)
