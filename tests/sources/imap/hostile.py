"""A scripted IMAP server for attacks on the client: a real TCP server on 127.0.0.1 (port 0),
one thread per connection.

It serves one folder, INBOX, honestly (with QRESYNC if asked), holding the messages it is
given as UIDs 1, 2, ..., until a test scripts an attack: a greeting of its own (`greet`), an
answer of its own to one command (`answers["UID FETCH"] = ...`, which may hand over to the
honest one, `uid_fetch`), or what VANISHED reports (`vanished`). It counts the connections it
accepted and the bytes it managed to send, so that a test can tell how much a client took
before it hung up. Controls may be set from any thread, at any time: each command reads them.
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType

HOST = "127.0.0.1"
INTERNALDATE = b'"01-Jan-2024 09:00:00 +0000"'
# A server-side bound on every wait, so that no test can leave a thread behind for long.
SOCKET_TIMEOUT = 30.0
_SET_ITEM = re.compile(rb"(\d+|\*)(?::(\d+|\*))?")

Answer = Callable[["Conversation", bytes, bytes], None]  # (conversation, tag, arguments)


class Conversation:
    """One client connection, from the server's side."""

    def __init__(self, server: HostileServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self._reader = sock.makefile("rb")

    def send(self, data: bytes) -> None:
        """Send all of `data`, counted once the kernel took it; OSError if the client left."""
        self.sock.sendall(data)
        self.server.count(len(data))

    def trickle(self, data: bytes, every: float) -> None:
        """Send `data` one byte at a time, `every` seconds apart."""
        for byte in data:
            self.send(bytes([byte]))
            time.sleep(every)

    def flood(self, chunk: bytes, limit: int) -> bool:
        """Send `chunk` again and again, up to `limit` bytes; False if the client hung up."""
        sent = 0
        try:
            while sent < limit:
                self.send(chunk)
                sent += len(chunk)
        except OSError:
            return False
        return True

    def command(self) -> tuple[bytes, str, bytes] | None:
        """The next command as (tag, name, arguments), e.g. (b"A3", "UID FETCH", b"1:5 ...");
        None when the client has gone."""
        line = self._reader.readline()
        if not line:
            return None
        tag, _, rest = line.rstrip(b"\r\n").partition(b" ")
        name, _, arguments = rest.partition(b" ")
        if name.upper() == b"UID":
            subcommand, _, arguments = arguments.partition(b" ")
            name = b"UID " + subcommand
        return tag, name.decode("ascii", "replace").upper(), arguments

    def wait_for_line(self) -> bytes:
        return self._reader.readline()


class HostileServer:
    """See the module's docstring. Use as a context manager, or start() and stop()."""

    def __init__(self, messages: Sequence[bytes] = (), *, qresync: bool = False) -> None:
        self.messages = {uid: raw for uid, raw in enumerate(messages, 1)}
        self.qresync = qresync
        self.capabilities = [b"IMAP4rev1", b"IDLE"]  # QRESYNC and what it needs come with it
        self.highestmodseq = 1
        self.vanished: bytes | None = None  # the set UID FETCH (VANISHED) reports
        self.greet: Callable[[Conversation], None] = _greet
        self.answers: dict[str, Answer] = {}
        self.port = 0
        self.connections = 0
        self.pushed = 0  # bytes sent, all connections together
        self._lock = threading.Lock()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def start(self) -> None:
        self._listener = socket.create_server((HOST, 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._spawn(self._accept)

    def stop(self) -> None:
        """Close the listener and every connection, and wait for the threads; idempotent."""
        self._stopping.set()
        with self._lock:
            for sock in self._open:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # the client closed it already
        for thread in self._threads:
            thread.join(timeout=SOCKET_TIMEOUT)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> HostileServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def count(self, sent: int) -> None:
        with self._lock:
            self.pushed += sent

    # The honest answers, by command name; `answers` replaces any of them.

    def capability(self, conversation: Conversation, tag: bytes, arguments: bytes) -> None:
        extensions = [b"ENABLE", b"CONDSTORE", b"QRESYNC"] if self.qresync else []
        conversation.send(b"* CAPABILITY " + b" ".join(self.capabilities + extensions) + b"\r\n")
        conversation.send(tag + b" OK CAPABILITY done\r\n")

    def login(self, conversation: Conversation, tag: bytes, arguments: bytes) -> None:
        conversation.send(tag + b" OK logged in\r\n")

    def list(self, conversation: Conversation, tag: bytes, arguments: bytes) -> None:
        conversation.send(b'* LIST (\\HasNoChildren) "/" INBOX\r\n' + tag + b" OK LIST done\r\n")

    def enable(self, conversation: Conversation, tag: bytes, arguments: bytes) -> None:
        enabled = b"* ENABLED QRESYNC\r\n" if self.qresync else b""
        conversation.send(enabled + tag + b" OK ENABLE done\r\n")

    def examine(self, conversation: Conversation, tag: bytes, arguments: bytes) -> None:
        lines = [
            b"* FLAGS (\\Seen)",
            b"* %d EXISTS" % len(self.messages),
            b"* OK [UIDVALIDITY 1] UIDs valid",
            b"* OK [UIDNEXT %d] next UID" % (max(self.messages, default=0) + 1),
        ]
        if self.qresync:
            lines.append(b"* OK [HIGHESTMODSEQ %d] modseq" % self.highestmodseq)
        conversation.send(b"\r\n".join([*lines, tag + b" OK [READ-ONLY] EXAMINE done", b""]))

    select = examine

    def uid_search(self, conversation: Conversation, tag: bytes, arguments: bytes) -> None:
        found = b" ".join(b"%d" % uid for uid in sorted(self.messages))
        conversation.send(b"* SEARCH " + found + b"\r\n" + tag + b" OK SEARCH done\r\n")

    def uid_fetch(self, conversation: Conversation, tag: bytes, arguments: bytes) -> None:
        uid_set, _, items = arguments.partition(b" ")
        if b"VANISHED" in items and self.vanished is not None:
            conversation.send(b"* VANISHED (EARLIER) " + self.vanished + b"\r\n")
        numbers = sorted(self.messages)
        for uid in _uids(uid_set, max(numbers, default=0)):
            if uid in self.messages:
                conversation.send(_fetch_response(numbers.index(uid) + 1, uid, self, items))
        conversation.send(tag + b" OK FETCH done\r\n")

    def noop(self, conversation: Conversation, tag: bytes, arguments: bytes) -> None:
        conversation.send(tag + b" OK NOOP done\r\n")

    def idle(self, conversation: Conversation, tag: bytes, arguments: bytes) -> None:
        conversation.send(b"+ idling\r\n")
        conversation.wait_for_line()  # DONE
        conversation.send(tag + b" OK IDLE done\r\n")

    def logout(self, conversation: Conversation, tag: bytes, arguments: bytes) -> None:
        conversation.send(b"* BYE see you\r\n" + tag + b" OK LOGOUT done\r\n")

    def _accept(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                sock, _ = self._listener.accept()
            except TimeoutError:
                continue
            sock.settimeout(SOCKET_TIMEOUT)
            with self._lock:
                self.connections += 1
                self._open.add(sock)
            self._spawn(self._converse, sock)

    def _converse(self, sock: socket.socket) -> None:
        conversation = Conversation(self, sock)
        try:
            self.greet(conversation)
            while (command := conversation.command()) is not None:
                tag, name, arguments = command
                answer = self.answers.get(name) or self._honest(name)
                answer(conversation, tag, arguments)
                if name == "LOGOUT":
                    return
        except OSError:
            return  # the client hung up, or stop() cut the connection
        finally:
            with self._lock:
                self._open.discard(sock)
            sock.close()

    def _honest(self, name: str) -> Answer:
        honest: dict[str, Answer] = {
            "CAPABILITY": self.capability,
            "LOGIN": self.login,
            "LIST": self.list,
            "ENABLE": self.enable,
            "EXAMINE": self.examine,
            "SELECT": self.select,
            "UID SEARCH": self.uid_search,
            "UID FETCH": self.uid_fetch,
            "NOOP": self.noop,
            "IDLE": self.idle,
            "LOGOUT": self.logout,
        }
        return honest.get(name, _unknown)

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()


def _greet(conversation: Conversation) -> None:
    conversation.send(b"* OK hostile IMAP server ready\r\n")


def _unknown(conversation: Conversation, tag: bytes, arguments: bytes) -> None:
    conversation.send(tag + b" BAD unknown command\r\n")


def _uids(uid_set: bytes, highest: int) -> list[int]:
    """The UIDs of a small UID set such as `1:5,7` (`*` is the highest UID)."""
    found: list[int] = []
    for first, last in _SET_ITEM.findall(uid_set):
        low = highest if first == b"*" else int(first)
        high = low if not last else highest if last == b"*" else int(last)
        found.extend(range(min(low, high), max(low, high) + 1))
    return found


def _fetch_response(sequence: int, uid: int, server: HostileServer, items: bytes) -> bytes:
    """`* n FETCH (...)` with the items asked for, literals last."""
    raw = server.messages[uid]
    parts = [b"UID %d" % uid]
    if b"RFC822.SIZE" in items:
        parts.append(b"RFC822.SIZE %d" % len(raw))
    if b"INTERNALDATE" in items:
        parts.append(b"INTERNALDATE " + INTERNALDATE)
    if b"MODSEQ" in items or b"CHANGEDSINCE" in items:
        parts.append(b"MODSEQ (%d)" % server.highestmodseq)
    if b"BODY.PEEK[HEADER]" in items:
        end = raw.find(b"\r\n\r\n")
        header = raw[: end + 4] if end >= 0 else raw[: raw.find(b"\n\n") + 2]
        parts.append(b"BODY[HEADER] {%d}\r\n%s" % (len(header), header))
    elif b"BODY.PEEK[]" in items:
        parts.append(b"BODY[] {%d}\r\n%s" % (len(raw), raw))
    return b"* %d FETCH (%s)\r\n" % (sequence, b" ".join(parts))
