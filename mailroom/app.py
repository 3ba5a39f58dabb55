"""The `serve` process over HTTP: `create_app(settings)` is the web application (the GraphQL
API, `/health` and `/metrics`, status.py, and `/oauth/callback`, where providers send a consent
back) whose lifespan runs everything else (`bootstrap.running`); `run_server` serves it, and
`/metrics` on a port of its own if asked, with API-only worker processes beside it on the same
port (`serve_api`, apiworkers.py) when `http_workers` asks for more than one."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, Literal

import uvicorn
import uvloop
from starlette.applications import Starlette
from starlette.routing import Route

from mailroom import logs
from mailroom.apiworkers import ApiWorkers, Board
from mailroom.bootstrap import EVERYTHING, Roles, Services, running
from mailroom.db import database
from mailroom.errors import SettingsError
from mailroom.graphql.endpoint import GraphQLEndpoint
from mailroom.graphql.metering import Metered
from mailroom.oauth import OAuthCallback
from mailroom.oauth.providers import CALLBACK_PATH
from mailroom.settings import Settings
from mailroom.status import health, keep_publishing, log_banner, metrics, running_of
from mailroom.workspace import finish_connection


def create_app(
    settings: Settings,
    services: Services | None = None,
    board: Board | None = None,
    *,
    api: bool = True,
) -> Starlette:
    """The application, whose lifespan starts everything else, or uses the `services` given:
    `run_server` starts them before the web server, so that a failure to start (a busy port, a
    database that cannot be opened) is one line from the command, not uvicorn's traceback.
    With a `board` (API workers), /health reads how the main process's services are from it.
    Without the `api` (`serve --smtp`), only /health and /metrics are answered."""

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

    routes = [Route("/health", health)]
    if api:
        # With a board, this is one of the `http_workers` processes serving the API.
        graphql = GraphQLEndpoint(settings, settings.http_workers if board is not None else 1)
        routes += [
            Route("/graphql", Metered(graphql), methods=["GET", "POST"]),
            Route("/graphql/static/{path:path}", graphql.static),
            Route(CALLBACK_PATH, OAuthCallback(settings, finish_connection), methods=["GET"]),
        ]
    if settings.metrics_enabled and settings.metrics_port is None:
        routes.append(Route("/metrics", metrics))
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.board = board
    return app


WORKER = "mailroom.app:serve_api"  # what an API worker process runs


async def run_server(settings: Settings, roles: Roles = EVERYTHING) -> None:
    """Serve until interrupted: what `roles` asks for (everything, by default) in this
    process, and with `http_workers` over 1, that many less one API-only processes beside it on
    the same port (apiworkers.py)."""
    logs.configure(settings.log_format)
    processes = settings.http_workers if roles.api else 1
    with _listeners(settings.http_host, settings.http_port, processes) as sockets:
        api = sockets[0]
        async with running(settings, roles) as services:
            if settings.http_workers == 1 or not roles.api:
                log_banner(settings, services)
                await _serve(create_app(settings, services, api=roles.api), settings, api)
                return
            board = Board(running_of(services))
            values = settings.model_dump()  # plain values: no import before the lifeline
            workers = ApiWorkers(WORKER, [(values, other, board) for other in sockets[1:]])
            workers.start()
            log_banner(settings, services)
            publishing = asyncio.create_task(keep_publishing(board, services))
            try:
                await _serve(create_app(settings, services, board), settings, api, workers)
            finally:
                publishing.cancel()
                workers.stop()


def serve_api(values: dict[str, Any], api: socket.socket, board: Board) -> None:
    """An API worker process: the API on the socket `api`, and nothing else (no SMTP, pollers,
    pipeline or background loops: those run in the main process, once)."""
    settings = Settings(**values)
    logs.configure(settings.log_format)
    uvloop.run(_serve_api(settings, api, board))


async def _serve_api(settings: Settings, api: socket.socket, board: Board) -> None:
    async with database(settings, create=False):
        app = create_app(settings, board=board)
        server = uvicorn.Server(_config(app, settings.http_host, settings.http_port, "off"))
        _freeze()
        await server.serve(sockets=[api])


def _freeze() -> None:
    """What startup made (modules, the schema, the models' metadata) lives as long as the
    process: frozen, the garbage collector no longer walks it in each full collection, which a
    busy API process makes every few seconds."""
    gc.freeze()


async def _serve(
    app: Starlette, settings: Settings, api: socket.socket, workers: ApiWorkers | None = None
) -> None:
    server = uvicorn.Server(_config(app, settings.http_host, settings.http_port, "on"))
    _freeze()
    watching = asyncio.create_task(_watch(workers, server)) if workers is not None else None
    try:
        await _serve_with_metrics(server, app, settings, api)
    finally:
        if watching is not None:
            if workers is not None:
                workers.stopping = True
            watching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watching  # raises the workers' WorkerError, if that is what stopped it


async def _watch(workers: ApiWorkers, server: uvicorn.Server) -> None:
    """Keep the workers running while the server does; stop it when they keep dying."""
    try:
        await workers.watch(lambda: server.should_exit)
    except BaseException:
        server.should_exit = True
        raise


async def _serve_with_metrics(
    server: uvicorn.Server, app: Starlette, settings: Settings, api: socket.socket
) -> None:
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


@contextmanager
def _listeners(host: str, port: int, count: int) -> Iterator[list[socket.socket]]:
    """The API's listening sockets, one for each of `count` processes: on Linux each its own, of
    one SO_REUSEPORT group, so that each process has a queue of its own (apiworkers.py says
    why); elsewhere the one socket for all."""
    if count == 1 or not _BALANCED:
        with _bind(host, port, "the API", "HTTP") as one:
            yield [one] * count
        return
    # Bound alone first: a port another program holds, another group included, is an error.
    with _bind(host, port, "the API", "HTTP") as alone:
        port = alone.getsockname()[1]
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(_bind(host, port, "the API", "HTTP", reuse_port=True))]
        # The workers' are bound but not listening: the kernel deals a socket connections only
        # once it listens, which uvicorn does in the worker when it is ready to accept, so
        # none waits for a worker that is still starting.
        family = sockets[0].family
        for _ in range(count - 1):
            other = stack.enter_context(socket.socket(family, socket.SOCK_STREAM))
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            other.bind(sockets[0].getsockname()[:2])
            sockets.append(other)
        yield sockets


# Linux deals a group's connections out between its sockets; BSDs give them to one of them.
_BALANCED = sys.platform == "linux" and hasattr(socket, "SO_REUSEPORT")


def _bind(
    host: str, port: int, what: str, setting: str | None = None, *, reuse_port: bool = False
) -> socket.socket:
    """A listening socket, or one line saying which setting names the port that is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    setting = setting or what.upper()
    try:
        return socket.create_server((host, port), family=family, reuse_port=reuse_port)
    except OSError as error:
        raise SettingsError(
            f"cannot listen for {what} on {host}:{port} (MAILROOM_{setting}_HOST, "
            f"MAILROOM_{setting}_PORT): {error.strerror or error}"
        ) from error
