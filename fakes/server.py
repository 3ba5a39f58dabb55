"""The local servers' runner: an ASGI app served by uvicorn on 127.0.0.1 and a free port, in a
daemon thread with its own event loop, so that tests on any loop (or none) can call it.

The socket is bound before the thread starts, so the port is known and taken at once; `start`
returns when uvicorn says it serves, `stop` asks it to finish its requests and waits.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from types import TracebackType
from typing import Any, Self

import uvicorn

HOST = "127.0.0.1"
START_TIMEOUT = 5.0  # seconds


class LocalServer:
    """Serves `app` on 127.0.0.1; `url` (http://127.0.0.1:PORT) once started. A context
    manager."""

    def __init__(self, app: Any) -> None:
        self.url = ""
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # Small answers written in two parts (head, body) otherwise wait for the client's
        # delayed ACK: 40 ms a request, which made one-message-per-request APIs crawl.
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind((HOST, 0))
        config = uvicorn.Config(app, lifespan="off", log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def start(self) -> None:
        self._thread.start()
        for _ in range(int(START_TIMEOUT / 0.01)):
            if self._server.started or not self._thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not self._server.started:
            raise RuntimeError("the local server did not start")
        self.url = f"http://{HOST}:{self._socket.getsockname()[1]}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
