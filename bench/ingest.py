"""Benchmark of the core pipeline: parse, normalize and ingest a realistic mailbox.

    python bench/ingest.py [--messages 20000] [--memory-messages 100000] [--rounds 3]

In one run, over the same seeded synthetic mailbox:
  (a) the standard library: BytesParser(policy=default) and reading From, To, Cc, Subject,
      Date and Message-ID, the baseline;
  (b) Mailroom's normalize;
  (c) a full ingest into SQLite;  (d) into PostgreSQL;
and, separately, the peak resident memory of `mailroom ingest` importing a large mbox.
(a) and (b) alternate for several rounds, and so do (c) and (d); the median of each is
kept. Figures go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import mailbox
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from email import policy
from email.parser import BytesParser
from pathlib import Path

import asyncpg
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import MEMBERS, TEAM_DOMAIN, write_mbox  # noqa: E402
from bench.results import write_section  # noqa: E402
from mailroom.db import close_database, open_database  # noqa: E402
from mailroom.intake import IngestReport, Intake  # noqa: E402
from mailroom.intake.workers import NormalizePool  # noqa: E402
from mailroom.models import Plan  # noqa: E402
from mailroom.parsing.normalize import normalize  # noqa: E402
from mailroom.settings import Settings  # noqa: E402
from mailroom.sources.files.formats import Kind, Source  # noqa: E402
from mailroom.sources.files.importer import import_sources  # noqa: E402
from mailroom.workspace import add_member, create_workspace, get_member, import_mailbox  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
POSTGRES_URL = os.environ.get(
    "MAILROOM_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)
TARGET_RATIO, TARGET_SQLITE, TARGET_RSS_MB = 2.0, 1500, 300
TARGET_POSTGRES = 1000  # issue 16
MEMBER = f"alice@{TEAM_DOMAIN}"


def baseline(raw: bytes) -> None:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    for name in ("from", "to", "cc"):
        header = msg[name]
        if header is not None:
            _ = header.addresses
    _ = str(msg["subject"])
    date = msg["date"]
    if date is not None:
        _ = date.datetime
    _ = str(msg["message-id"])


def mailroom_normalize(raw: bytes) -> None:
    normalize(raw)


def rate(work: Callable[[bytes], None], raws: list[bytes]) -> float:
    start = time.perf_counter()
    for raw in raws:
        work(raw)
    return len(raws) / (time.perf_counter() - start)


def parse_rates(raws: list[bytes], rounds: int) -> tuple[float, float]:
    a, b = [], []
    for _ in range(rounds):
        a.append(rate(baseline, raws))
        b.append(rate(mailroom_normalize, raws))
    return statistics.median(a), statistics.median(b)


async def ingest_rate(database_url: str, path: Path, batch_size: int) -> tuple[float, IngestReport]:
    settings = Settings(database_url=database_url, ingest_batch_size=batch_size)
    await open_database(settings)
    try:
        workspace = await create_workspace("bench", "Bench", Plan.ENTERPRISE)
        for name in MEMBERS:
            await add_member(workspace, f"{name}@{TEAM_DOMAIN}")
        box = await import_mailbox(await get_member(workspace, f"alice@{TEAM_DOMAIN}"))
        pool = NormalizePool(settings.normalize_workers) if settings.normalize_workers else None
        start = time.perf_counter()
        try:
            report = await import_sources(
                Intake(settings.limits, pool),
                box,
                [Source(Kind.MBOX, path)],
                batch_size=batch_size,
            )
        finally:
            if pool is not None:
                pool.close()
        elapsed = time.perf_counter() - start
    finally:
        await close_database()
    return (report.new + report.duplicate + report.unchanged) / elapsed, report


async def postgres_database() -> str:
    name = f"mailroom_bench_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://"))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return POSTGRES_URL.rpartition("/")[0] + "/" + name


async def drop_postgres(url: str) -> None:
    connection = await asyncpg.connect(POSTGRES_URL.replace("postgres://", "postgresql://"))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{url.rpartition("/")[2]}" WITH (FORCE)')
    finally:
        await connection.close()


def import_memory(path: Path) -> tuple[float, float, float, str]:
    """Run `mailroom ingest` of `path` in a fresh process. Returns the peak resident memory of
    that process and of it with its normalize workers together (sampled every 50 ms; shared
    pages counted once per process, so the sum overstates), the seconds taken, and the summary
    line."""
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "MAILROOM_DATA_DIR": folder}
        env.pop("MAILROOM_DATABASE_URL", None)
        command = [sys.executable, "-m", "mailroom"]
        for args in (["workspace", "create", "mem"], ["member", "add", "mem", MEMBER]):
            subprocess.run([*command, *args], env=env, check=True, capture_output=True)
        start = time.perf_counter()
        ingest = [*command, "ingest", "mem", MEMBER, str(path)]
        with subprocess.Popen(
            ingest, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        ) as child:
            main, tree = _watch(child)
            out = child.stdout.read().decode() if child.stdout else ""
        elapsed = time.perf_counter() - start
    return main, tree, elapsed, out.strip().splitlines()[-1]


def _watch(child: subprocess.Popen[bytes]) -> tuple[float, float]:
    process = psutil.Process(child.pid)
    main = tree = 0.0
    while child.poll() is None:
        try:
            rss = [process.memory_info().rss]
            rss += [c.memory_info().rss for c in process.children(recursive=True)]
        except psutil.Error:
            continue
        main, tree = max(main, rss[0] / 1e6), max(tree, sum(rss) / 1e6)
        time.sleep(0.05)
    return main, tree


def _target(target: str, met: bool) -> str:
    return f"{target}: {'met' if met else 'NOT met'}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--memory-messages", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()

    path = write_mbox(DATA / f"team-{args.messages}.mbox", args.messages)
    box = mailbox.mbox(str(path), create=False)
    raws = [box.get_bytes(key) for key in box.iterkeys()]
    box.close()
    size_mb = sum(map(len, raws)) / 1e6
    print(f"{len(raws)} messages, {size_mb:.0f} MB; parsing {args.rounds} rounds ...", flush=True)

    rate_a, rate_b = parse_rates(raws, args.rounds)
    del raws
    print(f"(a) stdlib {rate_a:,.0f}/s  (b) normalize {rate_b:,.0f}/s", flush=True)

    # (c) and (d) alternate too, a fresh database each time: one import's rate swings by a
    # few percent with what ran before it.
    rates_c, rates_d = [], []
    for _ in range(args.rounds):
        with tempfile.TemporaryDirectory() as folder:
            rate, report_c = asyncio.run(
                ingest_rate(f"sqlite://{folder}/bench.sqlite3", path, args.batch_size)
            )
        rates_c.append(rate)
        print(f"(c) ingest SQLite {rate:,.0f}/s  {report_c.new} new", flush=True)
        pg_url = asyncio.run(postgres_database())
        try:
            rate, report_d = asyncio.run(ingest_rate(pg_url, path, args.batch_size))
        finally:
            asyncio.run(drop_postgres(pg_url))
        rates_d.append(rate)
        print(f"(d) ingest PostgreSQL {rate:,.0f}/s  {report_d.new} new", flush=True)
    rate_c, rate_d = statistics.median(rates_c), statistics.median(rates_d)
    bench_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    memory_rows: list[tuple[str, str, str]] = []
    if args.memory_messages:
        big = write_mbox(DATA / f"team-{args.memory_messages}.mbox", args.memory_messages)
        peak, tree, elapsed, summary = import_memory(big)
        print(f"{args.memory_messages:,} messages: peak RSS {peak:.0f} MB, {elapsed:.0f} s")
        print(summary, flush=True)
        size = big.stat().st_size / 1e6
        memory_rows += [
            (
                f"`mailroom ingest` of a {args.memory_messages:,}-message mbox ({size:.0f} MB): "
                "peak RSS of the process",
                f"{peak:.0f} MB ({args.memory_messages / elapsed:,.0f} msg/s)",
                _target(f"< {TARGET_RSS_MB} MB", peak < TARGET_RSS_MB),
            ),
            ("... with its normalize workers, summed", f"{tree:.0f} MB", ""),
        ]

    ratio_ba, ratio_cb = rate_b / rate_a, rate_c / rate_b
    rows = [
        (
            "(a) stdlib `BytesParser(policy=default)` + 6 headers",
            f"{rate_a:,.0f} msg/s",
            "baseline",
        ),
        ("(b) `normalize`", f"{rate_b:,.0f} msg/s", ""),
        (
            "(b)/(a)",
            f"**{ratio_ba:.2f}x**",
            _target(f">= {TARGET_RATIO}x", ratio_ba >= TARGET_RATIO),
        ),
        (
            "(c) full ingest into SQLite",
            f"{rate_c:,.0f} msg/s",
            _target(f">= {TARGET_SQLITE:,} msg/s", rate_c >= TARGET_SQLITE),
        ),
        ("(c)/(b)", f"{ratio_cb:.2f}", ""),
        (
            "(d) full ingest into PostgreSQL",
            f"{rate_d:,.0f} msg/s",
            _target(f">= {TARGET_POSTGRES:,} msg/s", rate_d >= TARGET_POSTGRES),
        ),
        ("peak RSS of this benchmark process", f"{bench_peak:.0f} MB", ""),
        *memory_rows,
    ]
    body = (
        f"Seeded synthetic team mailbox: {args.messages:,} messages, {size_mb:.0f} MB "
        "(plain, alternative, attachments, newsletters, invitations; half in threads). "
        f"Parsing rates, and (c) and (d), are the median of {args.rounds} alternating rounds "
        "(each import into a fresh database); ingest commits "
        f"{args.batch_size} messages per transaction and parses on "
        f"{Settings().normalize_workers} worker process(es).\n\n"
        "| measure | result | target |\n|---|---|---|\n"
        + "".join(f"| {a} | {b} | {c} |\n" for a, b, c in rows)
    )
    write_section("ingest (bench/ingest.py)", body)
    print(body)


if __name__ == "__main__":
    main()
