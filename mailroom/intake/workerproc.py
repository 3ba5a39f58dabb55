"""What a normalize worker process runs: messages in over a pipe, one reading out per message.

A worker must not outlive the process that started it (lifeline.py); the pool starts its
workers from the thread it lives on, which the kernel ties them to.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection

from mailroom.lifeline import die_with_parent
from mailroom.parsing.normalize import Limits
from mailroom.parsing.reader import Reading, read_header_block, read_message

Job = tuple[bytes, datetime, bool]  # raw bytes, arrival, unwrap a forward
READY = "ready"  # what a worker sends once it can take requests


@dataclass(frozen=True, slots=True)
class Request:
    """Messages for one worker. With `header_block` set, each is read from its header block
    alone, that sentence being its defect: the reading of last resort."""

    jobs: Sequence[Job]
    limits: Limits
    header_block: str | None = None


def read_job(job: Job, request: Request) -> Reading:
    raw, arrival, unwrap = job
    if request.header_block is not None:
        return read_header_block(raw, arrival, request.limits, request.header_block)
    return read_message(raw, arrival, request.limits, unwrap)


def serve(conn: Connection, parent: int) -> None:
    """A worker process's entry point: answer requests until the pipe closes."""
    die_with_parent(parent)
    # Ctrl-C reaches the whole process group; stopping workers is the pool's job.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn.send(READY)
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if not isinstance(request, Request):
            return  # None: the pool is closing
        for job in request.jobs:
            conn.send(read_job(job, request))
