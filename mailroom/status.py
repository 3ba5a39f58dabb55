"""What `serve` reports about itself: `/health` (the database, the SMTP gateway, the pollers and
their mailboxes by state), `/metrics` (with the gauges read from the database at each scrape)
and the banner it logs when it starts. With API workers, every process answers both alike: how
the main process's services are comes from the board it publishes on (apiworkers.py).

`/health` answers anyone, so it says how things are and never why: an error's text can name
hosts, users and paths, and goes to the log only. A component that should run and does not
makes the answer `503`; mailboxes that need their owner (NEEDS_REAUTH, FAILED) do not.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from tortoise.expressions import F
from tortoise.functions import Coalesce, Count, Min

from mailroom import logs
from mailroom.apiworkers import Board, Running
from mailroom.bootstrap import Services
from mailroom.db import redacted
from mailroom.jobs.depth import queued_jobs
from mailroom.metrics import GAUGES, Reading, exposition
from mailroom.models import Mailbox, MailboxStatus, PendingIngest
from mailroom.settings import Settings
from mailroom.workspace import SYNCED_PROVIDERS

log = logging.getLogger(__name__)
# (provider, status) -> (mailboxes, the oldest last sync, or connection if never synced)
States = dict[tuple[str, str], tuple[int, datetime]]
PUBLISH_EVERY = 1.0  # seconds: how late /health may be with API workers


async def health(request: Request) -> JSONResponse:
    """Up, the database answers, and the SMTP gateway and the pollers run where they should."""
    found = _running(request)
    body: dict[str, Any] = {"status": "ok", "database": "ok"}
    try:
        states = await mailbox_states()
    except Exception:  # any failure means not healthy
        log.exception("health check: the database does not answer")
        body["database"], states = "unavailable", None
    if found is not None:
        body["smtp"] = found.smtp
        body["pollers"] = _pollers(found, states)
    healthy = body["database"] == "ok" and "stopped" not in (
        body.get("smtp"),
        body.get("pollers", {}).get("status"),
    )
    if not healthy:
        body["status"] = "unavailable"
    return JSONResponse(body, status_code=200 if healthy else 503)


def running_of(services: Services) -> Running:
    """How this process's SMTP gateway and pollers are now."""
    smtp = "off"
    if services.smtp is not None:
        smtp = "listening" if services.smtp.is_serving() else "stopped"
    pollers = "off"
    if services.pollers:
        pollers = "running" if all(p.running for p in services.pollers) else "stopped"
    return Running(smtp, pollers, services.pipeline.spooled)


async def keep_publishing(board: Board, services: Services) -> None:
    """Publish how the services are for the API workers' /health, every `PUBLISH_EVERY`
    seconds, until cancelled."""
    while True:
        board.publish(running_of(services))
        await asyncio.sleep(PUBLISH_EVERY)


def _running(request: Request) -> Running | None:
    """From the board when there is one (API workers), else from this process's services."""
    board: Board | None = getattr(request.app.state, "board", None)
    if board is not None:
        return board.read()
    services: Services | None = getattr(request.app.state, "services", None)
    return running_of(services) if services is not None else None


def _pollers(found: Running, states: States | None) -> dict[str, Any]:
    if found.pollers == "off":
        return {"status": "off"}
    result: dict[str, Any] = {"status": found.pollers}
    if states is not None:
        counts = dict.fromkeys((s.value for s in MailboxStatus), 0)
        for (_, status), (count, _) in states.items():
            counts[status] += count
        result["mailboxes"] = counts
    return result


async def mailbox_states() -> States:
    """Synced mailboxes (IMAP, ...) by provider and state, in one query."""
    # Tortoise takes a function inside an aggregate, though its annotation says otherwise.
    oldest = Min(Coalesce(F("last_synced_at"), F("created_at")))  # type: ignore[arg-type]
    rows = (
        await Mailbox.filter(provider__in=SYNCED_PROVIDERS)
        .annotate(count=Count("id"), oldest=oldest)
        .group_by("provider", "status")
        .values_list("provider", "status", "count", "oldest")
    )
    return {(str(p), str(s)): (int(n), oldest) for p, s, n, oldest in rows}


async def metrics(request: Request) -> Response:
    """Prometheus's scrape: the counters of every `serve` process, and the gauges read now."""
    found = _running(request)
    spooled = found.spooled if found is not None else 0
    try:
        states = await mailbox_states()
        pending = await PendingIngest.all().count()
        jobs = await queued_jobs()
    except Exception:  # the scrape still answers, with the gauges as last read
        log.exception("metrics: the database does not answer")
        GAUGES.reading = replace(GAUGES.reading, spooled=spooled)
    else:
        GAUGES.reading = replace(_reading(states, pending, spooled), jobs=jobs)
    body, content_type = exposition(request.headers.get("accept", ""))
    return Response(body, media_type=content_type)


def _reading(states: States, pending: int, spooled: int) -> Reading:
    now = datetime.now(UTC)
    counts: dict[tuple[str, str], int] = {}
    for provider in SYNCED_PROVIDERS:
        for status in MailboxStatus:
            counts[(provider.value, status.value)] = 0
    lag: dict[tuple[str, str], float] = {}
    for key, (count, oldest) in states.items():
        counts[key] = count
        lag[key] = max(0.0, (now - oldest).total_seconds())
    return Reading(counts, lag, pending, spooled)


def log_banner(settings: Settings, services: Services) -> None:
    """One line with where everything is, when `serve` starts."""
    base = f"http://{_host(settings.http_host)}:{settings.http_port}"
    line = logs.fields(
        api=f"{base}/graphql",
        graphiql=f"{base}/graphql" if settings.graphiql else None,
        metrics=metrics_url(settings),
        smtp=",".join(services.smtp_addresses) or "off",
        mail_domain=settings.mail_domain,
        imap="on" if services.poller is not None else "off",
        gmail="on" if services.gmail is not None else "off",
        microsoft="on" if services.graph is not None else "off",
        caldav="on" if services.caldav is not None else "off",
        database=redacted(settings.database_url),
    )
    log.info("Mailroom %s started", _version(), extra=line)


def metrics_url(settings: Settings) -> str | None:
    if not settings.metrics_enabled:
        return None
    if settings.metrics_port is None:
        return f"http://{_host(settings.http_host)}:{settings.http_port}/metrics"
    return f"http://{_host(settings.metrics_host)}:{settings.metrics_port}/metrics"


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _version() -> str:
    try:
        return version("mailroom")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "(unknown version)"
