"""A child process's tie to its parent: it must not outlive it. After a kill -9 of `serve` a
normalize worker went on parsing a hostile message for six minutes, and an API worker would go
on holding the port.

On Linux the kernel kills the child when its parent dies (`PR_SET_PDEATHSIG`); the parent is
then the *thread* that started it, so children are started from a thread that lives as long as
the process. Elsewhere, and as a second guard, a thread polls for the parent's exit; it needs
the interpreter lock, which a long call into a C parser holds, so it is the slower guard. This
module imports nothing of Mailroom's: a child asks for the signal before its slow imports.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_PARENT_POLL = 0.5  # seconds


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
