"""imapclient behind an async face: one connection, its blocking calls on a thread of its own.

imapclient (and the imaplib under it) block, so each session runs its calls on a dedicated
thread; the event loop never waits on the network, and a session's calls stay in order (an
IMAP connection is a conversation). Errors from imapclient, imaplib, sockets and TLS are
translated here, once, into the sync errors whose handling is fixed (`errors`).
"""

from __future__ import annotations

import asyncio
import imaplib
import re
import socket
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from imapclient import IMAPClient, SocketTimeout
from imapclient.exceptions import IMAPClientAbortError, IMAPClientError, LoginError

from mailroom.gateway.imap.errors import AuthError, ProtocolError, TransientError

T = TypeVar("T")
FETCH_ITEMS = [b"BODY.PEEK[]", b"INTERNALDATE", b"RFC822.SIZE"]
_UID_SET = re.compile(rb"(\d+)(?::(\d+))?")


@dataclass(frozen=True, slots=True)
class Connection:
    """Where and how to log in; `security` is tls, starttls or none."""

    host: str
    port: int
    security: str
    username: str


@dataclass(frozen=True, slots=True)
class FolderState:
    uidvalidity: int
    uidnext: int | None
    exists: int
    highestmodseq: int | None


@dataclass(frozen=True, slots=True)
class Fetched:
    uid: int
    raw: bytes
    internaldate: datetime | None


class ImapSession:
    """One logged-in IMAP connection. Use `await ImapSession.open(...)`, then `close()`."""

    def __init__(self, connection: Connection, timeout: float) -> None:
        self.connection = connection
        self.timeout = timeout
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"imap-{connection.host}")
        self._client: IMAPClient | None = None
        self.capabilities: frozenset[bytes] = frozenset()
        self.qresync_enabled = False
        self._aborted: str | None = None

    @classmethod
    async def open(
        cls, connection: Connection, password: str, timeout: float = 60, ssl_context: Any = None
    ) -> ImapSession:
        session = cls(connection, timeout)
        try:
            await session._call(session._login, password, ssl_context)
        except BaseException:
            await session.close()
            raise
        return session

    async def close(self) -> None:
        self._aborted = None  # closing is allowed after an abort
        if self._client is not None:
            client, self._client = self._client, None
            try:
                await self._call(client.logout)
            except (TransientError, ProtocolError, AuthError):
                # The connection is broken or was never logged in: close the socket itself.
                await self._call(_shutdown, client)
        self._thread.shutdown(wait=False, cancel_futures=True)

    def abort(self, reason: str) -> None:
        """Break the connection from outside its thread: a call blocked on it fails at once,
        with `reason`. For a watchdog; nothing else is interrupted."""
        self._aborted = reason
        client = self._client
        if client is not None:
            try:
                client.socket().shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

    def has(self, capability: str) -> bool:
        return capability.encode() in self.capabilities

    async def folders(self) -> list[tuple[tuple[bytes, ...], str]]:
        listed = await self._call(self.client.list_folders)
        return [(tuple(flags), name) for flags, _, name in listed]

    async def select(self, folder: str) -> FolderState:
        state = await self._call(self.client.select_folder, folder, True)
        modseq = state.get(b"HIGHESTMODSEQ")
        return FolderState(
            uidvalidity=int(state[b"UIDVALIDITY"]),
            uidnext=int(state[b"UIDNEXT"]) if b"UIDNEXT" in state else None,
            exists=int(state.get(b"EXISTS", 0)),
            highestmodseq=int(modseq) if modseq is not None else None,
        )

    async def uids(self, above: int = 0) -> list[int]:
        """UIDs in the selected folder greater than `above`, ascending."""
        criteria = ["UID", f"{above + 1}:*"] if above else ["ALL"]
        found = await self._call(self.client.search, criteria)
        # "n:*" always matches the highest UID, even one below n.
        return sorted(uid for uid in found if uid > above)

    async def fetch(self, uids: list[int]) -> list[Fetched]:
        data = await self._call(self.client.fetch, uids, FETCH_ITEMS)
        fetched = []
        for uid, item in data.items():
            raw = item.get(b"BODY[]")
            if raw is not None:
                fetched.append(Fetched(uid, bytes(raw), item.get(b"INTERNALDATE")))
        return fetched

    async def sizes(self, uids: list[int]) -> dict[int, int]:
        """RFC822.SIZE of each message, to cut batches by volume before fetching bodies."""
        data = await self._call(self.client.fetch, uids, [b"RFC822.SIZE"])
        return {uid: int(item.get(b"RFC822.SIZE", 0)) for uid, item in data.items()}

    async def enable_qresync(self) -> bool:
        """Turn QRESYNC on for this connection, where the server offers it (RFC 7162)."""
        if self.has("QRESYNC") and not self.qresync_enabled:
            enabled = await self._call(self.client.enable, "QRESYNC")
            self.qresync_enabled = b"QRESYNC" in [e.upper() for e in enabled]
        return self.qresync_enabled

    async def vanished_since(self, modseq: int, up_to: int) -> set[int]:
        """UIDs up to `up_to` expunged since `modseq` (QRESYNC's VANISHED (EARLIER))."""
        return await self._call(self._vanished, modseq, up_to)

    async def idle(self, seconds: float) -> bool:
        """Wait in IDLE for up to `seconds`; True if the server reported a change."""
        return await self._call(self._idle, seconds)

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            raise ProtocolError("the IMAP session is closed")
        return self._client

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        if self._aborted is not None:
            raise TransientError(self._aborted)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, _translated, function, *args)
        except (TransientError, ProtocolError) as error:
            if self._aborted is not None:
                raise TransientError(self._aborted) from error
            raise

    def _login(self, password: str, ssl_context: Any) -> None:
        c = self.connection
        timeout = SocketTimeout(connect=min(self.timeout, 30), read=self.timeout)
        context = ssl_context or ssl.create_default_context()
        client = IMAPClient(
            c.host, port=c.port, ssl=c.security == "tls", ssl_context=context, timeout=timeout
        )
        self._client = client
        if c.security == "starttls":
            client.starttls(context)
        try:
            client.login(c.username, password)
        except LoginError as error:
            raise AuthError(
                f"{c.username}@{c.host}: the login was refused ({_text(error)})"
            ) from error
        self.capabilities = frozenset(cap.upper() for cap in client.capabilities())

    def _vanished(self, modseq: int, up_to: int) -> set[int]:
        # imapclient has no VANISHED: the command goes through its imaplib connection, which
        # files untagged responses by name (imapclient reads QUOTA from there the same way).
        imap = self.client._imap
        imap.untagged_responses.pop("VANISHED", None)
        typ, data = imap.uid("FETCH", f"1:{up_to}", "(UID)", f"(CHANGEDSINCE {modseq} VANISHED)")
        if typ != "OK":
            raise ProtocolError(f"UID FETCH (VANISHED) failed: {_text(data[0] or typ)}")
        lines = imap.untagged_responses.pop("VANISHED", [])
        return {uid for line in lines for uid in _uid_set(bytes(line))}

    def _idle(self, seconds: float) -> bool:
        client = self.client
        client.idle()
        try:
            responses = client.idle_check(timeout=seconds)
        finally:
            client.idle_done()
        return any(
            isinstance(r, tuple) and len(r) > 1 and r[1] in (b"EXISTS", b"EXPUNGE", b"FETCH")
            for r in responses
        )


