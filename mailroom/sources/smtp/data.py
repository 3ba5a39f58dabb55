"""Reading a message's DATA, in place of aiosmtpd's loop: each line is counted against the
message size limit and taken from the bytes-in-flight bound (inflight.py) as it arrives, and
kept in one buffer (aiosmtpd kept an object per line, which cost more than the bytes when lines
are short). Past a limit the rest is read and dropped, and the refusal is given after the final
dot, as RFC 5321 (4.2.5) has it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from mailroom.sources.smtp.inflight import Claim
from mailroom.sources.smtp.replies import Reply

END = b".\r\n"


@dataclass(frozen=True, slots=True)
class Received:
    content: bytes  # dot-unstuffed, CRLF line ends; empty if refused
    refusal: Reply | None = None
    size: int = field(default=0, compare=False)  # bytes the client sent, refused or not


async def read_data(
    reader: asyncio.StreamReader, claim: Claim, *, max_bytes: int, max_line: int
) -> Received:
    """Up to and without the final dot. The claim holds what is kept; if the message is
    refused the claim is released at once, not when the client finally ends it."""
    body = bytearray()
    size = 0
    refusal: Reply | None = None
    inside_line = False  # the reader gave up part of a line longer than its limit
    while True:
        try:
            line = await reader.readuntil(b"\r\n")
        except asyncio.LimitOverrunError as overrun:
            line = await reader.read(overrun.consumed)
            inside_line, refusal = True, refusal or Reply.LINE_TOO_LONG
        else:
            if line == END and not inside_line:
                break
            inside_line = False
        size += len(line)
        if refusal is None:
            refusal = _refusal(line, size, claim, max_bytes, max_line)
        if refusal is not None:
            if claim.size:
                body = bytearray()
                claim.release()
            continue
        body += line[1:] if line.startswith(b".") else line
    return Received(b"" if refusal else bytes(body), refusal, size)


def _refusal(line: bytes, size: int, claim: Claim, max_bytes: int, max_line: int) -> Reply | None:
    if size > max_bytes:
        return Reply.TOO_BIG
    if len(line) > max_line:
        return Reply.LINE_TOO_LONG
    if not claim.take(len(line)):
        return Reply.NO_ROOM
    return None
