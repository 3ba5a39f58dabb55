"""Connecting and reconnecting IMAP mailboxes through the API, against the real Dovecot: the
same checks as the command line, answered as result types."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from mailroom.graphql.endpoint import GraphQLEndpoint
from mailroom.models import Mailbox
from mailroom.settings import Settings
from mailroom.vault import new_key
from tests.graphql.conftest import Api, Team, api_settings, make_team
from tests.sources.imap.services import ImapUser

CONNECT = """mutation($host: String!, $port: Int, $user: String!, $password: String!, $security: String!, $address: String) {
  connectImapMailbox(input: {host: $host, port: $port, username: $user, password: $password, security: $security, address: $address}) {
    __typename
    ... on Mailbox { id address provider status defaultSharing owner { email } }
    ... on LoginFailed { message } ... on Conflict { message } ... on InvalidInput { message }
  } }"""
RECONNECT = """mutation($m: ID!, $password: String) { reconnectMailbox(mailbox: $m, password: $password) {
  __typename ... on Mailbox { status } ... on LoginFailed { message } ... on Forbidden { message } } }"""


@pytest.fixture
async def imap_api(db: Settings) -> AsyncIterator[Api]:
    settings = api_settings(db, secret_key=new_key(), imap_allow_private_hosts=True)
    app = Starlette(routes=[Route("/graphql", GraphQLEndpoint(settings), methods=["POST"])])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://mailroom.test") as client:
        yield Api(client, settings)


def _login(user: ImapUser, **changes: Any) -> dict[str, Any]:
    values = {
        "host": "127.0.0.1",
        "port": user.port,
        "user": user.name,
        "password": user.password,
        "security": "none",
        "address": None,
    }
    return {**values, **changes}


async def test_connect_and_reconnect(imap_api: Api, imap_user: Callable[[], ImapUser]) -> None:
    team: Team = await make_team()
    api, bob = imap_api, team.bob_token
    first, second, third = imap_user(), imap_user(), imap_user()

    async def connect(variables: dict[str, Any]) -> dict[str, Any]:
        result: dict[str, Any] = (await api.data(bob, CONNECT, variables))["connectImapMailbox"]
        return result

    wrong = await connect(_login(first, password="not-the-password"))
    assert wrong["__typename"] == "LoginFailed" and "refused" in wrong["message"]
    odd = await connect(_login(first, security="rot13"))
    assert odd["__typename"] == "InvalidInput" and "security must be one of" in odd["message"]
    made = await connect(_login(first))
    assert made["__typename"] == "Mailbox", made
    assert (made["provider"], made["status"], made["owner"]) == (
        "IMAP",
        "PENDING",
        {"email": "bob@acme.com"},
    )
    assert made["defaultSharing"] == "METADATA"
    stored = await Mailbox.get(id=made["id"])
    assert first.password not in str(stored.credentials)  # sealed by the vault
    again = await connect(_login(first))
    assert again["__typename"] == "Conflict" and "already connected" in again["message"]
    # A login name that is not an address: the mailbox takes the member's address, so a second
    # such mailbox needs its own.
    also = await connect(_login(second, address="bob.private@example.org"))
    assert also["__typename"] == "Mailbox", also
    over = await connect(
        _login(third, address="bob.third@example.org")
    )  # the Pro plan: two connected mailboxes a member
    assert over["__typename"] == "Conflict" and "the most the PRO plan allows" in over["message"]

    carol = await api.data(team.carol_token, RECONNECT, {"m": made["id"], "password": None})
    assert carol["reconnectMailbox"]["__typename"] == "Forbidden"
    refused = await api.data(bob, RECONNECT, {"m": made["id"], "password": "wrong"})
    assert refused["reconnectMailbox"]["__typename"] == "LoginFailed"
    await Mailbox.filter(id=made["id"]).update(status="FAILED", last_error="login refused")
    by_admin = await api.data(team.alice_token, RECONNECT, {"m": made["id"], "password": None})
    assert by_admin["reconnectMailbox"] == {"__typename": "Mailbox", "status": "PENDING"}
    boxes = await api.data(
        team.alice_token, "{ mailboxes { address provider status lastError owner { email } } }"
    )
    imap = [b for b in boxes["mailboxes"] if b["provider"] == "IMAP"]
    assert len(imap) == 2 and all(b["lastError"] is None for b in imap)
