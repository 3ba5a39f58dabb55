"""Connecting and reconnecting CalDAV calendars through the API, against a real Radicale: the
same checks as `mailroom mailbox add-caldav`, answered as result types; a member may not point
Mailroom at a private host unless the operator allows it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from mailroom.graphql.endpoint import GraphQLEndpoint
from mailroom.models import Mailbox, MailboxStatus, Provider
from mailroom.settings import Settings
from mailroom.vault import new_key
from tests.graphql.conftest import Api, api_settings, make_team
from tests.sources.caldav.radicale import Radicale

CONNECT = """mutation($url: String!, $user: String!, $password: String!) {
  connectCaldavMailbox(input: {url: $url, username: $user, password: $password}) {
    __typename
    ... on Mailbox { id address provider status owner { email } }
    ... on LoginFailed { message } ... on InvalidInput { message } ... on Conflict { message }
  } }"""
RECONNECT = """mutation($m: ID!, $password: String) {
  reconnectMailbox(mailbox: $m, password: $password) {
    __typename ... on Mailbox { status } ... on LoginFailed { message }
    ... on ConsentRequired { provider } } }"""


def _api(settings: Settings) -> AsyncIterator[Api]:
    async def serve() -> AsyncIterator[Api]:
        app = Starlette(routes=[Route("/graphql", GraphQLEndpoint(settings), methods=["POST"])])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://m.test") as client:
            yield Api(client, settings)

    return serve()


@pytest.fixture
async def strict_api(db: Settings) -> AsyncIterator[Api]:
    async for api in _api(api_settings(db, secret_key=new_key())):
        yield api


@pytest.fixture
async def open_api(db: Settings) -> AsyncIterator[Api]:
    settings = api_settings(db, secret_key=new_key(), caldav_allow_private_hosts=True)
    async for api in _api(settings):
        yield api


def login(radicale: Radicale, **changes: str) -> dict[str, Any]:
    return {"url": radicale.home, "user": radicale.user, "password": radicale.password, **changes}


async def test_a_member_cannot_point_mailroom_at_a_private_host(
    strict_api: Api, radicale: Radicale
) -> None:
    team = await make_team()
    radicale.calendar("work")
    answer = await strict_api.data(team.bob_token, CONNECT, login(radicale))
    result = answer["connectCaldavMailbox"]
    assert result["__typename"] == "InvalidInput" and "private" in result["message"]
    assert await Mailbox.filter(provider=Provider.CALDAV).count() == 0


async def test_connect_and_reconnect(open_api: Api, radicale: Radicale) -> None:
    team = await make_team()
    radicale.calendar("work")
    wrong = await open_api.data(team.bob_token, CONNECT, login(radicale, password="nope"))
    assert wrong["connectCaldavMailbox"]["__typename"] == "LoginFailed"
    made = (await open_api.data(team.bob_token, CONNECT, login(radicale)))["connectCaldavMailbox"]
    assert made["__typename"] == "Mailbox", made
    assert (made["provider"], made["status"], made["owner"]) == (
        "CALDAV",
        "PENDING",
        {"email": "bob@acme.com"},
    )
    again = await open_api.data(
        team.bob_token, RECONNECT, {"m": made["id"], "password": "still wrong"}
    )
    assert again["reconnectMailbox"]["__typename"] == "LoginFailed"
    await Mailbox.filter(id=made["id"]).update(status=MailboxStatus.NEEDS_REAUTH)
    fixed = await open_api.data(team.bob_token, RECONNECT, {"m": made["id"]})
    assert fixed["reconnectMailbox"] == {"__typename": "Mailbox", "status": "PENDING"}
    # The password is sealed, never stored as given.
    row = await Mailbox.get(id=made["id"])
    assert row.credentials and radicale.password not in row.credentials


async def test_a_microsoft_mailbox_is_reconnected_by_consent(db: Settings) -> None:
    settings = api_settings(
        db, secret_key=new_key(), microsoft_client_id="app-id", microsoft_client_secret="s"
    )
    async for api in _api(settings):
        team = await make_team()
        box = await Mailbox.create(
            workspace=team.workspace,
            owner=team.bob,
            provider=Provider.MICROSOFT,
            address="bob@acme.com",
            status=MailboxStatus.NEEDS_REAUTH,
        )
        answer = await api.data(team.bob_token, RECONNECT, {"m": str(box.id)})
        assert answer["reconnectMailbox"] == {
            "__typename": "ConsentRequired",
            "provider": "Microsoft",
        }
