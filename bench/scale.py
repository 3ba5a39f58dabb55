"""Benchmark of `mailroom worker` processes keeping IMAP mailboxes in sync on PostgreSQL
(issue 17).

    python bench/scale.py [--mailboxes 30] [--messages 200] [--workers 1,2,4]

In one run, against one Dovecot holding `--mailboxes` users of `--messages` seeded synthetic
messages each (bench/corpus.py):
  (a) the first sync of every mailbox by 1, 2 and 4 worker processes (`--concurrency 10`
      each), on a fresh database each time: messages stored per second, from the workers'
      start to the last message stored, with the CPU the workers, PostgreSQL and the machine
      used;
  (b) a pass of a mailbox with nothing new, as a job (deferred, run by an idle worker, seen
      finished) against the same pass called directly, the median of 30: the job engine's
      cost per pass;
  (b') passes with nothing new as the workers run them at scale: one worker polling the
      synced mailboxes as often as its scheduler defers them, for IDLE_SECONDS: the CPU time
      a pass costs the worker, PostgreSQL and Dovecot (what sizing many mailboxes rests on);
  (c) the database statements per stored message, counted by PostgreSQL itself: the
      database's `log_statement = all` and its lines in the server's log, during a first sync
      by one worker (the queue's own statements included: fetches, heartbeats, schedule).
Figures go to bench/RESULTS.md, with the sizing of 3,000 mailboxes worked out from them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import procrastinate
import psutil
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import messages  # noqa: E402
from bench.dovecot import Dovecot  # noqa: E402
from bench.ingest import POSTGRES_URL, drop_postgres, postgres_database  # noqa: E402
from bench.results import write_section  # noqa: E402
from mailroom.db import close_database, open_database  # noqa: E402
from mailroom.intake import Intake  # noqa: E402
from mailroom.jobs.engine import job_app  # noqa: E402
from mailroom.jobs.schedule import defer_sync  # noqa: E402
from mailroom.models import Mailbox, MessageCopy, Plan  # noqa: E402
from mailroom.settings import Settings  # noqa: E402
from mailroom.sources.imap.accounts import connection_for  # noqa: E402
from mailroom.vault import new_key  # noqa: E402
from mailroom.workspace import add_imap_mailbox, add_member, create_workspace  # noqa: E402
from mailroom.workspace.syncing import sync_mailbox  # noqa: E402

CONCURRENCY = 10
PASSES = 30  # for (b)
IDLE_SECONDS = 30.0  # for (b')
SERVER_LOGS = Path("/var/log/postgresql")  # where Debian's clusters log (stderr)


@dataclass(frozen=True)
class Idle:
    """Passes with nothing new run by one worker, and the CPU seconds they cost."""

    passes: int
    seconds: float
    cpu_worker: float
    cpu_postgres: float
    cpu_dovecot: float

    def per_pass(self, cpu: float) -> float:
        return cpu / self.passes


@dataclass(frozen=True)
class Run:
    workers: int
    seconds: float
    stored: int
    cpu_workers: float  # CPU seconds of the workers and their parse processes
    cpu_postgres: float
    cpu_machine: float

    @property
    def rate(self) -> float:
        return self.stored / self.seconds


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://"))
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def fresh_database(server: Dovecot, users: list[str]) -> Settings:
    """A new database, migrated, with one workspace and a connected IMAP mailbox per user."""
    url = await postgres_database()
    settings = Settings(
        data_dir=Path("/tmp") / url.rpartition("/")[2],
        database_url=url,
        secret_key=new_key(),
        imap_allow_private_hosts=True,
    )
    await open_database(settings)
    try:
        workspace = await create_workspace("acme", plan=Plan.ENTERPRISE)
        for user in users:
            member = await add_member(workspace, f"{user}@acme.test")
            connection = connection_for("127.0.0.1", server.port, "none", user)
            await add_imap_mailbox(settings, workspace, member, connection, f"pw-{user}")
    finally:
        await close_database()
    return settings


async def drop(settings: Settings) -> None:
    await drop_postgres(settings.database_url)


def _env(settings: Settings, poll: float) -> dict[str, str]:
    env = {
        **os.environ,
        "MAILROOM_DATABASE_URL": settings.database_url,
        "MAILROOM_DATA_DIR": str(settings.data_dir),
        "MAILROOM_SECRET_KEY": settings.secret_key or "",
        "MAILROOM_IMAP_ALLOW_PRIVATE_HOSTS": "true",
        "MAILROOM_IMAP_POLL_INTERVAL": str(poll),
        "MAILROOM_NORMALIZE_WORKERS": "1",
    }
    env.pop("MAILROOM_CONFIG", None)
    return env


def start_workers(
    env: dict[str, str], count: int, concurrency: int
) -> list[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "mailroom", "worker", "--concurrency", str(concurrency)]
    return [
        subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(count)
    ]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        try:
            worker.wait(timeout=90)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def _cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
            total += times.user + times.system + times.children_user + times.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def _postgres() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


async def stored(settings: Settings) -> int:
    await open_database(settings, create=False)
    try:
        return await MessageCopy.all().count()
    finally:
        await close_database()


async def first_sync(server: Dovecot, users: list[str], count: int, expected: int) -> Run:
    settings = await fresh_database(server, users)
    try:
        postgres = _postgres()
        machine_before, postgres_before = psutil.cpu_times(), _cpu(postgres)
        started = time.perf_counter()
        workers = start_workers(_env(settings, 3600), count, CONCURRENCY)
        tree = [psutil.Process(w.pid) for w in workers]
        try:
            while (found := await stored(settings)) < expected:
                if any(w.poll() is not None for w in workers):
                    raise RuntimeError("a worker stopped")
                await asyncio.sleep(0.25)
                tree = [*tree, *(c for p in tree for c in _children(p) if c not in tree)]
            seconds = time.perf_counter() - started
            cpu_workers = _cpu(tree)
        finally:
            stop_workers(workers)
        machine_after = psutil.cpu_times()
        busy = sum(machine_after) - machine_after.idle - (sum(machine_before) - machine_before.idle)
        return Run(count, seconds, found, cpu_workers, _cpu(postgres) - postgres_before, busy)
    finally:
        await drop(settings)


def _children(process: psutil.Process) -> list[psutil.Process]:
    try:
        return process.children(recursive=True)
    except psutil.NoSuchProcess:
        return []


async def job_overhead(
    server: Dovecot, users: list[str], expected: int
) -> tuple[float, float, Idle]:
    """Median seconds of a pass with nothing new, called directly and as a job; and what such
    passes cost in CPU when a worker runs them one after another."""
    settings = await fresh_database(server, users)
    try:
        workers = start_workers(_env(settings, 3600), 1, CONCURRENCY)
        try:
            while await stored(settings) < expected:
                await asyncio.sleep(0.25)
        finally:
            stop_workers(workers)
        idle = await idle_passes(server, settings)
        await open_database(settings, create=False)
        try:
            intake = Intake(settings.limits)
            mailboxes = await Mailbox.all()
            direct = []
            for n in range(PASSES):
                mailbox = mailboxes[n % len(mailboxes)]
                began = time.perf_counter()
                await sync_mailbox(settings, mailbox, intake)
                direct.append(time.perf_counter() - began)
            # A pass called directly renews the lease as this process and leaves it; the
            # worker's passes would skip the mailboxes until it ran out.
            await Mailbox.all().update(lease_owner=None, lease_until=None)
        finally:
            await close_database()
        # One idle worker, its scheduler quiet (poll interval an hour): each pass asked for and
        # waited for, one at a time.
        workers = start_workers(_env(settings, 3600), 1, 1)
        app = job_app(settings)
        as_jobs = []
        try:
            async with app.open_async():
                await asyncio.sleep(3)  # the worker started and listening
                for n in range(PASSES):
                    began = time.perf_counter()
                    job_id = await defer_sync(app, mailboxes[n % len(mailboxes)].id)
                    if job_id is None:
                        continue  # the scheduler deferred one first
                    while (status := await _status(app, job_id)) in ("todo", "doing"):
                        await asyncio.sleep(0.002)
                    if status != "gone":  # a successful job is deleted as it ends
                        raise RuntimeError(f"the pass as a job ended {status}")
                    as_jobs.append(time.perf_counter() - began)
        finally:
            stop_workers(workers)
        return statistics.median(direct), statistics.median(as_jobs), idle
    finally:
        await drop(settings)


async def idle_passes(server: Dovecot, settings: Settings) -> Idle:
    """One worker polling every second (its scheduler defers a pass of each mailbox every five)
    mailboxes with nothing new, for IDLE_SECONDS after a few seconds of warming up: passes
    counted by the worker's own /metrics; CPU of the worker (and its parse process), of
    PostgreSQL and of Dovecot (its master has reaped each session's imap process)."""
    port = _free_port()
    env = {**_env(settings, 1), "MAILROOM_METRICS_PORT": str(port)}
    [worker] = start_workers(env, 1, CONCURRENCY)
    try:
        await asyncio.sleep(8)
        tree = [psutil.Process(worker.pid), *_children(psutil.Process(worker.pid))]
        postgres, dovecot = _postgres(), [psutil.Process(server.pid)]
        before = (_passes(port), _cpu(tree), _cpu(postgres), _cpu(dovecot))
        started = time.perf_counter()
        await asyncio.sleep(IDLE_SECONDS)
        after = (_passes(port), _cpu(tree), _cpu(postgres), _cpu(dovecot))
        seconds = time.perf_counter() - started
    finally:
        stop_workers([worker])
    passes, worker_cpu, pg_cpu, dovecot_cpu = (b - a for a, b in zip(before, after, strict=True))
    return Idle(int(passes), seconds, worker_cpu, pg_cpu, dovecot_cpu)


def _passes(port: int) -> float:
    """Sync passes the worker ran, from its /metrics."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "mailroom_jobs_total" and sample.labels == {
                "task": "sync_mailbox",
                "outcome": "ok",
            }:
                return sample.value
    return 0.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def _status(app: procrastinate.App, job_id: int) -> str:
    rows = await app.connector.execute_query_all_async(
        "SELECT status::text AS status FROM procrastinate_jobs WHERE id = %(id)s", id=job_id
    )
    return str(rows[0]["status"]) if rows else "gone"  # a successful job is deleted


async def statements(server: Dovecot, users: list[str], expected: int) -> tuple[int, int] | None:
    """Statements PostgreSQL logged for the database during one worker's first sync, and the
    messages stored: None where the server's log is not found."""
    logs = sorted(SERVER_LOGS.glob("postgresql-*-main.log"))
    if not logs:
        return None
    log = logs[-1]
    settings = await fresh_database(server, users)
    name = settings.database_url.rpartition("/")[2]
    try:
        await _admin(f"ALTER DATABASE \"{name}\" SET log_statement = 'all'")
        offset = log.stat().st_size
        workers = start_workers(_env(settings, 3600), 1, CONCURRENCY)
        try:
            while (found := await stored(settings)) < expected:
                await asyncio.sleep(0.25)
        finally:
            stop_workers(workers)
        with log.open("rb") as lines:
            lines.seek(offset)
            text = lines.read().decode(errors="replace")
        mine = re.compile(rf"@{re.escape(name)} LOG:  (?:statement|execute [^:]*):")
        return sum(1 for line in text.splitlines() if mine.search(line)), found
    finally:
        await drop(settings)


def report(
    args: argparse.Namespace,
    runs: list[Run],
    overhead: tuple[float, float, Idle],
    counted: tuple[int, int] | None,
) -> str:
    one = runs[0]
    rows = [
        f"| {r.workers} | {r.rate:,.0f} msg/s | **{r.rate / one.rate:.2f}x** | {r.seconds:.1f} s "
        f"| {r.cpu_workers / r.seconds:.0%} / {r.cpu_postgres / r.seconds:.0%} / "
        f"{r.cpu_machine / r.seconds:.0%} |"
        for r in runs
    ]
    direct, as_job, idle = overhead
    total = args.mailboxes * args.messages
    lines = [
        f"`python bench/scale.py --mailboxes {args.mailboxes} --messages {args.messages}`: one "
        f"Dovecot with {args.mailboxes} users of {args.messages} seeded synthetic messages each "
        f"({total:,} in all), each connected as an IMAP mailbox of one workspace; `mailroom "
        f"worker` processes (`--concurrency {CONCURRENCY}`, one parse process each) sync them "
        "all from nothing into a fresh PostgreSQL database. CPU: the workers' (with their "
        "parse processes), PostgreSQL's and the whole machine's CPU time over the wall time "
        "(100% = one core).",
        "",
        "| workers | stored | against 1 worker | time | CPU workers / PostgreSQL / machine |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"A pass of a mailbox with nothing new (login, the folders' state, logout), median of "
        f"{PASSES}: called directly {direct * 1000:.1f} ms; as a job (deferred, taken by an idle "
        f"worker, seen finished by polling its row) {as_job * 1000:.1f} ms: the job engine adds "
        f"**{(as_job - direct) * 1000:.1f} ms** a pass.",
        "",
        f"Passes with nothing new as a worker runs them (one worker polling the "
        f"{args.mailboxes} synced mailboxes every second, its scheduler deferring them every "
        f"five; {IDLE_SECONDS:.0f} s): {idle.passes} passes, {idle.passes / idle.seconds:.1f} a "
        f"second; CPU a pass: worker **{idle.per_pass(idle.cpu_worker) * 1000:.1f} ms**, "
        f"PostgreSQL **{idle.per_pass(idle.cpu_postgres) * 1000:.1f} ms**, Dovecot "
        f"{idle.per_pass(idle.cpu_dovecot) * 1000:.1f} ms.",
        "",
    ]
    if counted is None:
        lines.append("Statements per stored message: not measured (no server log found).")
    else:
        count, messages_stored = counted
        lines.append(
            f"Statements PostgreSQL logged for the database during one worker's first sync of "
            f"{messages_stored:,} messages: {count:,}, **{count / messages_stored:.2f} per "
            "stored message** (the queue's own statements included)."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mailboxes", type=int, default=30)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--workers", default="1,2,4")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    users = [f"user{n}" for n in range(args.mailboxes)]
    corpus = list(messages(args.mailboxes * args.messages))
    expected = len(corpus)
    with Dovecot(users[0], f"pw-{users[0]}") as server:
        for n, user in enumerate(users):
            if n:
                server.add_user(user, f"pw-{user}")
            mailbox = corpus[n * args.messages : (n + 1) * args.messages]
            server.append(mailbox, user=user, password=f"pw-{user}")
        runs = []
        for count in counts:
            run = asyncio.run(first_sync(server, users, count, expected))
            print(f"{count} worker(s): {run.rate:,.0f} msg/s in {run.seconds:.1f} s", flush=True)
            runs.append(run)
        overhead = asyncio.run(job_overhead(server, users, expected))
        print(f"pass: direct {overhead[0] * 1000:.1f} ms, job {overhead[1] * 1000:.1f} ms")
        print(f"idle passes: {overhead[2]}", flush=True)
        counted = asyncio.run(statements(server, users, expected))
        print(f"statements: {counted}", flush=True)
    body = report(args, runs, overhead, counted)
    print(body)
    write_section("scale (bench/scale.py)", body)


if __name__ == "__main__":
    main()
