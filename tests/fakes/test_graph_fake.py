"""The local Graph (fakes/graph.py) against Microsoft's documented behaviour, over HTTP: delta
rounds, ids across moves, expired tokens, the mailbox's concurrency limit, JSON batching."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from fakes.graph import FakeGraph
from fakes.graph_http import GraphServer
from fakes.microsoft_identity import MicrosoftIdentity

IMMUTABLE = 'IdType="ImmutableId"'
SELECT = "$select=subject,receivedDateTime,conversationId,internetMessageId,parentFolderId,isDraft"


def message(number: int, reply_to: int | None = None) -> bytes:
    thread = "" if reply_to is None else f"In-Reply-To: <m{reply_to}@fabrikam.example>\r\n"
    return (
        f"From: Peter <peter@fabrikam.example>\r\nTo: alice@contoso.com\r\n"
        f"Subject: Message {number}\r\nMessage-ID: <m{number}@fabrikam.example>\r\n{thread}\r\n"
        f"Body {number}\r\n"
    ).encode()


@pytest.fixture
def graph() -> Iterator[FakeGraph]:
    fake = FakeGraph()
    with GraphServer(fake):
        yield fake


@pytest.fixture
async def client(graph: FakeGraph) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {graph.grant()}"}
    async with httpx.AsyncClient(base_url=f"{graph.url}/v1.0", headers=headers) as client:
        yield client


async def delta_round(
    client: httpx.AsyncClient, url: str, prefer: str = IMMUTABLE
) -> tuple[list[list[dict[str, Any]]], str]:
    """The pages of a round, from `url` (a path or a link as given), and its deltaLink."""
    pages = []
    while True:
        answer = await client.get(url, headers={"Prefer": prefer})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append(body["value"])
        if "@odata.deltaLink" in body:
            return pages, body["@odata.deltaLink"]
        url = body["@odata.nextLink"]


async def test_a_delta_round_then_the_changes_since(
    graph: FakeGraph, client: httpx.AsyncClient
) -> None:
    ids = [graph.add(message(n)) for n in range(5)]
    reply = graph.add(message(9, reply_to=0))

    pages, link = await delta_round(
        client, f"/me/mailFolders/inbox/messages/delta?{SELECT}", f"odata.maxpagesize=2,{IMMUTABLE}"
    )

    assert [len(page) for page in pages] == [2, 2, 2]
    listed = [item for page in pages for item in page]
    assert [item["id"] for item in listed] == [reply, *reversed(ids)]  # newest first
    first = listed[-1]
    assert first["subject"] == "Message 0" and first["internetMessageId"] == "<m0@fabrikam.example>"
    assert first["parentFolderId"] == graph.folder_id("inbox") and first["isDraft"] is False
    assert first["conversationId"] == listed[0]["conversationId"]  # the reply's thread
    assert set(first) == {"@odata.type", "@odata.etag", "id", *SELECT[8:].split(",")}
    assert link.startswith(f"{graph.url}/v1.0/me/mailfolders('{graph.folder_id('inbox')}')")

    added = graph.add(message(5))
    graph.move(ids[1], "archive")
    graph.delete(ids[2])
    graph.mark_read(ids[3])
    pages, _ = await delta_round(client, link)

    changes = {item["id"]: item for page in pages for item in page}
    assert changes.keys() == {added, ids[1], ids[2], ids[3]}
    assert changes[ids[1]]["@removed"] == {"reason": "changed"}  # moved out: restorable
    assert changes[ids[2]]["@removed"] == {"reason": "deleted"}
    assert changes[added]["subject"] == "Message 5" and "@removed" not in changes[ids[3]]
    archived, _ = await delta_round(client, f"/me/mailFolders/archive/messages/delta?{SELECT}")
    assert [item["id"] for item in archived[0]] == [ids[1]]


async def test_default_ids_change_with_a_move_immutable_ids_do_not(
    graph: FakeGraph, client: httpx.AsyncClient
) -> None:
    kept = graph.add(message(1))
    before = graph.rest_id(kept)
    pages, default_link = await delta_round(client, "/me/mailFolders/inbox/messages/delta", "")
    _, immutable_link = await delta_round(client, "/me/mailFolders/inbox/messages/delta")
    assert pages[0][0]["id"] == before and before != kept

    after = graph.move(kept, "archive")

    assert after != before
    default_changes, _ = await delta_round(client, default_link, "")
    immutable_changes, _ = await delta_round(client, immutable_link)
    assert default_changes[0] == [
        {"@odata.type": "#microsoft.graph.message", "id": before, "@removed": {"reason": "changed"}}
    ]
    assert immutable_changes[0][0]["id"] == kept
    assert (await client.get(f"/me/messages/{before}")).json()["error"]["code"] == (
        "ErrorItemNotFound"
    )
    moved = await client.get(f"/me/messages/{kept}?$select=parentFolderId")
    assert moved.json()["parentFolderId"] == graph.folder_id("archive")
    assert moved.json()["id"] == after  # no preference: the default id
    archived, _ = await delta_round(client, "/me/mailFolders/archive/messages/delta")
    assert archived[0][0]["id"] == kept


async def test_expired_delta_tokens_are_gone(graph: FakeGraph, client: httpx.AsyncClient) -> None:
    graph.add(message(1))
    _, link = await delta_round(client, "/me/mailFolders/inbox/messages/delta")

    graph.expire_delta_tokens()
    gone = await client.get(link)
    graph.resync_code = "resyncRequired"
    forged = await client.get("/me/mailFolders/inbox/messages/delta?$deltatoken=made-up")

    assert gone.status_code == 410 and gone.json()["error"]["code"] == "SyncStateNotFound"
    assert gone.headers["location"].endswith("/messages/delta?$deltatoken=")
    assert forged.status_code == 410 and forged.json()["error"]["code"] == "resyncRequired"


async def test_a_fifth_concurrent_request_is_throttled(
    graph: FakeGraph, client: httpx.AsyncClient
) -> None:
    graph.delay = 0.5

    answers = await asyncio.gather(*(client.get("/me/mailFolders/inbox") for _ in range(5)))

    assert Counter(a.status_code for a in answers) == {200: 4, 429: 1}
    refused = next(a for a in answers if a.status_code == 429)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "ApplicationThrottled"
    assert "MailboxConcurrency" in refused.json()["error"]["message"]
    assert graph.peak_in_flight == 5 and graph.served == {200: 4, 429: 1}


async def test_a_batch_answers_mime_in_base64_and_throttles_past_four(
    graph: FakeGraph, client: httpx.AsyncClient
) -> None:
    ids = [graph.add(message(n)) for n in range(6)]
    graph.delete(ids[0])
    requests = [
        {"id": str(n), "method": "GET", "url": f"/me/messages/{i}/$value"}
        for n, i in enumerate(ids)
    ]

    answer = await client.post("/$batch", json={"requests": requests})
    too_many = await client.post("/$batch", json={"requests": requests * 4})

    assert answer.status_code == 200
    parts = {part["id"]: part for part in answer.json()["responses"]}
    assert [part["id"] for part in answer.json()["responses"]] != sorted(parts)  # any order
    # A part for a deleted message takes one of the four too: Outlook answers its 404.
    assert [parts[str(n)]["status"] for n in range(6)] == [404, 200, 200, 200, 429, 429]
    assert parts["0"]["body"]["error"]["code"] == "ErrorItemNotFound"
    assert base64.b64decode(parts["1"]["body"]) == message(1)
    assert parts["1"]["headers"]["Content-Type"] == "text/plain"
    assert parts["5"]["headers"]["Retry-After"] == "1"
    assert too_many.status_code == 400 and too_many.json()["error"]["code"] == "BadRequest"
    assert graph.calls["batch"] == 1 and graph.calls["value"] == 6


async def test_listing_pages_with_skip_links(graph: FakeGraph, client: httpx.AsyncClient) -> None:
    ids = {graph.add(message(n)) for n in range(5)}
    url, listed = "/me/mailFolders/inbox/messages?$select=id&$top=2", []
    while url:
        body = (await client.get(url, headers={"Prefer": IMMUTABLE})).json()
        listed += [item["id"] for item in body["value"]]
        url = body.get("@odata.nextLink")

    assert sorted(listed) == sorted(ids) and graph.calls["list"] == 3
    assert (await client.get("/me/mailFolders/inbox/messages?$top=1001")).status_code == 400


async def test_refusals_use_graphs_envelope(graph: FakeGraph, client: httpx.AsyncClient) -> None:
    stranger = await client.get("/me", headers={"Authorization": "Bearer nope"})
    bad_select = await client.get("/me/mailFolders/inbox/messages/delta?$select=nope")
    graph.fail_next(1, status=503, retry_after=2)
    unavailable = await client.get("/me")
    graph.on_prem = True
    on_prem = await client.get("/me/mailFolders/inbox")

    assert stranger.status_code == 401
    assert stranger.json()["error"]["code"] == "InvalidAuthenticationToken"
    inner = stranger.json()["error"]["innerError"]
    assert set(inner) == {"date", "request-id", "client-request-id"}
    assert bad_select.status_code == 400
    assert unavailable.status_code == 503 and unavailable.headers["retry-after"] == "2"
    assert on_prem.status_code == 404
    assert on_prem.json()["error"]["code"] == "MailboxNotEnabledForRESTAPI"
    assert (await client.get("/me")).status_code == 200  # the user is still there


async def test_tokens_of_the_identity_platform_are_honoured(graph: FakeGraph) -> None:
    identity = MicrosoftIdentity()
    graph.trust(identity.account_of)
    token = identity.issue("alice@contoso.com")["access_token"]
    other = identity.issue("bob@contoso.com")["access_token"]
    async with httpx.AsyncClient(base_url=f"{graph.url}/v1.0") as client:
        me = await client.get("/me", headers={"Authorization": f"Bearer {token}"})
        bob = await client.get("/me", headers={"Authorization": f"Bearer {other}"})
        identity.expire_access_tokens()
        expired = await client.get("/me", headers={"Authorization": f"Bearer {token}"})

    assert me.status_code == 200 and me.json()["mail"] == "alice@contoso.com"
    assert bob.status_code == 401 and expired.status_code == 401
