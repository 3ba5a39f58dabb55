"""A TCP proxy between a client under test and a real server, which breaks the connections
when told: cut every connection after so many more bytes towards the client (in the middle of
a FETCH response, say), cut them all now, or stop taking new ones, as a server that went away.

It runs its own asyncio loop in a background thread; the controls may be called from any
thread and take effect before they return.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")
HOST = "127.0.0.1"
CHUNK = 64 * 1024
# SO_LINGER on with a zero timeout: close() then sends RST and drops unsent data, as a crashed
# host or a middlebox dropping the connection would, instead of an orderly FIN.
RESET_ON_CLOSE = struct.pack("ii", 1, 0)


@dataclass(frozen=True)
class ProxyStats:
    """What went through the proxy since it started."""

    connections: int  # accepted from clients, refused ones included
    active: int  # open now
    cuts: int  # connections severed by the proxy: cut_after_bytes, cut_all_now, refuse(reset=True)
    to_client: int  # bytes from server to client
    to_server: int  # bytes from client to server


class _Link:
    """One client connection and its connection to the server."""

    def __init__(self, client: asyncio.StreamWriter, server: asyncio.StreamWriter) -> None:
        self.client = client
        self.server = server
        # Bytes the server may still send to the client before the link is cut; None: no limit.
        self.budget: int | None = None

    def cut(self) -> None:
        for writer in (self.client, self.server):
            _reset(writer)


class FaultProxy:
    """Listens on 127.0.0.1:`port` and forwards each connection to `target_host`:`target_port`."""

    def __init__(self, target_port: int, target_host: str = HOST) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._budget: int | None = None
        self._reset_new = False
        self._connections = self._cuts = self._to_client = self._to_server = 0

    def start(self) -> None:
        self._thread.start()
        self._call(self._listen)

    def stop(self) -> None:
        """Close the listener and every connection, end the thread and the loop; idempotent."""
        if self._loop.is_closed():
            return
        try:
            if self._thread.is_alive():
                try:
                    self._call(self._shutdown)
                finally:
                    self._loop.call_soon_threadsafe(self._loop.stop)
                    self._thread.join(timeout=10)
        finally:
            self._loop.close()

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def cut_after_bytes(self, count: int) -> None:
        """Let each connection, open or new, carry `count` more bytes to the client (a new one
        counts from the server's greeting), then reset it on both sides. At most `count` bytes
        arrive: with a reset, the kernel drops what it has not delivered yet. Lasts until
        accept()."""
        if count < 0:
            raise ValueError("count must be >= 0")

        async def limit() -> None:
            self._budget = count
            for link in list(self._links):
                link.budget = count
                if count == 0:
                    self._sever(link)

        self._call(limit)

    def cut_all_now(self) -> int:
        """Reset every open connection on both sides; return how many there were."""

        async def cut_all() -> int:
            links = list(self._links)
            for link in links:
                self._sever(link)
            return len(links)

        return self._call(cut_all)

    def refuse(self, *, reset: bool = False) -> None:
        """Take no new connections until accept(): close the listening socket, so that connects
        fail with ECONNREFUSED, or with `reset`, accept them and reset them at once (the client's
        first read fails with ECONNRESET). Open connections are left as they are."""

        async def refuse() -> None:
            self._reset_new = reset
            if not reset and self._server is not None:
                self._server.close()
                self._server = None
            elif reset and self._server is None:
                await self._listen()

        self._call(refuse)

    def accept(self) -> None:
        """Back to normal: listening on the same port, new connections forwarded, no limit."""

        async def accept() -> None:
            self._budget = None
            self._reset_new = False
            for link in self._links:
                link.budget = None
            if self._server is None:
                await self._listen()

        self._call(accept)

    def stats(self) -> ProxyStats:
        async def read() -> ProxyStats:
            return ProxyStats(
                self._connections, len(self._links), self._cuts, self._to_client, self._to_server
            )

        return self._call(read)

    def _call(self, function: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run `function` on the proxy's loop and wait for its result."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("FaultProxy controls are for other threads than its own")
        return asyncio.run_coroutine_threadsafe(function(), self._loop).result(timeout=10)

    async def _listen(self) -> None:
        # Port 0 the first time; the same port again after refuse(), as a restarted server.
        self._server = await asyncio.start_server(self._handle, HOST, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for link in list(self._links):
            link.cut()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._connections += 1
        try:
            if self._reset_new:
                self._cuts += 1
                _reset(writer)
                return
            try:
                server_reader, server_writer = await asyncio.open_connection(*self.target)
            except OSError:
                # The server is down: a reset at once is the nearest a proxy, which accepted
                # the connection already, can come to the refusal it got itself.
                _reset(writer)
                return
            link = _Link(writer, server_writer)
            link.budget = self._budget
            self._links.add(link)
            try:
                await asyncio.gather(
                    self._pump(reader, link, to_client=False),
                    self._pump(server_reader, link, to_client=True),
                )
            finally:
                self._links.discard(link)
                for side in (writer, server_writer):
                    side.close()
                    await _closed(side)
        finally:
            self._tasks.discard(task)
            await _closed(writer)

    async def _pump(self, source: asyncio.StreamReader, link: _Link, *, to_client: bool) -> None:
        destination = link.client if to_client else link.server
        try:
            while data := await source.read(CHUNK):
                if to_client and link.budget is not None:
                    data = data[: link.budget]
                    link.budget -= len(data)
                destination.write(data)
                await destination.drain()
                if to_client:
                    self._to_client += len(data)
                else:
                    self._to_server += len(data)
                if to_client and link.budget == 0:
                    self._sever(link)
                    return
        except OSError:
            # A reset from one side, or a write to a side already reset: pass it on as a reset.
            link.cut()
            return
        # An orderly close (FIN) from one side: close both sides in order too, which also ends
        # the pump in the other direction.
        for writer in (link.client, link.server):
            writer.close()

    def _sever(self, link: _Link) -> None:
        if link in self._links:
            self._links.discard(link)
            self._cuts += 1
            link.cut()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST at once, dropping anything unsent."""
    sock = writer.get_extra_info("socket")
    try:
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, RESET_ON_CLOSE)
    except OSError:
        pass  # closed already: nothing left to reset
    writer.transport.abort()


async def _closed(writer: asyncio.StreamWriter) -> None:
    try:
        await writer.wait_closed()
    except OSError:
        pass  # reset by us or the peer: closed all the same