def _shutdown(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except OSError:
        pass  # already closed


def _uid_set(line: bytes) -> set[int]:
    """UIDs of a VANISHED response's set, e.g. b"(EARLIER) 41,43:116"."""
    found: set[int] = set()
    for start, end in _UID_SET.findall(line.replace(b"(EARLIER)", b"")):
        low, high = int(start), int(end or start)
        found.update(range(min(low, high), max(low, high) + 1))
    return found


def _translated(function: Callable[..., T], *args: Any) -> T:
    """Run an imapclient call and turn its failures into sync errors."""
    try:
        return function(*args)
    except (AuthError, TransientError, ProtocolError):
        raise
    except IMAPClientAbortError as error:
        raise TransientError(f"the connection was dropped: {_text(error)}") from error
    except TimeoutError as error:
        raise TransientError("the server did not answer in time") from error
    except ssl.SSLCertVerificationError as error:
        raise ProtocolError(f"the server's TLS certificate is not valid: {error}") from error
    except (ConnectionError, OSError, EOFError, imaplib.IMAP4.abort) as error:
        raise TransientError(f"network error: {_text(error)}") from error
    except IMAPClientError as error:
        message = _text(error)
        if "[UNAVAILABLE]" in message or "[LIMIT]" in message or "[INUSE]" in message:
            raise TransientError(f"the server is busy: {message}") from error
        raise ProtocolError(f"the server refused a command: {message}") from error


def _text(error: BaseException) -> str:
    text = str(error)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text or type(error).__name__
