"""What a normalize worker process runs: messages in over a pipe, one reading out per message.

A worker must not outlive the process that started it (after a kill -9 of `serve` one went on
parsing a hostile message for six minutes). On Linux the kernel kills it when its parent dies
(`PR_SET_PDEATHSIG`); the parent is then the *thread* that started it, so the pool starts its
workers from the thread it lives on. Elsewhere, and as a second guard, a thread polls for the
parent's exit; it needs the interpreter lock, which a long call into a C parser holds, so it
is the slower guard.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from multiprocessing.connection import Connection

from mailroom.parsing.normalize import Limits
from mailroom.parsing.reader import Reading, read_header_block, read_message

Job = tuple[bytes, datetime, bool]  # raw bytes, arrival, unwrap a forward
READY = "ready"  # what a worker sends once it can take requests
_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_PARENT_POLL = 0.5  # seconds


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


def die_with_parent(parent: int) -> None:
    """Make this process exit when the process `parent` does, however that one ends."""
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the watching thread below still guards
    if os.getppid() != parent:
        os._exit(1)  # the parent died before the signal was asked for
    watch = threading.Thread(target=_watch, args=(parent,), name="parent-watch", daemon=True)
    watch.start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_PARENT_POLL)
    os._exit(1)  # orphaned: nothing this process holds needs cleaning up
