"""Mailroom's Prometheus metrics, in a registry of its own, served at `/metrics` by `serve`.

Every label takes its values from a fixed set (providers, mailbox states, reply names, the
schema's top-level fields), never from what a client, sender or server wrote, so no one can
make the series grow. Declaring a metric registers it and nothing else: like a logger, it costs
nothing until something is counted.

`serve` runs prometheus_client in its multiprocess mode (PROMETHEUS_MULTIPROC_DIR, a folder of
its own): each of its processes (the main one and its API workers) counts in files there, and
whichever answers a scrape reports the sum of all of them, so the answer does not depend on
which process took the connection. The gauges are read when the scrape comes (from the
database; the spool's count from the main process's board), by the process answering it; the
`process_*` series describe that process. Several `serve`s (on several machines) each report
their own: sum their counters; the gauges from the database are the same in every one: take
their maximum, not their sum.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

# A `_created` series beside every counter doubles what a scrape carries, for a start time
# Prometheus does not use.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

MESSAGES_STORED = Counter(
    "mailroom_messages_stored",
    "Messages processed into the store, by the provider of the mailbox that saw them and what "
    "became of them: new, duplicate (a copy of a message already stored), unchanged (the "
    "mailbox had it), failed (kept pending, to be retried)",
    ["provider", "outcome"],
    registry=REGISTRY,
)
SMTP_ACCEPTED = Counter(
    "mailroom_smtp_accepted",
    "Messages the SMTP gateway accepted (250 after DATA)",
    registry=REGISTRY,
)
SMTP_REFUSED = Counter(
    "mailroom_smtp_refused",
    "Connections, recipients and messages the SMTP gateway refused, by reason (the name of its "
    "reply: not_a_member, not_authenticated, too_big, rate_limited, ...)",
    ["reason"],
    registry=REGISTRY,
)
SYNC_PASSES = Counter(
    "mailroom_sync_passes",
    "Mailbox sync passes, by outcome: ok, or the class of error that ended them (transient, "
    "auth, protocol; mailroom.errors says what is done about each)",
    ["provider", "outcome"],
    registry=REGISTRY,
)
SYNC_PASS_SECONDS = Histogram(
    "mailroom_sync_pass_seconds",
    "How long a successful mailbox sync pass took",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "mailroom_api_requests",
    "GraphQL API requests, by operation type (query, mutation, none when refused before one "
    "was read), top-level field (other for fields not in the schema) and outcome (ok, error, "
    "invalid, unauthorized, rate_limited, too_large, bad_request, other)",
    ["type", "field", "outcome"],
    registry=REGISTRY,
)
API_SECONDS = Histogram(
    "mailroom_api_request_seconds",
    "GraphQL API request latency, by operation type and top-level field",
    ["type", "field"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)

JOBS = Counter(
    "mailroom_jobs",
    "Jobs `mailroom worker` ran, by task (sync_mailbox, reconcile_mailbox, ...) and outcome "
    "(ok, failed)",
    ["task", "outcome"],
    registry=REGISTRY,
)
JOB_SECONDS = Histogram(
    "mailroom_job_seconds",
    "How long a job ran, by task",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
    registry=REGISTRY,
)
JOB_LATENCY_SECONDS = Histogram(
    "mailroom_job_latency_seconds",
    "How long after it was due a job started (its deferral, or its scheduled time), by task: "
    "too few workers shows here first",
    ["task"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
    registry=REGISTRY,
)


@dataclass(frozen=True, slots=True)
class Reading:
    """The gauges: mailboxes by (provider, status) and the seconds since the least recently
    synced of them last synced (since it was connected, if it never has), read from the
    database at a scrape; pending messages, read then too; messages in the SMTP spool; on
    PostgreSQL, the jobs waiting and running by task (the queue's depth)."""

    mailboxes: dict[tuple[str, str], int] = field(default_factory=dict)
    lag: dict[tuple[str, str], float] = field(default_factory=dict)
    pending: int = 0
    spooled: int = 0
    jobs: dict[tuple[str, str], int] = field(default_factory=dict)  # (task, todo|doing)


class Gauges(Collector):
    """The gauges of the last `Reading`, as the process answering the scrape made it. Not
    prometheus_client's `Gauge`s: with several processes those would be one series per
    process, and a state no mailbox is in any more would keep its last lag."""

    def __init__(self) -> None:
        self.reading = Reading()  # replaced whole: a scrape sees one reading or the next

    def collect(self) -> Iterator[GaugeMetricFamily]:
        reading = self.reading
        labels = ["provider", "status"]
        mailboxes = GaugeMetricFamily(
            "mailroom_mailboxes",
            "Synced mailboxes (IMAP, ...) by state, read from the database at each scrape",
            labels=labels,
        )
        for key, count in reading.mailboxes.items():
            mailboxes.add_metric(list(key), count)
        lag = GaugeMetricFamily(
            "mailroom_sync_lag_seconds",
            "Seconds since the least recently synced mailbox in this state last synced (since "
            "it was connected, if it never has), read from the database at each scrape",
            labels=labels,
        )
        for key, seconds in reading.lag.items():
            lag.add_metric(list(key), seconds)
        yield mailboxes
        yield lag
        yield GaugeMetricFamily(
            "mailroom_ingest_pending_messages",
            "Messages stored as bytes and not yet processed (the database's pending rows), "
            "read at each scrape",
            value=reading.pending,
        )
        jobs = GaugeMetricFamily(
            "mailroom_jobs_queued",
            "Jobs in the queue (PostgreSQL) by task and status: todo (waiting, the queue's "
            "depth) and doing (running), read from the database at each scrape",
            labels=["task", "status"],
        )
        for (task, status), count in reading.jobs.items():
            jobs.add_metric([task, status], count)
        yield jobs
        yield GaugeMetricFamily(
            "mailroom_ingest_spooled_messages",
            "Messages the SMTP gateway has synced to its spool and not yet moved into the database",
            value=reading.spooled,
        )


GAUGES = Gauges()
REGISTRY.register(GAUGES)


def exposition(accept: str) -> tuple[bytes, str]:
    """The metrics in the format a scraper's Accept header asks for (OpenMetrics, or
    Prometheus's text format by default), and its content type. In prometheus_client's
    multiprocess mode (`serve`), the counters and histograms of every process, summed."""
    encode, content_type = choose_encoder(accept)
    # prometheus_client's own switch, read when it was imported (cli/server.py sets it).
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return encode(REGISTRY), content_type
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(GAUGES)
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return encode(registry), content_type
