"""Mailroom's Prometheus metrics, in a registry of its own, served at `/metrics` by `serve`.

Every label takes its values from a fixed set (providers, mailbox states, reply names, the
schema's top-level fields), never from what a client, sender or server wrote, so no one can
make the series grow. Declaring a metric registers it and nothing else: like a logger, it costs
nothing until something is counted.

With several `serve` processes, each reports what it did itself (the counters and histograms,
and the messages in its own spool): sum them across processes. The gauges read from the
database (mailboxes by state, sync lag, pending messages) are the same in every process: take
their maximum, not their sum.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.exposition import choose_encoder

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
MAILBOXES = Gauge(
    "mailroom_mailboxes",
    "Synced mailboxes (IMAP, ...) by state, read from the database at each scrape",
    ["provider", "status"],
    registry=REGISTRY,
)
SYNC_LAG = Gauge(
    "mailroom_sync_lag_seconds",
    "Seconds since the least recently synced mailbox in this state last synced (since it was "
    "connected, if it never has), read from the database at each scrape",
    ["provider", "status"],
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
PENDING = Gauge(
    "mailroom_ingest_pending_messages",
    "Messages stored as bytes and not yet processed (the database's pending rows), read at "
    "each scrape",
    registry=REGISTRY,
)
SPOOLED = Gauge(
    "mailroom_ingest_spooled_messages",
    "Messages this process's SMTP gateway has synced to its spool and not yet moved into the "
    "database",
    registry=REGISTRY,
)


def exposition(accept: str) -> tuple[bytes, str]:
    """The registry in the format a scraper's Accept header asks for (OpenMetrics, or
    Prometheus's text format by default), and its content type."""
    encode, content_type = choose_encoder(accept)
    return encode(REGISTRY), content_type
