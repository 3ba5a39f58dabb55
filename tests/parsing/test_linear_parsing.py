"""Parsing steps other than HTML that hostile input made superlinear, each through a public entry.

Each test was written against the code before its fix and failed there: by its work counted
where that can be done, else by a generous bound on the CPU time of a size that took seconds
(CPU time, not the wall clock: a busy CI machine deschedules the test, it does not slow the parse).
"""

from __future__ import annotations

import time

import pytest

from mailroom.parsing.forwards import blocks as forward_blocks
from mailroom.parsing.forwards.unwrap import ForwardKind, unwrap_forward
from mailroom.parsing.normalize import normalize


def test_a_long_boundary_does_not_cost_its_length_on_every_delimiter_line() -> None:
    # The nesting scan built `boundary + "--"` for every line starting with `--`: a 4 MB
    # boundary and 100,000 such lines took eight seconds (the 50 MB limit allows hours), and
    # the stdlib took three more to compile the boundary into a regular expression.
    boundary = b"b" * 4_000_000
    raw = (
        b"From: x@example.org\r\nContent-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n"
        b"boundary " * 40 + b"\r\n" + b"--x\r\n" * 100_000
    )
    start = time.process_time()
    envelope = normalize(raw)
    assert time.process_time() - start < 3
    assert envelope.from_[0].address == "x@example.org"
    assert "NoBoundaryInMultipartDefect" in envelope.defects  # past 1,000 characters


def _forward(body: str, subject: str = "Fwd: plan") -> bytes:
    return (
        "From: Alice <alice@acme.com>\r\nTo: acme@in.mailroom.test\r\n"
        f"Subject: {subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{body}"
    ).encode()


def test_from_lines_that_make_no_block_do_not_each_copy_the_body(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Every `From:` line in the scanned start of a body copied the rest of the body (to strip
    # quote markers) before the block was judged: 8,000 lines times a 25 MB body.
    calls: list[int] = []
    unquote = forward_blocks._unquote

    def counted(text: str, depth: int) -> str:
        calls.append(len(text))
        return unquote(text, depth)

    monkeypatch.setattr(forward_blocks, "_unquote", counted)
    unwrapped = unwrap_forward(_forward("From: a\n" * 5000 + "the rest\n" * 1000))
    assert unwrapped.kind is ForwardKind.UNRECOVERABLE
    assert len(calls) <= 1


@pytest.mark.parametrize(
    "value",
    [
        # Before the fix, a quarter of these sizes took 2.4 s and 0.9 s; now 20 ms and 5 ms.
        "a@" * 16384,  # `j@x.org<mailto:j@x.org>` links: 64 x 255 steps from each character
        "*" * 32768,  # `**Name**` bold names: a run of stars rescanned from each of its stars
    ],
    ids=["mailto links", "bold names"],
)
def test_forwarded_address_lines_are_read_in_linear_time(value: str) -> None:
    block = (
        "".join(f"{name}: {value}\n" for name in ("From", "To", "Cc", "Reply-To"))
        + "Date: Mon, 2 Mar 2026 10:15:00 +0100\nSubject: plan\n\nthe text\n"
    )
    raw = _forward("---------- Forwarded message ---------\n" + block)
    start = time.process_time()
    unwrap_forward(raw)
    assert time.process_time() - start < 2
