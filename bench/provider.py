"""What the benchmarks of provider API syncs (bench/gmail.py, bench/graph.py) share: the local
API in a process of its own, driven over a pipe; access tokens from its grant; the import
baseline; CPU measured over a run; the delay from a message added to it being stored while
the sync polls.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import Any

import psutil

from mailroom.db import database
from mailroom.intake import Intake
from mailroom.intake.workers import NormalizePool
from mailroom.models import Plan, ProviderItem
from mailroom.settings import Settings
from mailroom.sources.files.formats import Kind, Source
from mailroom.sources.files.importer import import_sources
from mailroom.workspace import add_member, create_workspace, import_mailbox

MEMBER = "alice@acme-corp.com"
Handler = Callable[[Any], Any]


class Remote:
    """A local API (fakes/) in a process of its own, as the provider is not in Mailroom's: its
    work must not take the interpreter the sync runs in, and its CPU is counted apart.
    `serve(conn, *args)` runs in the child (spawned): it fills and serves the fake, then
    `answer`s commands."""

    def __init__(self, serve: Callable[..., None], *args: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=serve, args=(child, *args), daemon=True)
        self._process.start()
        self.pid = self._process.pid
        self.url: str = self._conn.recv()

    def ask(self, command: str, argument: Any = None) -> Any:
        self._conn.send((command, argument))
        return self._conn.recv()

    def cpu_seconds(self) -> float:
        """CPU the fake's process has used (its work happens at the provider for a real
        mailbox)."""
        times = psutil.Process(self._process.pid).cpu_times()
        return float(times.user + times.system)

    def stop(self) -> None:
        self._conn.send(("stop", None))
        self._process.join(30)


def answer(conn: Connection, url: str, handlers: dict[str, Handler]) -> None:
    """In the child: send the fake's url, then answer each (command, argument) with its
    handler's result until "stop"."""
    conn.send(url)
    while True:
        command, argument = conn.recv()
        if command == "stop":
            return
        conn.send(handlers[command](argument))


class Tokens:
    """Access tokens as the OAuth layer gives them, from the fake's own grant."""

    def __init__(self, fake: Remote) -> None:
        self.fake = fake
        self.token = str(fake.ask("grant"))

    async def current(self) -> str:
        return self.token

    async def refreshed(self, rejected: str) -> str:
        self.token = str(self.fake.ask("grant"))
        return self.token


@dataclass
class Span:
    """Wall and CPU seconds of a timed run: Mailroom's (this process and its normalize
    workers), of it the main thread's (where the event loop runs), the fake's process's, and
    the whole machine's (busy, every process: what is neither Mailroom's nor the fake's is
    other work)."""

    wall: float = 0.0
    mailroom: float = 0.0
    loop: float = 0.0
    fake: float = 0.0
    machine: float = 0.0

    def other(self) -> float:
        return max(0.0, self.machine - self.mailroom - self.fake)


class Meter:
    """`with Meter(fake.pid) as span:` measures the block into `span` (`fake`: the pid of the
    fake's process, a child of this one)."""

    def __init__(self, fake: int | None = None) -> None:
        self.fake = fake
        self.span = Span()
        self._start = (0.0, 0.0, 0.0, 0.0, 0.0)

    def _cpu(self) -> tuple[float, float, float, float]:
        me = psutil.Process()
        main = threading.main_thread().native_id
        loop = sum(t.user_time + t.system_time for t in me.threads() if t.id == main)
        times = me.cpu_times()
        mailroom = times.user + times.system + times.children_user + times.children_system
        fake = 0.0
        for child in me.children(recursive=True):
            try:
                used = child.cpu_times()
            except psutil.NoSuchProcess:
                continue
            if child.pid == self.fake:
                fake = used.user + used.system
            else:
                mailroom += used.user + used.system
        total = psutil.cpu_times()
        # Idle, waiting on the disk, or not this machine's (stolen; guests counted in user).
        unused = ("idle", "iowait", "steal", "guest", "guest_nice")
        busy = sum(total) - sum(getattr(total, name, 0.0) for name in unused)
        return mailroom, loop, fake, busy

    def __enter__(self) -> Span:
        self._start = (*self._cpu(), time.perf_counter())
        return self.span

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        wall = time.perf_counter() - self._start[-1]
        mailroom, loop, fake, machine = self._cpu()
        self.span.wall = wall
        self.span.mailroom = mailroom - self._start[0]
        self.span.loop = loop - self._start[1]
        self.span.fake = fake - self._start[2]
        self.span.machine = machine - self._start[3]


def pool_of(settings: Settings) -> NormalizePool | None:
    return NormalizePool(settings.normalize_workers) if settings.normalize_workers else None


async def import_rate(path: Path, folder: Path, fake: int | None = None) -> tuple[float, Span]:
    """Messages per second of Mailroom's import of the mbox into a fresh SQLite, and its span
    (`fake`: the fake's process, counted apart from Mailroom's)."""
    settings = Settings(data_dir=folder / "import")
    async with database(settings):
        workspace = await create_workspace("bench", "Bench", Plan.ENTERPRISE)
        box = await import_mailbox(await add_member(workspace, MEMBER))
        pool = pool_of(settings)
        try:
            with Meter(fake) as span:
                report = await import_sources(
                    Intake(settings.limits, pool), box, [Source(Kind.MBOX, path)]
                )
            return report.new / span.wall, span
        finally:
            if pool is not None:
                pool.close()


async def poll_latency(
    add: Callable[[bytes], str],
    run: Callable[[], Awaitable[object]],
    samples: int,
    every: float = 1.0,
) -> list[float]:
    """Seconds from a message added to the fake (`add`, blocking, returns its stored item
    key) to it being stored, with a pass (`run`) every `every` seconds (what the provider's
    poll setting sets; 60 by default)."""

    async def poll() -> None:
        while True:
            await run()
            await asyncio.sleep(every)

    polling = asyncio.create_task(poll())
    delays = []
    try:
        for n in range(samples):
            await asyncio.sleep(every * (0.3 + 0.7 * n / max(1, samples - 1)))  # any phase
            raw = (
                b"Message-ID: <poll-%d@bench>\r\nFrom: j@globex.com\r\nSubject: ping\r\n\r\nhi\r\n"
                % n
            )
            key = await asyncio.to_thread(add, raw)
            added = time.perf_counter()
            while not await ProviderItem.filter(item=key).exists():
                await asyncio.sleep(0.01)
            delays.append(time.perf_counter() - added)
    finally:
        polling.cancel()
        await asyncio.gather(polling, return_exceptions=True)
    return delays
