"""The Mailroom process: `create_app(settings)` wires the database, the ingest pipeline, the
SMTP gateway and the HTTP API, and one lifespan starts and stops them in order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tortoise import connections

from mailroom.db import close_database, open_database, refresh_statistics
from mailroom.gateway.imap.poller import ImapPoller
from mailroom.gateway.ingest import Ingestor
from mailroom.gateway.pipeline import Pipeline
from mailroom.gateway.smtp.authenticity import Authenticator, TrustedRelays
from mailroom.gateway.smtp.dns import Lookups, make_resolver
from mailroom.gateway.smtp.handler import GatewayHandler
from mailroom.gateway.smtp.server import start_smtp_server
from mailroom.gateway.spool import Spool
from mailroom.gateway.workers import NormalizePool
from mailroom.graphql.endpoint import GraphQLEndpoint
from mailroom.models import Mailbox
from mailroom.settings import Settings
from mailroom.vault import Vault
from mailroom.workspaces import SYNCED_PROVIDERS

log = logging.getLogger(__name__)


async def health(request: Request) -> JSONResponse:
    """Up, and the database answers."""
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception:  # any failure means not healthy
        # The error goes to the log only: /health answers anyone, and a database's error can
        # name hosts, users and paths.
        log.exception("health check: the database does not answer")
        return JSONResponse({"status": "unavailable", "database": "unavailable"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


def authenticator(settings: Settings) -> Authenticator:
    lookups = Lookups(make_resolver(settings.dns_nameservers))
    relays = TrustedRelays.parse(settings.trusted_relay_networks, settings.trusted_authserv_ids)
    return Authenticator(lookups, relays)


@dataclass(frozen=True, slots=True)
class Services:
    pipeline: Pipeline
    smtp: asyncio.Server | None

    @property
    def smtp_port(self) -> int:
        assert self.smtp is not None, "the SMTP gateway is off"
        return int(self.smtp.sockets[0].getsockname()[1])


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Services]:
    """Everything but the web server: database, pipeline (after replaying what an earlier run
    left pending) and SMTP gateway. Stops them in reverse order."""
    async with AsyncExitStack() as stack:
        await open_database(settings)
        stack.push_async_callback(close_database)
        # Always at least one worker: a message is read within its time budget, and off the
        # event loop that answers the API and SMTP (normalize_workers 0 still means one here).
        pool = NormalizePool(settings.normalize_workers, settings.parse_timeout)
        pool.start()
        stack.callback(pool.close)
        ingestor = Ingestor(settings.limits, pool)
        spool = Spool(settings.data_dir / "spool") if settings.smtp_enabled else None
        pipeline = Pipeline(ingestor, spool, batch_size=settings.ingest_batch_size)
        recovered = await pipeline.start()
        if recovered.outcomes:
            log.info("took up %d messages left by an earlier run", len(recovered.outcomes))
        stack.push_async_callback(pipeline.stop)
        if settings.imap_enabled:
            await _check_secret_key(settings)
            poller = ImapPoller(settings, ingestor)
            poller.start()
            stack.push_async_callback(poller.stop)
        server = None
        if settings.smtp_enabled:
            handler = GatewayHandler(settings, pipeline, authenticator(settings))
            server = await start_smtp_server(settings, handler)
            stack.push_async_callback(_close_server, server)
        statistics = asyncio.create_task(_refresh_statistics_hourly())
        stack.callback(statistics.cancel)
        yield Services(pipeline, server)


async def _refresh_statistics_hourly() -> None:
    """Mail keeps arriving while serve runs: keep the planner's statistics current with it."""
    while True:
        await asyncio.sleep(3600)
        try:
            await refresh_statistics()
        except Exception:  # a failed sample must not stop the server; the next hour retries
            log.exception("could not refresh the database statistics")


async def _check_secret_key(settings: Settings) -> None:
    """Connected mailboxes need the key their credentials were sealed with: say so at start,
    not at each mailbox's first sync."""
    if await Mailbox.filter(provider__in=SYNCED_PROVIDERS).exists():
        Vault(settings.secret_key)


async def _close_server(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with running(settings) as services:
            app.state.services = services
            yield

    routes = [
        Route("/health", health),
        Route("/graphql", GraphQLEndpoint(settings), methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


async def run_server(settings: Settings) -> None:
    """Serve until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # aiosmtpd logs every command at INFO: a log line per SMTP command costs more than the
    # command. Its warnings (limits hit, bad input) still show.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    config = uvicorn.Config(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level="info",
        lifespan="on",
    )
    await uvicorn.Server(config).serve()
