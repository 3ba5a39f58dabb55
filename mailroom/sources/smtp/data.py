"""Reading a message's DATA, in place of aiosmtpd's loop: the message is read in a few large
pieces, each counted against the message size limit and the line length limit and taken from
the bytes-in-flight bound (inflight.py) as it arrives, and kept in one buffer. Past a limit the
rest is read and dropped, and the refusal is given after the final dot, as RFC 5321 (4.2.5)
has it.

Why by hand: aiosmtpd, like the line-by-line loop this replaced, awaits one `readuntil` per
line, which was the largest share of the receiver's time on the event loop (bench/smtp.py).
The end of DATA is CRLF "." CRLF, and asyncio's `readuntil` finds a sequence in C, but only in
bytes not read yet: so a piece never ends with the CRLF before a line that could be the final
dot. Where it would (at the start, and after a line that ends like the final dot but follows a
bare LF), the next piece is read only up to its first CR, and a final dot there is seen whole.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from mailroom.sources.smtp.inflight import Claim
from mailroom.sources.smtp.replies import Reply

# The end of DATA from its second byte: the CR before it was read with the bytes before.
END = b"\n.\r\n"


@dataclass(frozen=True, slots=True)
class Received:
    content: bytes  # dot-unstuffed, CRLF line ends; empty if refused
    refusal: Reply | None = None
    size: int = field(default=0, compare=False)  # bytes the client sent, refused or not


async def read_data(
    reader: asyncio.StreamReader, claim: Claim, *, max_bytes: int, max_line: int
) -> Received:
    """Up to and without the final dot. The claim holds what is kept; if the message is
    refused the claim is released at once, not when the client finally ends it. A piece is
    at most what the reader buffers (its limit, twice that before it pauses the transport)."""
    sent = bytearray()  # as the client sent it: dot-stuffed
    size = line = 0  # bytes read; length of the line not yet ended
    refusal: Reply | None = None
    last = b"\n"  # the last byte read (the DATA command's line break)
    line_start = True  # what was read ends with CRLF: the final dot may be next
    while True:
        if line_start:
            piece = await _read_until(reader, b"\r")
            if piece == b".\r":
                following = await reader.readexactly(1)
                if following == b"\n":
                    break
                piece += following
            ended = False
        else:
            piece = await _read_until(reader, END)
            ended = piece.endswith(END) and (piece[-5:-4] or last) == b"\r"
            if ended:
                piece = piece[:-3]  # keeps the CRLF that ends the last line
        size += len(piece)
        if refusal is None:
            too_long, line = _lines(piece, line, max_line)
            refusal = _refusal(size, too_long, len(piece), claim, max_bytes)
            if refusal is not None:
                sent = bytearray()
                claim.release()
            else:
                sent += piece
        if ended:
            break
        line_start = piece.endswith(b"\r\n")  # (a piece is never the LF of a CRLF alone)
        last = piece[-1:]
    return Received(b"" if refusal else _unstuffed(bytes(sent)), refusal, size)


async def _read_until(reader: asyncio.StreamReader, separator: bytes) -> bytes:
    """Up to and with `separator`, or, where the reader's limit comes first, the bytes before
    the limit that cannot be part of the separator."""
    try:
        return await reader.readuntil(separator)
    except asyncio.LimitOverrunError as overrun:
        return await reader.readexactly(overrun.consumed)


def _lines(piece: bytes, line: int, max_line: int) -> tuple[bool, int]:
    """Whether a line `piece` holds or ends is longer than `max_line` with its line break,
    given `line` bytes of the line it continues; and the length of the line it leaves unended.
    Lines are counted between LFs: a bare LF, which SMTP does not allow, ends a line here too.
    Each step finds the last LF within reach of where a line starts: a few searches a piece,
    not one a line."""
    start, room = 0, max_line - 1 - line  # what the line at `start` may hold before its LF
    while len(piece) - start > room:
        newline = piece.rfind(b"\n", start, start + room + 1)
        if newline < 0:
            return True, 0
        start, room = newline + 1, max_line - 1
    last = piece.rfind(b"\n")
    return False, len(piece) - last - 1 if last >= 0 else line + len(piece)


def _refusal(size: int, too_long: bool, length: int, claim: Claim, max_bytes: int) -> Reply | None:
    if size > max_bytes:
        return Reply.TOO_BIG
    if too_long:
        return Reply.LINE_TOO_LONG
    if not claim.take(length):
        return Reply.NO_ROOM
    return None


def _unstuffed(sent: bytes) -> bytes:
    """Without the dot a client puts before a line that starts with one (RFC 5321, 4.5.2)."""
    content = sent.replace(b"\r\n.", b"\r\n")
    return content[1:] if content.startswith(b".") else content
