"""Per-batch cost of ingest across a large import, step by step.

    python bench/batches.py [--backend sqlite|postgres] [--corpus small|api]
                            [--messages 100000] [--no-figures] [--no-analyze] [--no-copy]
                            [--compare] [--statements] [--series]

Imports a seeded mbox (bench/ingest.py's small population, or bench/api.py's 8,400 distinct
addresses) into a fresh database, in ALL record-creation mode, in one process (no parse
workers), and times each batch's commit and the steps inside it (messages, copies, records,
interactions, statistics). Flat cost means the last batches cost what the first did: the
figure is the median commit of the last 10 batches over that of the first 10. `--no-analyze`
leaves the planner statistics to the database and `--no-copy` writes with INSERTs only
(Mailroom's earlier ways); `--compare` runs those and the current way one after the other and
writes the figures into bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import re
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

from bench.api import POPULATION, bench_mailbox  # noqa: E402
from bench.corpus import write_mbox  # noqa: E402
from bench.ingest import DATA, drop_postgres, postgres_database  # noqa: E402
from bench.results import write_section  # noqa: E402
from mailroom.db import database  # noqa: E402
from mailroom.intake import Intake  # noqa: E402
from mailroom.intake import process as process_module  # noqa: E402
from mailroom.models import bulk  # noqa: E402
from mailroom.resolver import figures, interactions  # noqa: E402
from mailroom.settings import Settings  # noqa: E402
from mailroom.sources.files.formats import Kind, Source  # noqa: E402
from mailroom.sources.files.importer import import_sources  # noqa: E402

EDGE = 10  # batches compared at the start and at the end
COPY_FROM = bulk.COPY_FROM


# Steps timed inside a commit: Processor's methods, and what process.py calls by name.
METHODS = ("_messages", "_copies", "_provider_items", "_records", "_interactions")
FUNCTIONS = {
    process_module: ("assign_threads", "resolve", "link_history", "relink", "record", "settle"),
    interactions: ("_unstored", "_companies", "_answers", "add_counted"),
    figures: ("add_rows", "refresh"),
}


@dataclass
class Batch:
    messages: int
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=lambda: defaultdict(float))


@dataclass
class Run:
    label: str
    seconds: float = 0.0
    batches: list[Batch] = field(default_factory=list)

    @property
    def messages(self) -> int:
        return sum(b.messages for b in self.batches)

    def edge(self, start: bool, step: str | None = None) -> float:
        chosen = self.batches[:EDGE] if start else self.batches[-EDGE:]
        return statistics.median(b.steps[step] if step else b.seconds for b in chosen)


def _timed(run: Run, name: str, call: Callable[..., Awaitable[Any]]) -> Callable[..., Any]:
    @functools.wraps(call)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await call(*args, **kwargs)
        finally:
            if run.batches:
                run.batches[-1].steps[name] += time.perf_counter() - started

    return timed


STATEMENT_METHODS = ("execute_query", "execute_many", "execute_insert", "execute_query_dict")


def statement_timer(run: Run) -> Callable[[], None]:
    """Time every statement of the database clients into `run`'s batches, by its first words
    (the table it reads or writes); returns the undo."""
    from tortoise.backends.asyncpg.client import AsyncpgDBClient, TransactionWrapper
    from tortoise.backends.sqlite.client import SqliteClient

    saved: list[tuple[type, str, Any]] = []
    for cls in (AsyncpgDBClient, TransactionWrapper, SqliteClient):
        for name in STATEMENT_METHODS:
            if name in vars(cls):
                call = vars(cls)[name]
                saved.append((cls, name, call))

                def timed(self: Any, query: str, *args: Any, _call: Any = call) -> Any:
                    return _timed(run, "sql " + _statement(query), _call)(self, query, *args)

                setattr(cls, name, timed)

    def undo() -> None:
        for cls, name, call in saved:
            setattr(cls, name, call)

    return undo


def _statement(query: str) -> str:
    words = re.sub(r"\s+", " ", query).strip()
    table = re.search(r'(?:FROM|INTO|UPDATE) "?(\w+)"?', words)
    where = re.search(r"WHERE (.{0,60})", words)
    verb = words.split(" ")[0]
    return f"{verb} {table.group(1) if table else '?'} {where.group(1) if where else ''}"


def instrument(intake: Intake, run: Run) -> Callable[[], None]:
    """Time the processor's commits and their steps into `run`; returns the undo."""
    processor = intake.processor
    commit = processor.commit

    async def timed_commit(items: list[Any]) -> Any:
        run.batches.append(Batch(len(items)))
        started = time.perf_counter()
        try:
            return await commit(items)
        finally:
            run.batches[-1].seconds = time.perf_counter() - started

    processor.commit = timed_commit  # type: ignore[method-assign]
    for name in METHODS:
        setattr(processor, name, _timed(run, name, getattr(processor, name)))
    saved = {(m, name): getattr(m, name) for m, names in FUNCTIONS.items() for name in names}
    for (module, name), call in saved.items():
        setattr(module, name, _timed(run, name, call))
    if processor.growth is not None:
        growth = processor.growth
        growth.stored = _timed(run, "statistics", growth.stored)  # type: ignore[method-assign]

    def undo() -> None:
        for (module, name), call in saved.items():
            setattr(module, name, call)

    return undo


