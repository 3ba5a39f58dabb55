"""Fixtures for the IMAP tests: a real Dovecot with a fresh user per test, fault-injecting
proxies in front of it, and scripted hostile servers, each stopped at teardown whatever the
test's outcome.

One Dovecot serves the whole session: it starts in a tenth of a second, but its master takes a
second to stop (it waits for its log process), which would double the time of short tests.
Tests keep apart by using users of their own, each with an empty Maildir; a test that stops,
restarts or reconfigures its server starts a private one with `dovecot_factory`.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from tests.sources.imap.hostile import HostileServer
from tests.sources.imap.proxy import FaultProxy
from tests.sources.imap.services import DovecotServer, ImapUser

_user_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """The session's Dovecot: plain IMAP on `.port`, IMAPS on `.imaps_port` (trust
    `.ssl_context()`), `* OK Still here` to idling clients every 5 s; add users with the
    `imap_user` fixture rather than here."""
    server = DovecotServer(tls=True)
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def imap_user(dovecot: DovecotServer, request: pytest.FixtureRequest) -> Callable[[], ImapUser]:
    """`imap_user()` adds a new user with an empty mailbox to the session's Dovecot."""
    # The test's name in the user name tells whose connections the shared log shows.
    test_name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]

    def add() -> ImapUser:
        name = f"{test_name}-{next(_user_numbers)}"
        password = secrets.token_urlsafe(12)
        maildir = dovecot.add_user(name, password)
        return ImapUser(name, password, maildir, dovecot.port, dovecot.imaps_port)

    return add


@pytest.fixture
def dovecot_factory() -> Iterator[Callable[..., DovecotServer]]:
    """`dovecot_factory(tls=False, idle_notify_interval=5)` starts a Dovecot of the test's
    own, closed at teardown (a second each)."""
    with ExitStack() as stack:

        def start(*, tls: bool = False, idle_notify_interval: int = 5) -> DovecotServer:
            server = DovecotServer(tls=tls, idle_notify_interval=idle_notify_interval)
            # Registered before start(): a half-started server is cleaned up too.
            stack.callback(server.close)
            server.start()
            return server

        yield start


@pytest.fixture
def fault_proxy() -> Iterator[Callable[[int], FaultProxy]]:
    """`fault_proxy(port)` starts a FaultProxy in front of 127.0.0.1:port; connect to its
    `.port` instead."""
    with ExitStack() as stack:

        def start(target_port: int) -> FaultProxy:
            proxy = FaultProxy(target_port)
            stack.callback(proxy.stop)
            proxy.start()
            return proxy

        yield start


@pytest.fixture
def hostile_server() -> Iterator[Callable[..., HostileServer]]:
    """`hostile_server(messages, qresync=False)` starts a HostileServer serving `messages` in
    its INBOX, honestly until the test scripts an attack."""
    with ExitStack() as stack:

        def start(messages: list[bytes], *, qresync: bool = False) -> HostileServer:
            server = HostileServer(messages, qresync=qresync)
            stack.callback(server.stop)
            server.start()
            return server

        yield start
