"""The `serve` process over HTTP: `create_app(settings)` is the web application (the GraphQL
API, `/health` and `/metrics`, status.py, and `/oauth/callback`, where providers send a consent
back) whose lifespan runs everything else (`bootstrap.running`); `run_server` serves it, and
`/metrics` on a port of its own if asked."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from mailroom import logs
from mailroom.bootstrap import Services, running
from mailroom.errors import SettingsError
from mailroom.graphql.endpoint import GraphQLEndpoint
from mailroom.graphql.metering import Metered
from mailroom.oauth import OAuthCallback
from mailroom.oauth.providers import CALLBACK_PATH
from mailroom.settings import Settings
from mailroom.status import health, log_banner, metrics
from mailroom.workspace import finish_connection


def create_app(settings: Settings, services: Services | None = None) -> Starlette:
    """The application, whose lifespan starts everything else, or uses the `services` given:
    `run_server` starts them before the web server, so that a failure to start (a busy port, a
    database that cannot be opened) is one line from the command, not uvicorn's traceback."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if services is not None:
            app.state.services = services
            yield
            return
        async with running(settings) as started:
            app.state.services = started
            log_banner(settings, started)
            yield

    graphql = GraphQLEndpoint(settings)
    routes = [
        Route("/health", health),
        Route("/graphql", Metered(graphql), methods=["GET", "POST"]),
        Route("/graphql/static/{path:path}", graphql.static),
        Route(CALLBACK_PATH, OAuthCallback(settings, finish_connection), methods=["GET"]),
    ]
    if settings.metrics_enabled and settings.metrics_port is None:
        routes.append(Route("/metrics", metrics))
    return Starlette(routes=routes, lifespan=lifespan)


async def run_server(settings: Settings) -> None:
    """Serve until interrupted."""
    logs.configure(settings.log_format)
    with _bind(settings.http_host, settings.http_port, "the API", "HTTP") as api:
        async with running(settings) as services:
            log_banner(settings, services)
            await _serve(create_app(settings, services), settings, api)


async def _serve(app: Starlette, settings: Settings, api: socket.socket) -> None:
    server = uvicorn.Server(_config(app, settings.http_host, settings.http_port, "on"))
    if not settings.metrics_enabled or settings.metrics_port is None:
        await server.serve(sockets=[api])
        return
    exporter = Starlette(routes=[Route("/metrics", metrics)])
    exporter.state = app.state  # where the main app's lifespan puts the services
    host, port = settings.metrics_host, settings.metrics_port
    listener = _Listener(_config(exporter, host, port, "off"))
    listening = asyncio.create_task(listener.serve(sockets=[_bind(host, port, "metrics")]))
    try:
        await server.serve(sockets=[api])
    finally:
        listener.should_exit = True
        await listening


def _config(app: Any, host: str, port: int, lifespan: Literal["on", "off"]) -> uvicorn.Config:
    # No logging configuration of uvicorn's own: its records go through logs.configure's.
    return uvicorn.Config(
        app, host=host, port=port, log_config=None, log_level="info", lifespan=lifespan
    )


class _Listener(uvicorn.Server):
    """A second server in the process, for /metrics: the main one takes the signals, and this
    one is stopped when it stops (two servers that both took the signals would each restore
    the other's handlers)."""

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _bind(host: str, port: int, what: str, setting: str | None = None) -> socket.socket:
    """A listening socket, or one line saying which setting names the port that is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    setting = setting or what.upper()
    try:
        return socket.create_server((host, port), family=family)
    except OSError as error:
        raise SettingsError(
            f"cannot listen for {what} on {host}:{port} (MAILROOM_{setting}_HOST, "
            f"MAILROOM_{setting}_PORT): {error.strerror or error}"
        ) from error
