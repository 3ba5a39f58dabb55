"""Benchmark of the GraphQL API over HTTP on a realistic database.

    python bench/api.py [--messages 100000] [--seconds 20] [--clients 32]

A seeded synthetic mailbox (bench/corpus.py; its population is tuned so that ingest makes about
10,000 people at 1,500 companies) is ingested, in ALL record-creation mode, into SQLite (built
once and kept under bench/data/) and into a fresh PostgreSQL database. On each, `mailroom serve`
(HTTP only, one process) answers `--clients` concurrent keep-alive clients that send one query
back to back for `--seconds`, after a short warm-up:
  baseline  `{ me { email } }`: token auth, HTTP and GraphQL, and no data;
  timeline  a person, their company and their last 50 emails with participants;
  company   a company page: its people and its last 50 emails;
  search    people by domain.
Each request asks about the next of a seeded sample of people, companies or domains, the same
ones on both databases. Requests per second and p50/p99 latency go to bench/RESULTS.md, with each
query's p50 as a ratio to the baseline's of the same server in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import uvloop
from tortoise import connections

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import MEMBERS, TEAM_DOMAIN, Population, write_mbox  # noqa: E402
from bench.ingest import DATA, MEMBER, drop_postgres, postgres_database  # noqa: E402
from bench.results import write_section  # noqa: E402
from bench.smtp import free_port  # noqa: E402
from mailroom.db import close_database, open_database  # noqa: E402
from mailroom.gateway.files import Kind, Source  # noqa: E402
from mailroom.gateway.importer import import_sources  # noqa: E402
from mailroom.gateway.ingest import Ingestor  # noqa: E402
from mailroom.gateway.workers import NormalizePool  # noqa: E402
from mailroom.models import Plan, RecordCreationMode  # noqa: E402
from mailroom.settings import Settings  # noqa: E402
from mailroom.workspaces import (  # noqa: E402
    add_member,
    create_token,
    create_workspace,
    get_member,
    get_workspace,
    import_mailbox,
)

# Flatter than the corpus's default population, so that 100,000 messages reach about 10,000
# contacts and 1,500 companies (with the defaults they reach some 3,000 and 70); the first few
# contacts and companies still carry much of the mail. Measured counts go to RESULTS.md.
POPULATION = Population(contacts=10_500, companies=1_550, contact_skew=0.25, domain_skew=0.1)
WORKSPACE = "bench"
TARGET_P99_MS = 100.0
SAMPLE = 200  # people, companies and domains asked about, in turn
MIN_EMAILS = 10  # a timeline sampled is of someone with at least this many emails
SEED = 11
T = TypeVar("T")

ME = "{ me { email } }"
TIMELINE = """query($id: ID!) { person(id: $id) { id name emails company { id name domains }
  messages(first: 50) { nodes { id subject sentAt visibility
    participants { role address name person { id } } } } } }"""
COMPANY = """query($id: ID!) { company(id: $id) { id name domains
  people(first: 50) { nodes { id name emails } }
  emails(first: 50) { nodes { id subject sentAt visibility participants { role address name } } }
} }"""
SEARCH = """query($d: String) { people(first: 50, filter: {domain: $d}) {
  nodes { id name emails company { id name } } } }"""


@dataclass(frozen=True, slots=True)
class Workload:
    name: str
    document: str
    variables: list[dict[str, str]]  # taken in turn, one per request
    found: str  # the top-level field that must not come back null


@dataclass(frozen=True, slots=True)
class Inputs:
    token: str
    people: list[str]
    companies: list[str]
    domains: list[str]

    def workloads(self) -> list[Workload]:
        return [
            Workload("baseline `{ me { email } }`", ME, [{}], "me"),
            Workload("person timeline", TIMELINE, [{"id": i} for i in self.people], "person"),
            Workload("company page", COMPANY, [{"id": i} for i in self.companies], "company"),
            Workload("people search by domain", SEARCH, [{"d": d} for d in self.domains], "people"),
        ]


@dataclass(frozen=True, slots=True)
class Counts:
    messages: int
    people: int
    companies: int


@dataclass(frozen=True, slots=True)
class Run:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]  # seconds, every request
    server_cpu: float  # the server process's CPU time over wall time (1.0 = one core)
    client_cpu: float  # the same for this process, the load generator

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: int) -> float:
        """Milliseconds."""
        return statistics.quantiles(self.latencies, n=100)[p - 1] * 1000


# --- the database --------------------------------------------------------------------------


async def build(database_url: str, path: Path, batch_size: int) -> None:
    """The workspace, its members and alice's import of the mbox, people made for every
    address (ALL: SELECTIVE would make them only for mail the team sent)."""
    settings = Settings(database_url=database_url, ingest_batch_size=batch_size)
    await open_database(settings)
    try:
        workspace = await create_workspace(WORKSPACE, "Bench", Plan.ENTERPRISE)
        workspace.record_creation_mode = RecordCreationMode.ALL
        await workspace.save()
        for name in MEMBERS:
            await add_member(workspace, f"{name}@{TEAM_DOMAIN}")
        box = await import_mailbox(await get_member(workspace, MEMBER))
        pool = NormalizePool(settings.normalize_workers) if settings.normalize_workers else None
        try:
            await import_sources(
                Ingestor(settings.limits, pool),
                box,
                [Source(Kind.MBOX, path)],
                batch_size=batch_size,
            )
        finally:
            if pool is not None:
                pool.close()
    finally:
        await close_database()


def sqlite_database(path: Path, messages: int, batch_size: int) -> str:
    """The SQLite database of `path`, built once: ingest is the slow part of a run."""
    target = DATA / f"api-{messages}-{POPULATION.tag}.sqlite3"
    if not target.exists():
        partial = target.with_suffix(".partial")
        for stale in partial.parent.glob(partial.name + "*"):
            stale.unlink()
        timed(
            f"SQLite ingest of {messages:,} messages",
            build(f"sqlite://{partial}", path, batch_size),
        )
        partial.rename(target)
    return f"sqlite://{target}"


def timed(what: str, work: Coroutine[Any, Any, T]) -> T:
    print(f"{what} ...", flush=True)
    start = time.perf_counter()
    result = asyncio.run(work)
    print(f"{what}: {time.perf_counter() - start:.0f} s", flush=True)
    return result


async def prepare(database_url: str) -> tuple[Counts, Inputs]:
    """The dataset's counts, a fresh token for alice, and the samples the queries ask about,
    chosen by address and domain so that both databases are asked about the same ones."""
    await open_database(Settings(database_url=database_url))
    try:
        member = await get_member(await get_workspace(WORKSPACE), MEMBER)
        token = await create_token(member)
        counts = Counts(
            await _count("SELECT COUNT(*) AS n FROM message"),
            await _count(f"SELECT COUNT(*) AS n FROM person WHERE id NOT IN ({_TEAM_PEOPLE})"),
            await _count(f"SELECT COUNT(*) AS n FROM company WHERE id NOT IN ({_TEAM_COMPANIES})"),
        )
        people = await _sample(
            "SELECT MIN(address) AS key, person_id AS id FROM person_email "
            f"WHERE person_id NOT IN ({_TEAM_PEOPLE}) AND person_id IN ("
            " SELECT person_id FROM participant WHERE person_id IS NOT NULL"
            f" GROUP BY person_id HAVING COUNT(DISTINCT message_id) >= {MIN_EMAILS}"
            ") GROUP BY person_id"
        )
        companies = await _sample(
            "SELECT MIN(domain) AS key, company_id AS id FROM company_domain "
            f"WHERE company_id NOT IN ({_TEAM_COMPANIES}) GROUP BY company_id"
        )
    finally:
        await close_database()
    inputs = Inputs(
        token, [i for _, i in people], [i for _, i in companies], [k for k, _ in companies]
    )
    return counts, inputs


# The team's own records, which the API never shows as contacts.
_TEAM_PEOPLE = f"SELECT person_id FROM person_email WHERE domain = '{TEAM_DOMAIN}'"
_TEAM_COMPANIES = f"SELECT company_id FROM company_domain WHERE domain = '{TEAM_DOMAIN}'"


async def _count(sql: str) -> int:
    rows = await connections.get("default").execute_query_dict(sql)
    return int(rows[0]["n"])


async def _sample(sql: str) -> list[tuple[str, str]]:
    """`SAMPLE` (key, id) rows, seeded, picked by key: the ids differ between databases."""
    rows = await connections.get("default").execute_query_dict(sql)
    keyed = sorted((str(r["key"]), str(r["id"])) for r in rows)
    return random.Random(SEED).sample(keyed, min(SAMPLE, len(keyed)))


# --- the server ----------------------------------------------------------------------------


@contextmanager
def server(database_url: str) -> Iterator[tuple[str, psutil.Process]]:
    """`mailroom serve` with only its HTTP API, on a free loopback port: (base URL, process)."""
    port = free_port()
    with tempfile.TemporaryDirectory() as folder:
        env = {
            **os.environ,
            "MAILROOM_DATA_DIR": folder,
            "MAILROOM_DATABASE_URL": database_url,
            "MAILROOM_HTTP_HOST": "127.0.0.1",
            "MAILROOM_HTTP_PORT": str(port),
            "MAILROOM_SMTP_ENABLED": "false",
            "MAILROOM_IMAP_ENABLED": "false",
            # Nothing is ingested while the API is measured: no parser process beside it.
            "MAILROOM_NORMALIZE_WORKERS": "0",
            # 32 clients far exceed the default 600 requests a minute per token.
            "MAILROOM_API_REQUESTS_PER_MINUTE": "1000000000",
        }
        env.pop("MAILROOM_CONFIG", None)
        log = Path(folder) / "serve.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "mailroom", "serve"], env=env, stdout=out, stderr=out
            )
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process, log)
            yield url, psutil.Process(process.pid)
        finally:
            process.terminate()
            process.wait(30)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"mailroom serve exited: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("mailroom serve did not become healthy in 120 s")


# --- the load ------------------------------------------------------------------------------


def check(url: str, token: str, workload: Workload) -> str:
    """One request, read in full: the query must answer, without errors, about something."""
    response = httpx.post(
        f"{url}/graphql",
        json={"query": workload.document, "variables": workload.variables[0]},
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    body = response.json()
    data = body.get("data") or {}
    if response.status_code != 200 or body.get("errors") or data.get(workload.found) is None:
        raise RuntimeError(f"{workload.name}: {response.status_code} {str(body)[:1000]}")
    return f"{len(response.content):,} bytes"


async def load(
    url: str, token: str, workload: Workload, clients: int, seconds: float, server: psutil.Process
) -> Run:
    """`clients` tasks, each sending the next request as soon as its last one is answered."""
    turn = itertools.cycle(workload.variables)
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {token}"}

    async def client(http: httpx.AsyncClient, stop: float) -> None:
        nonlocal errors
        while time.perf_counter() < stop:
            payload = {"query": workload.document, "variables": next(turn)}
            start = time.perf_counter()
            response = await http.post("/graphql", json=payload)
            latencies.append(time.perf_counter() - start)
            # Cheaper than parsing every answer: inside a JSON string the quotes would be
            # escaped, so `"errors":` only occurs as the key of GraphQL errors.
            if response.status_code != 200 or b'"errors":' in response.content:
                errors += 1

    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits, timeout=60) as http:
        server_before, client_before = _cpu(server), time.process_time()
        start = time.perf_counter()
        await asyncio.gather(*(client(http, start + seconds) for _ in range(clients)))
        elapsed = time.perf_counter() - start
        server_cpu = (_cpu(server) - server_before) / elapsed
        client_cpu = (time.process_time() - client_before) / elapsed
    return Run(len(latencies), errors, elapsed, latencies, server_cpu, client_cpu)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def measure(
    database_url: str, inputs: Inputs, args: argparse.Namespace
) -> list[tuple[Workload, Run]]:
    results = []
    with server(database_url) as (url, process):
        for workload in inputs.workloads():
            print(f"  {workload.name}: first answer {check(url, inputs.token, workload)}")
            if args.warmup:
                uvloop.run(load(url, inputs.token, workload, args.clients, args.warmup, process))
            run = uvloop.run(load(url, inputs.token, workload, args.clients, args.seconds, process))
            print(f"  {_line(workload, run)}", flush=True)
            results.append((workload, run))
    return results


def _line(workload: Workload, run: Run) -> str:
    return (
        f"{workload.name}: {run.rps:,.0f} req/s, p50 {run.percentile(50):.1f} ms, "
        f"p99 {run.percentile(99):.1f} ms, {run.errors} errors of {run.requests:,}; "
        f"CPU server {run.server_cpu:.0%}, load generator {run.client_cpu:.0%}"
    )


# --- the report ----------------------------------------------------------------------------


def rows(backend: str, results: list[tuple[Workload, Run]]) -> list[str]:
    base = results[0][1].percentile(50)
    lines = []
    for workload, run in results:
        p50, p99 = run.percentile(50), run.percentile(99)
        baseline = workload.document == ME
        met = "met" if p99 < TARGET_P99_MS else "NOT met"
        lines.append(
            f"| {workload.name} | {backend} | {run.rps:,.0f} | {p50:.1f} ms | {p99:.1f} ms "
            f"| {'baseline' if baseline else f'**{p50 / base:.1f}x**'} "
            f"| {run.errors} of {run.requests:,} "
            f"| {run.server_cpu:.0%} / {run.client_cpu:.0%} "
            f"| {'' if baseline else f'< {TARGET_P99_MS:.0f} ms: {met}'} |"
        )
    return lines


def report(
    counts: Counts, args: argparse.Namespace, results: dict[str, list[tuple[Workload, Run]]]
) -> str:
    table = [
        "| query | backend | req/s | p50 | p99 | p50 / baseline p50 | errors "
        "| CPU server / load generator | target (p99) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for backend, found in results.items():
        table += rows(backend, found)
    return (
        f"A database made by ingest of a seeded synthetic mailbox of {counts.messages:,} "
        f"messages into alice's import mailbox, record creation ALL: {counts.people:,} people at "
        f"{counts.companies:,} companies (the team's own records left out, as the API does). "
        f"One `mailroom serve` process (uvicorn on uvloop, HTTP API only) on loopback; "
        f"{args.clients} concurrent keep-alive clients (httpx, in one other process) send "
        f"one query back to back for {args.seconds:g} s after a {args.warmup:g} s warm-up, "
        f"taking in turn {SAMPLE} seeded people (of those with at least {MIN_EMAILS} emails), "
        f"companies or company domains, the same on both databases. Alice's token sees every "
        "email in full. Latency is per request as the client saw it; CPU is each process's "
        "CPU time over the wall time (100% = one of the 2 cores; PostgreSQL's own processes "
        "take theirs from the same two cores).\n\n" + "\n".join(table) + "\n"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    started = time.perf_counter()

    name = f"team-{args.messages}-{POPULATION.tag}.mbox"
    path = write_mbox(DATA / name, args.messages, population=POPULATION)
    results: dict[str, list[tuple[Workload, Run]]] = {}

    sqlite_url = sqlite_database(path, args.messages, args.batch_size)
    counts, inputs = asyncio.run(prepare(sqlite_url))
    print(f"SQLite: {counts}", flush=True)
    results["SQLite"] = measure(sqlite_url, inputs, args)

    pg_url = asyncio.run(postgres_database())
    try:
        timed(
            f"PostgreSQL ingest of {args.messages:,} messages", build(pg_url, path, args.batch_size)
        )
        pg_counts, pg_inputs = asyncio.run(prepare(pg_url))
        print(f"PostgreSQL: {pg_counts}", flush=True)
        results["PostgreSQL"] = measure(pg_url, pg_inputs, args)
    finally:
        asyncio.run(drop_postgres(pg_url))

    body = report(counts, args, results)
    write_section("api (bench/api.py)", body)
    print(body)
    print(f"whole run: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
