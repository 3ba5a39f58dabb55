"""Composition: the one place that builds Mailroom's services from settings, for `serve`
(`running`), `mailroom ingest` and `mailroom mailbox sync` (`intake_for`). Nothing is built at
import time; everything built here is stopped here, in reverse order."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from mailroom.db import close_database, open_database, refresh_statistics
from mailroom.intake import Intake
from mailroom.intake.events import CalendarRules
from mailroom.intake.intelligence import settle_workspaces
from mailroom.intake.pipeline import Pipeline
from mailroom.intake.spool import Spool
from mailroom.intake.workers import NormalizePool
from mailroom.models import Mailbox
from mailroom.settings import Settings
from mailroom.sources.caldav.poller import CalDavPoller
from mailroom.sources.gmail.poller import GmailPoller
from mailroom.sources.graph.poller import GraphPoller
from mailroom.sources.imap.poller import ImapPoller
from mailroom.sources.smtp.authenticity import Authenticator, TrustedRelays
from mailroom.sources.smtp.dns import Lookups, make_resolver
from mailroom.sources.smtp.handler import GatewayHandler
from mailroom.sources.smtp.server import start_smtp_server
from mailroom.sources.supervision import Poller
from mailroom.vault import Vault
from mailroom.workspace.mailboxes import SYNCED_PROVIDERS

log = logging.getLogger(__name__)


# A normalize worker is a spawned interpreter that imports the parsing stack before it reads a
# message (about half a second on 2 cores). bench/startup.py times imports with one worker and
# with none (bench/RESULTS.md): the worker loses up to about 2,000 messages (100: 0.13 s
# against 0.76 s; 1,000: 1.4 s against 1.9 s) and wins beyond (3,000: 1.2x; 10,000: 1.4x).
WORKERS_PAY_FROM = 2000


@asynccontextmanager
async def intake_for(
    settings: Settings, *, untrusted: bool, messages: int | None = None
) -> AsyncIterator[Intake]:
    """The intake port with its normalize pool. `untrusted` input (anything a server or a
    sender wrote) is always read in worker processes, within the parse time budget and off the
    event loop, even when `normalize_workers` is 0; the operator's own files are read in this
    process when no workers are asked for, or when they hold fewer `messages` than a worker's
    start costs (`WORKERS_PAY_FROM`)."""
    workers = settings.normalize_workers
    if messages is not None and messages < WORKERS_PAY_FROM:
        workers = 0
    pool = NormalizePool(workers, settings.parse_timeout) if untrusted or workers else None
    if pool is not None:
        pool.start()
    try:
        yield Intake(settings.limits, pool, calendar_rules(settings))
    finally:
        if pool is not None:
            pool.close()


def calendar_rules(settings: Settings) -> CalendarRules:
    return CalendarRules(
        days_back=settings.calendar_days_back,
        days_ahead=settings.calendar_days_ahead,
        max_occurrences=settings.calendar_max_occurrences,
        max_attendees=settings.calendar_max_attendees,
    )


def authenticator(settings: Settings) -> Authenticator:
    lookups = Lookups(make_resolver(settings.dns_nameservers))
    relays = TrustedRelays.parse(settings.trusted_relay_networks, settings.trusted_authserv_ids)
    return Authenticator(lookups, relays)


@dataclass(frozen=True, slots=True)
class Services:
    pipeline: Pipeline
    smtp: asyncio.Server | None
    poller: ImapPoller | None = None
    gmail: GmailPoller | None = None
    graph: GraphPoller | None = None
    caldav: CalDavPoller | None = None

    @property
    def pollers(self) -> list[Poller]:
        """The pollers that run: one per synced provider that is on."""
        return [p for p in (self.poller, self.gmail, self.graph, self.caldav) if p is not None]

    @property
    def smtp_port(self) -> int:
        assert self.smtp is not None, "the SMTP gateway is off"
        return int(self.smtp.sockets[0].getsockname()[1])

    @property
    def smtp_addresses(self) -> list[str]:
        """Where the SMTP gateway listens, `host:port` (`[host]:port` for IPv6)."""
        if self.smtp is None:
            return []
        found = (s.getsockname() for s in self.smtp.sockets)
        return [f"[{a[0]}]:{a[1]}" if ":" in a[0] else f"{a[0]}:{a[1]}" for a in found]


@dataclass(frozen=True, slots=True)
class Roles:
    """What one `serve` process does. Everything, by default: the embedded way, and on SQLite
    the only one that needs nothing else. At scale (PostgreSQL), processes with one role each:
    `api` (the HTTP API, stateless, any number of them), `smtp` (the receiver, which then
    commits each message's bytes to the database before its `250`, not to a spool on its own
    disk: another node can take them up), and `mailroom worker` for the syncing and the
    background work that `sync` names here."""

    api: bool = True
    smtp: bool = True
    sync: bool = True  # pollers, meetings settled, statistics refreshed: the workers' jobs

    @classmethod
    def only(cls, *, api: bool, smtp: bool) -> Roles:
        """The roles asked for by `serve --api` / `--smtp`; neither means everything."""
        if not api and not smtp:
            return cls()
        return cls(api=api, smtp=smtp, sync=False)

    @property
    def everything(self) -> bool:
        return self.api and self.smtp and self.sync


EVERYTHING = Roles()


@asynccontextmanager
async def running(settings: Settings, roles: Roles = EVERYTHING) -> AsyncIterator[Services]:
    """Everything but the web server that `roles` asks for: database, pipeline (after
    replaying what an earlier run left pending), SMTP gateway, pollers and background loops.
    Stops them in reverse order."""
    async with AsyncExitStack() as stack:
        await open_database(settings)
        stack.push_async_callback(close_database)
        intake = await stack.enter_async_context(intake_for(settings, untrusted=True))
        smtp = settings.smtp_enabled and roles.smtp
        # A receiver of several on PostgreSQL commits to the database before it answers: a
        # spool on its own disk would be lost with the machine.
        spooled = smtp and (roles.everything or settings.database_url.startswith("sqlite:"))
        spool = Spool(settings.data_dir / "spool") if spooled else None
        pipeline = Pipeline(intake, spool, batch_size=settings.ingest_batch_size)
        if smtp or roles.sync:
            recovered = await pipeline.start()
            if recovered.outcomes:
                log.info("took up %d messages left by an earlier run", len(recovered.outcomes))
            stack.push_async_callback(pipeline.stop)
        if not roles.sync:
            server = await _smtp_server(settings, pipeline, stack) if smtp else None
            yield Services(pipeline, server)
            return
        poller = None
        if settings.imap_enabled:
            await _check_secret_key(settings)
            poller = ImapPoller(settings, intake)
            poller.start()
            stack.push_async_callback(poller.stop)
        gmail = None
        if settings.gmail_enabled:
            await _check_secret_key(settings)
            gmail = GmailPoller(settings, intake)
            gmail.start()
            stack.push_async_callback(gmail.stop)
        graph = None
        if settings.graph_enabled:
            await _check_secret_key(settings)
            graph = GraphPoller(settings, intake)
            graph.start()
            stack.push_async_callback(graph.stop)
        caldav = None
        if settings.caldav_enabled and settings.calendar_enabled:
            await _check_secret_key(settings)
            caldav = CalDavPoller(settings)
            caldav.start()
            stack.push_async_callback(caldav.stop)
        server = await _smtp_server(settings, pipeline, stack) if smtp else None
        statistics = asyncio.create_task(_refresh_statistics_hourly())
        stack.callback(statistics.cancel)
        settler = asyncio.create_task(_settle_meetings(settings.settle_seconds))
        stack.callback(settler.cancel)
        yield Services(pipeline, server, poller, gmail, graph, caldav)


async def _smtp_server(
    settings: Settings, pipeline: Pipeline, stack: AsyncExitStack
) -> asyncio.Server:
    handler = GatewayHandler(settings, pipeline, authenticator(settings))
    server = await start_smtp_server(settings, handler)
    stack.push_async_callback(_close_server, server)
    return server


async def _refresh_statistics_hourly() -> None:
    """Mail keeps arriving while serve runs: keep the planner's statistics current with it."""
    while True:
        await asyncio.sleep(3600)
        try:
            await refresh_statistics()
        except Exception:  # a failed sample must not stop the server; the next hour retries
            log.exception("could not refresh the database statistics")


async def _settle_meetings(every: float) -> None:
    """Meetings count in relationship figures once they begin: count those that have."""
    while True:
        try:
            await settle_workspaces()
        except Exception:  # one failed pass must not stop the server; the next one retries
            log.exception("could not count the meetings that began")
        await asyncio.sleep(every)


async def _check_secret_key(settings: Settings) -> None:
    """Connected mailboxes need the key their credentials were sealed with: say so at start,
    not at each mailbox's first sync."""
    if await Mailbox.filter(provider__in=SYNCED_PROVIDERS).exists():
        Vault(settings.secret_key)


async def _close_server(server: asyncio.Server) -> None:
    server.close()
    await server.wait_closed()
