"""Fixtures for the Gmail tests: the local Gmail (fakes/) served on 127.0.0.1 per test,
failing the test if it ever answered with a body Google's discovery document does not allow;
and clients of it with a token source the fake honours."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from fakes.gmail import FakeGmail
from fakes.gmail_http import GmailServer
from mailroom.settings import Settings
from mailroom.sources.gmail import GmailClient, RetryPolicy

# Short waits, so that retries take milliseconds; Retry-After is still honoured as given.
FAST = RetryPolicy(base=0.01, max_backoff=5.0, server_attempts=3, throttled_attempts=6)


class Tokens:
    """A mailbox's access tokens as the OAuth layer would give them: a refresh gets a new
    token from the fake's authorization server."""

    def __init__(self, fake: FakeGmail) -> None:
        self.fake = fake
        self.token = fake.grant()
        self.refreshes = 0

    async def current(self) -> str:
        return self.token

    async def refreshed(self, rejected: str) -> str:
        if rejected == self.token:
            self.refreshes += 1
            self.token = self.fake.grant()
        return self.token


@pytest.fixture
def gmail() -> Iterator[FakeGmail]:
    fake = FakeGmail()
    with GmailServer(fake):
        yield fake
    assert fake.violations == [], "the fake Gmail answered outside Google's schema"


@pytest.fixture
async def connect(gmail: FakeGmail) -> AsyncIterator[Callable[..., GmailClient]]:
    """`connect(**options)`: a client of the fake; options are Settings fields (e.g.
    max_message_bytes) or GmailClient keywords (fetch, quota, retry, tokens...)."""
    clients: list[GmailClient] = []

    def make(**options: Any) -> GmailClient:
        fields = {
            name: options.pop(name) for name in list(options) if name in Settings.model_fields
        }
        settings = Settings(gmail_api_url=gmail.url, **fields)
        tokens = options.pop("tokens", None) or Tokens(gmail)
        options.setdefault("retry", FAST)
        client = GmailClient(settings, tokens, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


def message(number: int, body: bytes = b"") -> bytes:
    return (
        f"From: Peter <peter{number}@initech.example>\r\nTo: alice@example.com\r\n"
        f"Subject: Message {number}\r\nMessage-ID: <m{number}@initech.example>\r\n\r\n"
    ).encode() + (body or f"Body {number}\r\n".encode())
