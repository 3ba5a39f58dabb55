"""`serve`'s API-only worker processes: more processes answering HTTP on the socket the main
process bound, so that the API uses every core (one Python process uses one).

The main process binds the port for all of them before any starts, one socket per process in
one SO_REUSEPORT group (Linux), and hands each worker its own as it spawns it (the same one
again to a worker started in place of one that died). Each process then accepts from a queue
of its own, and the kernel deals new connections out between the queues by a hash of their
addresses. With one queue for all, as uvicorn's own `--workers` has, whichever process woke
first on a burst took every connection waiting (uvloop accepts until the queue is empty): 32
keep-alive connections opened at once went all to one process in 3 of 18 rounds of
bench/api.py, which then answered them alone on one core. A worker's socket listens only once
the worker starts serving (a socket is dealt connections only while it listens), so none waits
for a worker's first start. What a queue per process costs: a connection dealt to a busy
process waits for it even when another is idle (the API's requests are alike, so that evens
out), and one dealt to a worker that died waits in its queue (the main process holds every
socket, so none is lost) for the second or so that starting another takes. The port is first
bound alone, so that a port any other program holds (a second Mailroom's group included) stops
`serve` with an error as before; the group's members must share the user id, as the kernel
requires. Elsewhere than Linux (no balancing SO_REUSEPORT) every process accepts from the one
socket.

Workers are spawned, not forked: the main process holds database threads and connections that
a fork would copy half-alive. Each dies with the main process, however that ends (a kill -9
included: lifeline.py), so none is ever left holding the port; it asks for that first thing,
before its slow imports (`run_worker`: this module imports little, and the settings come as
plain values). One that dies while the main process runs is started again, as a process
supervisor would; one that keeps dying (`CRASH_LOOP` deaths in a minute) stops `serve` with
an error, rather than restarting forever with the API a core short and no one told.

What the workers cannot see for themselves, how the main process's SMTP gateway and pollers
are, the main process publishes on a `Board` in memory they share, for /health.
"""

from __future__ import annotations

import asyncio
import ctypes
import importlib
import logging
import multiprocessing
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

from mailroom.errors import WorkerError
from mailroom.lifeline import die_with_parent
from mailroom.ratelimit import SlidingWindow

log = logging.getLogger(__name__)

CRASH_LOOP = 5  # deaths of workers within a minute that stop `serve`
WATCH_EVERY = 0.5  # seconds between looks at the workers
STOP_TIMEOUT = 10.0  # seconds a worker has to finish its requests once asked to stop


@dataclass(frozen=True, slots=True)
class Running:
    """How the services only the main `serve` process runs are: the SMTP gateway (`off`,
    `listening`, `stopped`), the pollers (`off`, `running`, `stopped`), and the messages in
    the SMTP spool."""

    smtp: str
    pollers: str
    spooled: int = 0


class Board:
    """`Running`, in memory the main process shares with its API workers: it publishes, and
    every process answers /health from what it reads here, so the answer does not depend on
    which process took the connection."""

    _SMTP = ("off", "listening", "stopped")
    _POLLERS = ("off", "running", "stopped")

    def __init__(self, first: Running) -> None:
        # No lock: each value is written whole; a reader sees the old one or the new.
        context = multiprocessing.get_context("spawn")
        self._states = context.RawArray(ctypes.c_ubyte, 2)
        self._spooled = context.RawValue(ctypes.c_ulonglong)
        self.publish(first)

    def publish(self, found: Running) -> None:
        self._states[0] = self._SMTP.index(found.smtp)
        self._states[1] = self._POLLERS.index(found.pollers)
        self._spooled.value = found.spooled

    def read(self) -> Running:
        smtp, pollers = self._SMTP[self._states[0]], self._POLLERS[self._states[1]]
        return Running(smtp, pollers, self._spooled.value)


def run_worker(entry: str, parent: int, *args: Any) -> None:
    """A worker process's start: tied to the `parent`'s life first, then `entry`
    (`module:function`) imported and called with `args`."""
    die_with_parent(parent)
    module, _, name = entry.partition(":")
    getattr(importlib.import_module(module), name)(*args)


class ApiWorkers:
    """Processes running `entry(*args)` (`module:function`), one for each of `args`, kept
    running until `stop`."""

    def __init__(self, entry: str, args: Sequence[tuple[Any, ...]]) -> None:
        # One process per tuple of arguments, each started again with its own.
        self.entry = entry
        self.args = list(args)
        self.processes: list[BaseProcess] = []
        self.stopping = False
        self._deaths = SlidingWindow(CRASH_LOOP - 1, 60.0)
        self._context = multiprocessing.get_context("spawn")

    def start(self) -> None:
        """Start them all. Called on the thread that lives as long as they may (the main
        thread): the kernel's death signal is tied to the thread that started a process."""
        self.processes = [self._spawn(index) for index in range(len(self.args))]

    def _spawn(self, index: int) -> BaseProcess:
        args = (self.entry, os.getpid(), *self.args[index])
        process = self._context.Process(target=run_worker, args=args, name="mailroom-api")
        process.start()
        return process

    async def watch(self, ending: Callable[[], bool]) -> None:
        """Start again each worker that dies, until `stop` or until the server is `ending` (a
        Ctrl-C reaches the workers too, and they stop with it: not a death to make up for);
        a `WorkerError` when they keep dying."""
        while not self.stopping and not ending():
            await asyncio.sleep(WATCH_EVERY)
            if not self.stopping and not ending():
                self.replace_dead()

    def replace_dead(self) -> None:
        for index, process in enumerate(self.processes):
            if process.is_alive():
                continue
            process.join()
            code = process.exitcode
            if not self._deaths.allow("api"):
                raise WorkerError(
                    f"API worker processes keep dying ({CRASH_LOOP} in a minute; the last, "
                    f"pid {process.pid}, {_how(code)}): see the log above"
                )
            log.error("API worker process %s %s; starting another", process.pid, _how(code))
            self.processes[index] = self._spawn(index)

    def stop(self) -> None:
        """Ask every worker to finish (SIGTERM: uvicorn's graceful shutdown) and wait; kill
        those still running after `STOP_TIMEOUT`."""
        self.stopping = True
        for process in self.processes:
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        for process in self.processes:
            process.join(STOP_TIMEOUT)
            if process.is_alive():
                log.warning("API worker process %s did not stop in time: killed", process.pid)
                process.kill()
                process.join()

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]


def _how(code: int | None) -> str:
    if code is not None and code < 0:
        return f"was killed by {signal.Signals(-code).name}"
    return f"exited with code {code}"
