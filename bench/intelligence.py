"""Benchmark of relationship intelligence on bench/api.py's database.

    python bench/intelligence.py [--messages 100000] [--runs 1]

bench/api.py's seeded mbox (`--messages`, about 10,000 contacts at 1,500 companies at 100,000)
is imported into fresh SQLite databases, in ALL record-creation mode, by the same import
(`mailroom ingest`'s), in each run once with the interactions, connections and figures kept
and once without them (`Intake(figures=False)`, as a bulk import that rebuilds at the end
would), alternating which goes first. Then:
  - the ingest rates, and with/without, whose median over the runs is the figure (target
    >= 0.9);
  - `mailroom intelligence rebuild` of the database imported without them: every figure made
    from scratch;
  - on the database that kept them: the p50 of `people(orderBy: CONNECTION_STRENGTH, first:
    50)` with each person's strength, strongest connection and last interaction, against
    bench/api.py's baseline `{ me { email } }`, both through the API's endpoint in this
    process, one request at a time, alternating.
The figures go to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.api import POPULATION, WORKSPACE, bench_mailbox  # noqa: E402
from bench.corpus import write_mbox  # noqa: E402
from bench.ingest import DATA, MEMBER  # noqa: E402
from bench.results import write_section  # noqa: E402
from mailroom.db import database  # noqa: E402
from mailroom.intake import Intake  # noqa: E402
from mailroom.models import Interaction, Person  # noqa: E402
from mailroom.settings import Settings  # noqa: E402
from mailroom.sources.files.formats import Kind, Source  # noqa: E402
from mailroom.sources.files.importer import import_sources  # noqa: E402
from mailroom.workspace import (  # noqa: E402
    create_token,
    get_member,
)

TARGET_RATIO = 0.9
QUERY_SAMPLES = 100
BASELINE = "{ me { email } }"
PEOPLE = """{ people(orderBy: CONNECTION_STRENGTH, first: 50) { nodes { id name
  strongestConnection { member { email } level score }
  lastInteraction { at member { email } } } } }"""


@dataclass
class Ingest:
    figures: bool
    seconds: float
    messages: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


async def ingest(url: str, path: Path, messages: int, figures: bool, batch: int) -> Ingest:
    """Import the mbox into a fresh database; the seconds of the import alone."""
    settings = Settings(database_url=url, ingest_batch_size=batch, normalize_workers=0)
    async with database(settings, create=True):
        box = await bench_mailbox()
        started = time.perf_counter()
        await import_sources(
            Intake(settings.limits, figures=figures),
            box,
            [Source(Kind.MBOX, path)],
            batch_size=batch,
        )
        return Ingest(figures, time.perf_counter() - started, messages)


async def rebuild(url: str) -> tuple[float, int]:
    from mailroom.intake.intelligence import rebuild_figures
    from mailroom.workspace import get_workspace

    async with database(Settings(database_url=url)):
        space = await get_workspace(WORKSPACE)
        started = time.perf_counter()
        count = await rebuild_figures(space.id)
        return time.perf_counter() - started, count


@dataclass
class QueryFigure:
    baseline_ms: float
    people_ms: float
    people: int
    interactions: int

    @property
    def ratio(self) -> float:
        return self.people_ms / self.baseline_ms


async def query_times(url: str) -> QueryFigure:
    import httpx
    from starlette.applications import Starlette
    from starlette.routing import Route

    from mailroom.graphql.endpoint import GraphQLEndpoint

    settings = Settings(database_url=url)
    async with database(settings):
        token = await create_token(await get_member(await _workspace(), MEMBER))
        people = await Person.all().count()
        interactions = await Interaction.all().count()
        app = Starlette(routes=[Route("/graphql", GraphQLEndpoint(settings), methods=["POST"])])
        headers = {"Authorization": f"Bearer {token}"}
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:

            async def ask(query: str) -> float:
                started = time.perf_counter()
                answer = await client.post("/graphql", json={"query": query}, headers=headers)
                spent = time.perf_counter() - started
                body: dict[str, Any] = answer.json()
                assert "errors" not in body, body
                return spent

            for _ in range(10):  # warm-up
                await ask(BASELINE)
                await ask(PEOPLE)
            baseline, page = [], []
            for _ in range(QUERY_SAMPLES):
                baseline.append(await ask(BASELINE))
                page.append(await ask(PEOPLE))
    return QueryFigure(
        statistics.median(baseline) * 1000, statistics.median(page) * 1000, people, interactions
    )


async def _workspace() -> Any:
    from mailroom.workspace import get_workspace

    return await get_workspace(WORKSPACE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    path = write_mbox(
        DATA / f"team-{args.messages}-{POPULATION.tag}.mbox", args.messages, population=POPULATION
    )
    ratios: list[float] = []
    runs: list[tuple[Ingest, Ingest]] = []
    with tempfile.TemporaryDirectory() as folder:
        kept_url = without_url = ""
        for run in range(args.runs):
            order = (True, False) if run % 2 == 0 else (False, True)
            found: dict[bool, Ingest] = {}
            for figures in order:
                url = f"sqlite://{folder}/{'kept' if figures else 'without'}-{run}.sqlite3"
                found[figures] = asyncio.run(
                    ingest(url, path, args.messages, figures, args.batch_size)
                )
                print(
                    f"run {run + 1}: figures {'kept' if figures else 'off'}: "
                    f"{found[figures].rate:,.0f} msg/s",
                    flush=True,
                )
                if figures:
                    kept_url = url
                else:
                    without_url = url
            runs.append((found[True], found[False]))
            ratios.append(found[True].rate / found[False].rate)
        rebuilt_seconds, rebuilt_count = asyncio.run(rebuild(without_url))
        print(f"rebuild: {rebuilt_seconds:.1f} s, {rebuilt_count:,} interactions", flush=True)
        query = asyncio.run(query_times(kept_url))
        print(f"people by strength: {query.people_ms:.1f} ms, baseline {query.baseline_ms:.1f} ms")
    ratio = statistics.median(ratios)
    met = "met" if ratio >= TARGET_RATIO else "**not met**"
    rows = "\n".join(
        f"| {i + 1} | {kept.rate:,.0f} msg/s | {off.rate:,.0f} msg/s | {kept.rate / off.rate:.2f} |"
        for i, (kept, off) in enumerate(runs)
    )
    rebuild_text = (
        f"{rebuilt_seconds:.1f} s ({rebuilt_count:,} interactions, "
        f"{rebuilt_count / rebuilt_seconds:,.0f} a second)"
    )
    people_text = f"{query.people_ms:.1f} ms"
    base_text = f"{query.baseline_ms:.1f} ms"
    body = f"""
`python bench/intelligence.py --messages {args.messages} --runs {args.runs}`: bench/api.py's
seeded mbox of {args.messages:,} messages ({query.people:,} people made in ALL mode) imported
into fresh SQLite databases by `mailroom ingest`'s import, in one process (no parse workers),
once keeping the interactions, connections and figures and once without them.

| run | figures kept | without | kept / without |
|---|---|---|---|
{rows}

**Ingest with intelligence against without: {ratio:.2f}** (median of {args.runs}; target
>= {TARGET_RATIO}: {met}).

| figure | value |
|---|---|
| interactions kept | {query.interactions:,} |
| full rebuild of the database imported without them | {rebuild_text} |
| `people(orderBy: CONNECTION_STRENGTH, first: 50)`, p50 of {QUERY_SAMPLES} | {people_text} |
| `{{ me {{ email }} }}` (bench/api.py's baseline), p50, same process and run | {base_text} |
| ratio | {query.ratio:.1f}x |

The rebuild is `mailroom intelligence rebuild`; the people query asks each person's strongest
connection (member, level, score) and last interaction (time and member).
"""
    write_section("Relationship intelligence (bench/intelligence.py)", body)


if __name__ == "__main__":
    main()
