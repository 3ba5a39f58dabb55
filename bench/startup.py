"""Benchmark of what a person waits for before any mail moves: the command line's start, and
whether a small import pays for a normalize worker.

    python bench/startup.py [--rounds 15]

In one run:
  (a) `python -c pass` in the project's interpreter, the baseline; (b) `mailroom --help` and
      (c) `mailroom --version` as installed (the console script); rounds alternate, medians kept.
  (d) importing mboxes of 100 to 10,000 messages into SQLite with one normalize worker process
      (its start included, as `mailroom ingest` pays it) against none, to place the size from
      which `mailroom ingest` starts workers (`bootstrap.WORKERS_PAY_FROM`).
Figures go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import MEMBERS, TEAM_DOMAIN, write_mbox  # noqa: E402
from bench.results import write_section  # noqa: E402
from mailroom.bootstrap import WORKERS_PAY_FROM, intake_for  # noqa: E402
from mailroom.db import database  # noqa: E402
from mailroom.models import Plan  # noqa: E402
from mailroom.settings import Settings  # noqa: E402
from mailroom.sources.files.formats import Kind, Source  # noqa: E402
from mailroom.sources.files.importer import import_sources  # noqa: E402
from mailroom.workspace import add_member, create_workspace, get_member, import_mailbox  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
SIZES = (100, 300, 1000, 3000, 10000)
TARGET_HELP = 0.25  # seconds, the bound for --help and --version


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def command_times(rounds: int) -> dict[str, float]:
    script = str(Path(sys.executable).with_name("mailroom"))
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "mailroom --help": [script, "--help"],
        "mailroom --version": [script, "--version"],
    }
    for command in commands.values():
        timed(command)  # the files in the page cache, as on every start but the first
    found: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):
        for name, command in commands.items():
            found[name].append(timed(command))
    return {name: statistics.median(times) for name, times in found.items()}


async def import_seconds(path: Path, workers: int, folder: Path) -> float:
    settings = Settings(data_dir=folder, normalize_workers=workers)
    async with database(settings):
        workspace = await create_workspace("bench", "Bench", Plan.ENTERPRISE)
        for name in MEMBERS:
            await add_member(workspace, f"{name}@{TEAM_DOMAIN}")
        box = await import_mailbox(await get_member(workspace, f"alice@{TEAM_DOMAIN}"))
        start = time.perf_counter()
        # As `mailroom ingest` does, but told the workers to use rather than left to choose.
        async with intake_for(settings, untrusted=False) as intake:
            await import_sources(intake, box, [Source(Kind.MBOX, path)])
        return time.perf_counter() - start


def import_times(rounds: int) -> dict[int, tuple[float, float]]:
    found = {}
    for size in SIZES:
        path = write_mbox(DATA / f"startup-{size}.mbox", size)
        without, with_one = [], []
        for _ in range(rounds):
            for workers, times in ((0, without), (1, with_one)):
                with tempfile.TemporaryDirectory() as folder:
                    times.append(asyncio.run(import_seconds(path, workers, Path(folder))))
        found[size] = (statistics.median(without), statistics.median(with_one))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--import-rounds", type=int, default=3)
    args = parser.parse_args()
    commands = command_times(args.rounds)
    imports = import_times(args.import_rounds)
    base = commands["python -c pass"]
    rows = "\n".join(
        f"| `{name}` | {seconds * 1000:.0f} ms | {seconds / base:.1f}x | "
        f"{(seconds - base) * 1000:+.0f} ms |"
        for name, seconds in commands.items()
    )
    sizes = "\n".join(
        f"| {size:,} | {without:.2f} s | {with_one:.2f} s | {without / with_one:.2f} |"
        for size, (without, with_one) in imports.items()
    )
    worst = max(commands["mailroom --help"], commands["mailroom --version"])
    met = "met" if worst < TARGET_HELP else "NOT met"
    write_section(
        "startup (bench/startup.py)",
        f"""
Medians of {args.rounds} alternating runs of each command (the console script in the project's
virtual environment, files in the page cache):

| command | median | against `python -c pass` | added |
|---|---|---|---|
{rows}

Target: `--help` and `--version` under {TARGET_HELP} s: **{met}** ({worst * 1000:.0f} ms). They
import only typer and the command modules; each command imports the database, the parser or
the server when it runs.

Importing an mbox into SQLite with one normalize worker (its start included) against none,
medians of {args.import_rounds} (ratio > 1: the worker pays for itself):

| messages | no worker | one worker | no worker / one worker |
|---|---|---|---|
{sizes}

`mailroom ingest` starts workers from {WORKERS_PAY_FROM:,} messages (`bootstrap.WORKERS_PAY_FROM`).
""",
    )
    print(rows, sizes, sep="\n")


if __name__ == "__main__":
    main()
