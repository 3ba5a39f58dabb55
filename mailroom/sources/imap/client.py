"""imapclient behind an async face: one connection, its blocking calls on a thread of its own.

imapclient (and the imaplib under it) block, so each session runs its calls on a dedicated
thread; the event loop never waits on the network, and a session's calls stay in order (an
IMAP connection is a conversation). Each call is one step of the session, held to a deadline
and a budget of bytes (`meter`, enforced by `guard` as the bytes arrive); the host is resolved
and vetted (`hosts`) each time a session opens, and the vetted address is the one connected to.
Errors from imapclient, imaplib, sockets and TLS are translated once, by `errors.translated`
around every call, into the sync errors whose handling is fixed.

(A little over 300 lines: each async method and the blocking half that its thread runs sit
together in one class, and splitting them would part what must change together.)
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from imapclient.exceptions import LoginError

from mailroom.sources.imap.errors import (
    AuthError,
    ProtocolError,
    SyncError,
    TransientError,
    describe,
    translated,
)
from mailroom.sources.imap.guard import GuardedIMAPClient
from mailroom.sources.imap.hosts import resolve
from mailroom.sources.imap.meter import Meter, SessionLimits
from mailroom.sources.imap.uidsets import vanished_among
from mailroom.tls import system_context

T = TypeVar("T")
FETCH_ITEMS = [b"BODY.PEEK[]", b"INTERNALDATE", b"RFC822.SIZE"]
HEADER_ITEMS = [b"BODY.PEEK[HEADER]", b"INTERNALDATE", b"RFC822.SIZE"]
CHANGES = (b"EXISTS", b"EXPUNGE", b"FETCH")


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
    """A message as fetched; `headers_only` when it was over the size limit, so that only its
    header block was asked for, and `size` is then what the server says the whole is."""

    uid: int
    raw: bytes
    internaldate: datetime | None
    headers_only: bool = False
    size: int | None = None


class ImapSession:
    """One logged-in IMAP connection. Use `await ImapSession.open(...)`, then `close()`."""

    def __init__(self, connection: Connection, limits: SessionLimits) -> None:
        self.connection = connection
        self.limits = limits
        self._meter = Meter(connection.host, limits)
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=f"imap-{connection.host}")
        self._client: GuardedIMAPClient | None = None
        self.capabilities: frozenset[bytes] = frozenset()
        self.qresync_enabled = False
        self._aborted: str | None = None

    @classmethod
    async def open(
        cls,
        connection: Connection,
        password: str,
        limits: SessionLimits,
        ssl_context: ssl.SSLContext | None = None,
    ) -> ImapSession:
        """Resolve and vet the host, connect to a vetted address, log in: one step, within
        `limits.timeout` from the first byte sent to the capabilities after login."""
        addresses = await resolve(
            connection.host,
            connection.port,
            allow_private=limits.allow_private,
            timeout=limits.timeout,
        )
        session = cls(connection, limits)
        try:
            await session._call(
                "connecting and logging in", session._login, password, addresses, ssl_context
            )
        except BaseException:
            await session.close()
            raise
        return session

    async def close(self) -> None:
        self._aborted = None  # closing is allowed after an abort
        if self._client is not None:
            client, self._client = self._client, None
            try:
                await self._call("logging out", client.logout)
            except SyncError:
                # The connection is broken or was never logged in: close the socket itself.
                await self._call("closing", _shutdown, client)
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

    @property
    def max_message_bytes(self) -> int:
        """Messages larger than this are refused whole: fetch only their header."""
        return self.limits.max_literal

    async def folders(self) -> list[tuple[tuple[bytes, ...], str]]:
        return await self._call("listing folders", self._folders)

    async def select(self, folder: str) -> FolderState:
        return await self._call(f"selecting {folder!r}", self._select, folder)

    async def uids(self, above: int = 0) -> list[int]:
        """UIDs in the selected folder greater than `above`, ascending."""
        return await self._call("searching", self._uids, above)

    async def fetch(self, uids: list[int], *, headers_only: bool = False) -> list[Fetched]:
        """The messages (or, with `headers_only`, their header blocks) still at the server."""
        count = f"{len(uids)} message{'s' if len(uids) != 1 else ''}"
        if headers_only:
            step = f"fetching the header of {count} over the size limit"
        else:
            step = f"fetching {count}"
        return await self._call(step, self._fetch, uids, headers_only, bulk=True)

    async def sizes(self, uids: list[int]) -> dict[int, int]:
        """RFC822.SIZE of each message, to cut batches by volume before fetching bodies."""
        return await self._call("fetching message sizes", self._sizes, uids)

    async def enable_qresync(self) -> bool:
        """Turn QRESYNC on for this connection, where the server offers it (RFC 7162)."""
        if self.has("QRESYNC") and not self.qresync_enabled:
            enabled = await self._call("enabling QRESYNC", self.client.enable, "QRESYNC")
            self.qresync_enabled = b"QRESYNC" in [e.upper() for e in enabled]
        return self.qresync_enabled

    async def vanished_since(self, modseq: int, known: Sequence[int]) -> set[int]:
        """Which of `known` (ascending UIDs, the lowest to the highest asked about) were
        expunged since `modseq` (QRESYNC's VANISHED (EARLIER))."""
        if not known:
            return set()
        return await self._call("asking for deletions", self._vanished, modseq, known)

    async def idle(self, seconds: float) -> bool:
        """Wait in IDLE for up to `seconds`; True if the server reported a change."""
        return await self._call("idling", self._idle, seconds)

    @property
    def client(self) -> GuardedIMAPClient:
        if self._client is None:
            raise ProtocolError("the IMAP session is closed")
        return self._client

    async def _call(
        self, step: str, function: Callable[..., T], *args: Any, bulk: bool = False
    ) -> T:
        """Run `function` as one step, on the session's thread; `bulk` for message data."""
        if self._aborted is not None:
            raise TransientError(self._aborted)
        loop = asyncio.get_running_loop()
        run = functools.partial(self._step, step, bulk, function, *args)
        try:
            return await loop.run_in_executor(self._thread, run)
        except (TransientError, ProtocolError) as error:
            if self._aborted is not None:
                raise TransientError(self._aborted) from error
            raise

    def _step(self, step: str, bulk: bool, function: Callable[..., T], *args: Any) -> T:
        self._meter.begin(step, bulk=bulk)
        try:
            return translated(function, *args)
        finally:
            if self._client is not None:
                # Each step takes what it asked for; anything else the server sent is of no
                # use to the next, and kept, it would pile up over days of IDLE.
                self._client.connection.untagged_responses.clear()

    def _login(self, password: str, addresses: list[str], ssl_context: Any) -> None:
        c = self.connection
        context = ssl_context or system_context()
        client = GuardedIMAPClient(
            c.host,
            c.port,
            addresses=addresses,
            meter=self._meter,
            tls=c.security == "tls",
            ssl_context=context,
        )
        self._client = client
        if c.security == "starttls":
            client.starttls(context)
        try:
            client.login(c.username, password)
        except LoginError as error:
            raise AuthError(
                f"{c.username}@{c.host}: the login was refused ({describe(error)})"
            ) from error
        self.capabilities = frozenset(cap.upper() for cap in client.capabilities())

    def _folders(self) -> list[tuple[tuple[bytes, ...], str]]:
        return [(tuple(flags), name) for flags, _, name in self.client.list_folders()]

    def _select(self, folder: str) -> FolderState:
        state = self.client.select_folder(folder, True)
        modseq = state.get(b"HIGHESTMODSEQ")
        return FolderState(
            uidvalidity=_number(state.get(b"UIDVALIDITY"), "UIDVALIDITY"),
            uidnext=_number(state[b"UIDNEXT"], "UIDNEXT") if b"UIDNEXT" in state else None,
            exists=_number(state.get(b"EXISTS", 0), "EXISTS"),
            highestmodseq=_number(modseq, "HIGHESTMODSEQ") if modseq is not None else None,
        )

    def _uids(self, above: int) -> list[int]:
        criteria = ["UID", f"{above + 1}:*"] if above else ["ALL"]
        # "n:*" always matches the highest UID, even one below n.
        return sorted(uid for uid in self.client.search(criteria) if uid > above)

    def _fetch(self, uids: list[int], headers_only: bool) -> list[Fetched]:
        items, key = (HEADER_ITEMS, b"BODY[HEADER]") if headers_only else (FETCH_ITEMS, b"BODY[]")
        fetched = []
        for uid, item in self.client.fetch(uids, items).items():
            raw, date, size = item.get(key), item.get(b"INTERNALDATE"), item.get(b"RFC822.SIZE")
            if isinstance(raw, bytes):
                fetched.append(
                    Fetched(
                        uid,
                        raw,
                        date if isinstance(date, datetime) else None,
                        headers_only,
                        _number(size, "RFC822.SIZE") if size is not None else None,
                    )
                )
        return fetched

    def _sizes(self, uids: list[int]) -> dict[int, int]:
        data = self.client.fetch(uids, [b"RFC822.SIZE"])
        return {
            uid: _number(item.get(b"RFC822.SIZE", 0), "RFC822.SIZE") for uid, item in data.items()
        }

    def _vanished(self, modseq: int, known: Sequence[int]) -> set[int]:
        # imapclient has no VANISHED: the command goes through its imaplib connection, which
        # files untagged responses by name (imapclient reads QUOTA from there the same way).
        imap = self.client.connection
        imap.untagged_responses.pop("VANISHED", None)
        uid_set = f"{known[0]}:{known[-1]}"
        typ, data = imap.uid("FETCH", uid_set, "(UID)", f"(CHANGEDSINCE {modseq} VANISHED)")
        if typ != "OK":
            reason = data[0].decode(errors="replace") if isinstance(data[0], bytes) else typ
            raise ProtocolError(f"UID FETCH (VANISHED) failed: {reason}")
        return vanished_among(imap.untagged_responses.pop("VANISHED", []), known)

    def _idle(self, seconds: float) -> bool:
        client = self.client
        client.idle()
        client.connection.readable(seconds)
        # Waiting for news is not the server being slow: ending IDLE is a step of its own.
        self._meter.begin("ending IDLE")
        _, responses = client.idle_done()
        return any(_is_change(response) for response in responses)


def _shutdown(client: GuardedIMAPClient) -> None:
    try:
        client.shutdown()
    except OSError:
        pass  # already closed


def _is_change(response: object) -> bool:
    """`* 3 EXISTS`, `* 2 EXPUNGE`, `* 4 FETCH (...)`, or with QRESYNC `* VANISHED 7`."""
    if not isinstance(response, tuple) or len(response) < 2:
        return False
    return response[0] == b"VANISHED" or response[1] in CHANGES


def _number(value: object, name: str) -> int:
    if not isinstance(value, int):
        raise ProtocolError(f"the server sent {name} {value!r}, which is not a number")
    return value
