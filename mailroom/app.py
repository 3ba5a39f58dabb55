"""The `serve` process over HTTP: `create_app(settings)` is the web application (the GraphQL
API and `/health`) whose lifespan runs everything else (`bootstrap.running`)."""

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

from mailroom.bootstrap import running
from mailroom.graphql.endpoint import GraphQLEndpoint
from mailroom.settings import Settings

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


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with running(settings) as services:
            app.state.services = services
            yield

    graphql = GraphQLEndpoint(settings)
    routes = [
        Route("/health", health),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/graphql/static/{path:path}", graphql.static),
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
