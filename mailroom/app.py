"""The Mailroom process: `create_app(settings)` wires the database and the HTTP API, and one
lifespan starts and stops them. Later parts (the SMTP receiver, the pollers) join here."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tortoise import connections

from mailroom.db import close_database, open_database
from mailroom.gateway.ingest import Ingestor
from mailroom.settings import Settings

log = logging.getLogger(__name__)


async def health(request: Request) -> JSONResponse:
    """Up, and the database answers."""
    try:
        await connections.get("default").execute_query("SELECT 1")
    except Exception as error:  # noqa: BLE001 - any failure means not healthy
        return JSONResponse({"status": "unavailable", "database": str(error)}, status_code=503)
    return JSONResponse({"status": "ok", "database": "ok"})


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await open_database(settings)
        try:
            ingestor = Ingestor(settings.limits)
            replayed = await ingestor.replay(settings.ingest_batch_size)
            if replayed.outcomes:
                log.info("replayed %d pending messages", len(replayed.outcomes))
            app.state.ingestor = ingestor
            yield
        finally:
            await close_database()

    return Starlette(routes=[Route("/health", health)], lifespan=lifespan)


async def run_server(settings: Settings) -> None:
    """Serve until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    config = uvicorn.Config(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level="info",
        lifespan="on",
    )
    await uvicorn.Server(config).serve()