async def ingest(
    url: str, path: Path, run: Run, figures: bool, analyze: bool, statements: bool
) -> None:
    settings = Settings(database_url=url, ingest_batch_size=500, normalize_workers=0)
    async with database(settings, create=True):
        box = await bench_mailbox()
        intake = Intake(settings.limits, figures=figures)
        if not analyze:
            intake.processor.growth = None
        undo = instrument(intake, run)
        if statements:
            undo_statements = statement_timer(run)
        started = time.perf_counter()
        try:
            await import_sources(intake, box, [Source(Kind.MBOX, path)], batch_size=500)
        finally:
            undo()
            if statements:
                undo_statements()
        run.seconds = time.perf_counter() - started


def report(run: Run) -> str:
    totals: dict[str, float] = defaultdict(float)
    for batch in run.batches:
        for step, spent in batch.steps.items():
            totals[step] += spent
    # The steps, then the statements that took over 1% of the commits' time, costliest first.
    commits = sum(b.seconds for b in run.batches)
    steps = sorted(totals, key=lambda s: (s.startswith("sql "), -totals[s]))
    steps = [s for s in steps if not s.startswith("sql ") or totals[s] > commits / 100]
    lines = [
        f"{run.label}: {run.messages:,} messages in {run.seconds:.0f} s: "
        f"{run.messages / run.seconds:,.0f} msg/s; {len(run.batches)} batches",
        f"  commit, median of the first {EDGE} / last {EDGE}: {run.edge(True) * 1000:,.0f} / "
        f"{run.edge(False) * 1000:,.0f} ms = {run.edge(False) / run.edge(True):.2f}x",
    ]
    for step in steps:
        first, last = run.edge(True, step), run.edge(False, step)
        total = totals[step]
        lines.append(
            f"  {step[:76]:<76} {first * 1000:8,.1f} -> {last * 1000:8,.1f} ms"
            f"  (all batches {total:,.1f} s)"
        )
    return "\n".join(lines)


def run_one(args: argparse.Namespace, path: Path, analyze: bool, copy: bool) -> Run:
    bulk.COPY_FROM = COPY_FROM if copy else sys.maxsize
    label = (
        f"{'statistics kept up' if analyze else 'statistics left to the database'}, "
        f"{'COPY' if copy else 'INSERT'}"
        f"{'' if args.figures else ', no figures'}"
    )
    run = Run(label)
    with tempfile.TemporaryDirectory() as folder:
        if args.backend == "sqlite":
            url = f"sqlite://{folder}/b.sqlite3"
            asyncio.run(ingest(url, path, run, args.figures, analyze, args.statements))
        else:
            url = asyncio.run(postgres_database())
            try:
                asyncio.run(ingest(url, path, run, args.figures, analyze, args.statements))
            finally:
                asyncio.run(drop_postgres(url))
    if args.series:
        print(" ".join(f"{b.seconds * 1000:.0f}" for b in run.batches))
    print(report(run), flush=True)
    return run


def section(args: argparse.Namespace, runs: list[Run]) -> None:
    backend = "PostgreSQL" if args.backend == "postgres" else "SQLite"
    corpus = "bench/api.py's" if args.corpus == "api" else "bench/ingest.py's"
    rows = "\n".join(
        f"| {r.label} | {r.messages / r.seconds:,.0f} msg/s | {r.edge(True) * 1000:,.0f} ms | "
        f"{r.edge(False) * 1000:,.0f} ms | **{r.edge(False) / r.edge(True):.2f}x** |"
        for r in runs
    )
    steps = "\n\n".join(f"```\n{report(r)}\n```" for r in runs)
    body = f"""
`python bench/batches.py --backend {args.backend} --corpus {args.corpus} --messages \
{args.messages} --compare`: {corpus} seeded mbox of {args.messages:,} messages into a fresh
{backend} database, ALL mode, figures {"kept" if args.figures else "off"}, batches of 500, one
process (no parse workers: a batch's commit also waits while the next one is parsed on the
event loop, the same for every batch). Flat: the median commit of the last {EDGE} batches over
that of the first {EDGE}.

| run | rate | commit, first {EDGE} | commit, last {EDGE} | last / first |
|---|---|---|---|---|
{rows}

Where each run's commits went (the steps of `Processor.commit`, then the statements over 1% of
the commits' time; first {EDGE} -> last {EDGE} batches, medians):

{steps}
"""
    write_section(
        f"ingest batch by batch, {backend}, {args.corpus} corpus (bench/batches.py)", body
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--corpus", choices=("small", "api"), default="api")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--no-figures", dest="figures", action="store_false")
    parser.add_argument("--no-analyze", dest="analyze", action="store_false")
    parser.add_argument("--no-copy", dest="copy", action="store_false", help="INSERTs only")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="run Mailroom's earlier way (no statistics, INSERTs) and the current one, and "
        "write the section of RESULTS.md",
    )
    parser.add_argument("--statements", action="store_true", help="time each statement too")
    parser.add_argument("--series", action="store_true", help="print every batch's commit")
    args = parser.parse_args()
    if args.corpus == "api":
        name = f"team-{args.messages}-{POPULATION.tag}.mbox"
        path = write_mbox(DATA / name, args.messages, population=POPULATION)
    else:
        path = write_mbox(DATA / f"team-{args.messages}.mbox", args.messages)
    if not args.compare:
        run_one(args, path, args.analyze, args.copy)
        return
    runs = [run_one(args, path, False, False), run_one(args, path, True, True)]
    section(args, runs)


if __name__ == "__main__":
    main()
