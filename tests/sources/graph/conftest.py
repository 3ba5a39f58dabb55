"""Fixtures for the Graph tests: the local Graph (fakes/) served on 127.0.0.1 per test, clients
of it with a token source it honours, and a Microsoft 365 mailbox to sync into."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from fakes.graph import FakeGraph
from fakes.graph_http import GraphServer
from mailroom.intake import Intake
from mailroom.models import Mailbox, MailboxStatus, Plan, Provider
from mailroom.settings import Settings
from mailroom.sources.graph import GraphClient, GraphSync
from mailroom.sources.retry import RetryPolicy
from mailroom.workspace import add_member, create_workspace

# Short waits, so that retries take milliseconds; Retry-After is still honoured as given.
FAST = RetryPolicy(base=0.01, max_backoff=5.0, server_attempts=3, throttled_attempts=1000)
ADDRESS = "alice@contoso.com"

Connect = Callable[..., GraphClient]


class Tokens:
    """A mailbox's access tokens as the OAuth layer would give them."""

    def __init__(self, fake: FakeGraph) -> None:
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
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph(ADDRESS)
    with GraphServer(fake):
        yield fake
    # However hard a test pushed, Mailroom never had more requests in flight than Outlook takes.
    assert fake.peak_in_flight <= 4


@pytest.fixture
async def connect(graph: FakeGraph) -> AsyncIterator[Connect]:
    """`connect(**options)`: a client of the fake; options are Settings fields or
    GraphClient keywords (tokens, retry)."""
    clients: list[GraphClient] = []

    def make(**options: Any) -> GraphClient:
        fields = {
            name: options.pop(name) for name in list(options) if name in Settings.model_fields
        }
        settings = Settings(graph_api_url=graph.url, **fields)
        tokens = options.pop("tokens", None) or Tokens(graph)
        options.setdefault("retry", FAST)
        client = GraphClient(settings, tokens, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
async def mailbox(db: Settings) -> Mailbox:
    workspace = await create_workspace("contoso", "Contoso", plan=Plan.PRO)
    alice = await add_member(workspace, ADDRESS, admin=True)
    return await Mailbox.create(
        workspace=workspace,
        owner=alice,
        provider=Provider.MICROSOFT,
        address=ADDRESS,
        status=MailboxStatus.PENDING,
    )


def syncer(mailbox: Mailbox, connect: Connect, **options: Any) -> GraphSync:
    return GraphSync(mailbox, connect(**options), Intake())


def message(number: int, body: bytes = b"", **headers: str) -> bytes:
    extra = "".join(f"{name.replace('_', '-')}: {value}\r\n" for name, value in headers.items())
    return (
        f"From: Peter <peter{number}@fabrikam.example>\r\nTo: alice@contoso.com\r\n"
        f"Subject: Message {number}\r\nMessage-ID: <m{number}@fabrikam.example>\r\n{extra}\r\n"
    ).encode() + (body or f"Body {number}\r\n".encode())
