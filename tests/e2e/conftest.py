"""Fixtures for the end-to-end tests: real Postfix, dnsmasq and SMTP sink servers on loopback
ports, each stopped at teardown whatever the test's outcome."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest

from tests.e2e.services import DnsServer, PostfixInstance, SmtpSink


@pytest.fixture
def postfix() -> Iterator[Callable[[int], PostfixInstance]]:
    """`postfix(relay_port)` starts a Postfix relaying all mail to 127.0.0.1:relay_port."""
    with ExitStack() as stack:

        def start(relay_port: int) -> PostfixInstance:
            instance = PostfixInstance(relay_port)
            # Registered before start(): a half-started instance is cleaned up too, and each
            # instance is stopped even if stopping another one fails.
            stack.callback(instance.stop)
            instance.start()
            return instance

        yield start


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    """dnsmasq on `dns_server.nameserver`, serving the records the test adds with add_txt."""
    server = DnsServer()
    try:
        server.start()
        yield server
    finally:
        server.close()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    """An SMTP server on `smtp_sink.port` keeping what it receives (Mailroom's stand-in)."""
    sink = SmtpSink()
    sink.start()
    try:
        yield sink
    finally:
        sink.stop()
