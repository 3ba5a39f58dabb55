"""imaplib held to a meter: the one place where bytes from an IMAP server are read.

imaplib trusts its server: it buffers a literal of whatever size is announced, keeps every
response, and its socket timeout starts again with each byte received. `GuardedIMAP4` reads
through a buffer of its own instead, charging every byte and line to the session's `Meter`,
which refuses what no answer may be (see `meter`); on such a refusal the connection is dropped,
since the rest of the answer cannot be skipped safely. It connects only to addresses vetted
beforehand (`hosts.resolve`) and never resolves the host name, which stays the name that TLS
sends and checks the certificate against. `GuardedIMAPClient` is imapclient on top of it.
"""

from __future__ import annotations

import imaplib
import selectors
import socket
import ssl
from collections.abc import Callable, Sequence
from typing import Any, Literal

from imapclient import IMAPClient

from mailroom.sources.imap.errors import ProtocolError, SyncError
from mailroom.sources.imap.meter import Meter

RECEIVE_SIZE = 256 * 1024
# imaplib's own line limit (its _MAXLINE); a line is charged to the step's budget as well.
MAX_LINE = 1_000_000


class GuardedIMAP4(imaplib.IMAP4):
    """A plain or TLS connection to one of `addresses`, read through `meter`."""

    def __init__(
        self,
        host: str,
        port: int,
        addresses: Sequence[str],
        meter: Meter,
        tls: ssl.SSLContext | None,
    ) -> None:
        self.meter = meter
        self._addresses = tuple(addresses)
        self._tls = tls
        self._buffer = bytearray()
        self._scanned = 0  # how much of the buffer is known to hold no line end
        # Connects (`_create_socket`) and reads the greeting and capabilities.
        super().__init__(host, port, meter.limits.timeout)

    def read(self, size: int) -> bytes:
        """A literal of `size` bytes, refused before reading if it is too large."""
        try:
            self.meter.literal(size)
            while len(self._buffer) < size:
                if not self._receive():
                    raise self.abort("socket error: EOF in a literal")
        except SyncError:
            self._drop()
            raise
        return self._take(size)

    def readline(self) -> bytes:
        try:
            while (end := self._buffer.find(b"\n", self._scanned)) < 0:
                if len(self._buffer) > MAX_LINE:
                    raise ProtocolError(
                        f"{self.meter.host} sent a line longer than {MAX_LINE:,} bytes while "
                        f"{self.meter.step}; the connection was dropped"
                    )
                self._scanned = len(self._buffer)
                if not self._receive():
                    end = len(self._buffer) - 1  # EOF: what there is, which imaplib reports
                    break
            self.meter.line()
        except SyncError:
            self._drop()
            raise
        return self._take(end + 1)

    def send(self, data: Any) -> None:
        self.sock.settimeout(self.meter.wait())
        super().send(data)

    def starttls(self, ssl_context: Any | None = None) -> tuple[Literal["OK"], list[None]]:
        if not isinstance(ssl_context, ssl.SSLContext):
            raise TypeError("STARTTLS needs an SSLContext")
        # imaplib sends STARTTLS and, after the OK, calls wrap_socket on what it is given.
        context = ssl_context
        return super().starttls(_AfterStarttls(lambda sock: self._secure(sock, context)))

    def shutdown(self) -> None:
        self._buffer.clear()
        try:
            super().shutdown()
        except OSError:
            pass  # the server closed the connection already; the socket is closed all the same

    def readable(self, seconds: float) -> bool:
        """True as soon as the server has sent something, False after `seconds` of silence."""
        if self._buffer or (isinstance(self.sock, ssl.SSLSocket) and self.sock.pending()):
            return True
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            return bool(selector.select(seconds))

    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = self._connect_vetted()
        return sock if self._tls is None else self._handshake(sock, self._tls)

    def _connect_vetted(self) -> socket.socket:
        """A TCP connection to the first vetted address that takes one."""
        failure = OSError(f"{self.host} has no address to connect to")
        for address in self._addresses:
            wait = self.meter.wait()
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.settimeout(wait)
                sock.connect((address, self.port))
                return sock
            except OSError as error:
                sock.close()
                failure = error
        if isinstance(failure, TimeoutError):
            raise self.meter.timed_out() from failure
        raise failure

    def _handshake(self, sock: socket.socket, context: ssl.SSLContext) -> ssl.SSLSocket:
        # The handshake's timeout is a deadline for the whole of it (CPython's ssl module).
        sock.settimeout(self.meter.wait())
        try:
            return context.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise

    def _secure(self, sock: socket.socket, context: ssl.SSLContext) -> ssl.SSLSocket:
        """TLS after STARTTLS's OK. Bytes the server sent after the OK would otherwise be read
        as if they had come over TLS (response injection)."""
        if self._buffer:
            self._drop()
            raise ProtocolError(
                f"{self.meter.host} sent data before the TLS handshake of STARTTLS; "
                "the connection was dropped"
            )
        return self._handshake(sock, context)

    def _receive(self) -> bool:
        """Add what the server sends next to the buffer; False at EOF."""
        self.sock.settimeout(self.meter.wait())
        try:
            chunk = self.sock.recv(RECEIVE_SIZE)
        except TimeoutError as error:
            raise self.meter.timed_out() from error
        self.meter.received(len(chunk))
        self._buffer += chunk
        return bool(chunk)

    def _take(self, size: int) -> bytes:
        """The first `size` bytes of the buffer, copied once (a literal may be 50 MB)."""
        with memoryview(self._buffer) as view:
            taken = bytes(view[:size])
        del self._buffer[:size]
        self._scanned = 0
        return taken

    def _drop(self) -> None:
        """Stop the conversation where it is: nothing after a refusal can be read safely."""
        self._buffer.clear()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # closed already

    def _log(self, line: str) -> None:
        """imaplib keeps its last ten lines, repr'd, for a debug dump this never asks for."""


class _AfterStarttls:
    """What imaplib's STARTTLS takes for an SSL context: something with `wrap_socket`."""

    def __init__(self, wrap: Callable[[socket.socket], ssl.SSLSocket]) -> None:
        self._wrap = wrap

    def wrap_socket(self, sock: socket.socket, server_hostname: str) -> ssl.SSLSocket:
        return self._wrap(sock)


class GuardedIMAPClient(IMAPClient):  # type: ignore[misc]  # imapclient is untyped
    """imapclient over a `GuardedIMAP4`."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        addresses: Sequence[str],
        meter: Meter,
        tls: bool,
        ssl_context: ssl.SSLContext,
    ) -> None:
        self._addresses = addresses
        self._meter = meter
        super().__init__(host, port, ssl=tls, ssl_context=ssl_context, timeout=meter.limits.timeout)
        # imapclient turns imaplib's debug output on, and imaplib formats every response,
        # literals included, with repr() before the logger drops it: up to four times a
        # message's size in memory, for log lines at DEBUG.
        self._imap.debug = 0

    @property
    def connection(self) -> GuardedIMAP4:
        imap: GuardedIMAP4 = self._imap
        return imap

    def _create_IMAP4(self) -> GuardedIMAP4:
        tls = self.ssl_context if self.ssl else None
        return GuardedIMAP4(self.host, self.port, self._addresses, self._meter, tls)
