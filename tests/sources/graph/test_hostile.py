"""A Graph that answers what no Graph would: the client refuses it with a ProtocolError (or
reports what it could not read), never sends the bearer token anywhere but the configured
Graph, reads no more than its bounds, and never pages forever."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Route

from fakes.server import LocalServer
from mailroom.errors import ProtocolError, TransientError
from mailroom.intake import Intake
from mailroom.models import Mailbox, ProviderItem
from mailroom.settings import Settings
from mailroom.sources.graph import GraphClient, GraphSync
from mailroom.sources.graph.client import LISTING_LIMIT_BYTES
from mailroom.sources.graph.resources import Oversize
from mailroom.sources.http import TooLargeError
from tests.sources.graph.conftest import FAST, message

Handler = Callable[[Request], Response]


class Fixed:
    async def current(self) -> str:
        return "token-of-alice"

    async def refreshed(self, rejected: str) -> str:
        return "token-of-alice"


class Hostile:
    """A server answering each path with what the test says; it notes every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.seen: list[tuple[str, str]] = []
        self.url = ""

    async def handle(self, request: Request) -> Response:
        self.seen.append((request.url.path, request.headers.get("authorization", "")))
        request.state.body = await request.body()  # for handlers, which are not async
        for prefix, handler in self.routes.items():
            if request.url.path.startswith(prefix):
                return handler(request)
        return JSONResponse({"error": {"code": "ErrorItemNotFound", "message": "no"}}, 404)


def serving() -> Iterator[Hostile]:
    server = Hostile()
    app = Starlette(routes=[Route("/{path:path}", server.handle, methods=["GET", "POST"])])
    with LocalServer(app) as running:
        server.url = running.url
        yield server


@pytest.fixture
def hostile() -> Iterator[Hostile]:
    yield from serving()


@pytest.fixture
def elsewhere() -> Iterator[Hostile]:
    """Another server, where no request of Mailroom's may go."""
    yield from serving()


def client(server: Hostile, **values: Any) -> GraphClient:
    return GraphClient(Settings(graph_api_url=server.url, **values), Fixed(), retry=FAST)


def delta(value: list[dict[str, Any]], **links: str) -> Handler:
    return lambda request: JSONResponse({"value": value, **links})


async def test_a_link_to_another_server_is_not_followed(
    hostile: Hostile, elsewhere: Hostile
) -> None:
    hostile.routes["/v1.0/me/mailFolders/inbox/messages/delta"] = delta(
        [], **{"@odata.nextLink": f"{elsewhere.url}/v1.0/me/mailFolders/inbox/messages/delta"}
    )
    async with client(hostile) as graph:
        page = await graph.delta("inbox")
        with pytest.raises(ProtocolError, match="elsewhere"):
            await graph.delta("inbox", page.next_link)
    assert elsewhere.seen == []  # the bearer token went nowhere else


async def test_a_link_outside_the_mailbox_is_not_followed(hostile: Hostile) -> None:
    async with client(hostile) as graph:
        for link in (
            f"{hostile.url}/v1.0/users/bob@contoso.com/messages",
            f"{hostile.url}/beta/me/messages",
            "not a link at all",
        ):
            with pytest.raises(ProtocolError):
                await graph.delta("inbox", link)
    assert hostile.seen == []


@pytest.mark.parametrize(
    "payload",
    [
        {"value": [{"id": "../../users/bob"}], "@odata.deltaLink": "x"},
        {"value": [{"id": "a" * 5000}], "@odata.deltaLink": "x"},
        {"value": [{"id": 12}], "@odata.deltaLink": "x"},
        {"value": [], "@odata.nextLink": "a", "@odata.deltaLink": "b"},
        {"value": []},
        {"value": "nothing"},
        [1, 2, 3],
    ],
)
async def test_answers_of_the_wrong_shape_are_refused(hostile: Hostile, payload: Any) -> None:
    hostile.routes["/v1.0/me/mailFolders"] = lambda request: Response(json.dumps(payload), 200)
    async with client(hostile) as graph:
        with pytest.raises(ProtocolError):
            await graph.delta("inbox")


async def test_a_huge_answer_is_refused_before_it_is_all_read(hostile: Hostile) -> None:
    sent = []

    def endless(request: Request) -> Response:
        def chunks() -> Iterator[bytes]:
            yield b'{"value": ["'
            for _ in range(16 * 1024):  # a GiB, never sent in full
                sent.append(64 * 1024)
                yield b"a" * 64 * 1024

        return StreamingResponse(chunks(), media_type="application/json")

    hostile.routes["/v1.0/me/mailFolders"] = endless
    async with client(hostile) as graph:
        with pytest.raises(TooLargeError):
            await graph.delta("inbox")
    assert sum(sent) < LISTING_LIMIT_BYTES + 16 * 1024 * 1024


def serve_batches(server: Hostile, parts: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """A $batch endpoint answering each request of a batch with `parts(request)`."""

    def answer(request: Request) -> Response:
        asked = json.loads(request.state.body)
        return JSONResponse({"responses": [{"id": r["id"], **parts(r)} for r in asked["requests"]]})

    server.routes["/v1.0/$batch"] = answer


def mime_of(request: dict[str, Any], bodies: dict[str, bytes]) -> dict[str, Any]:
    name = request["url"].split("/")[3]
    return {"status": 200, "body": base64.b64encode(bodies[name]).decode()}


async def test_a_message_over_the_size_bound_is_not_read(hostile: Hostile) -> None:
    bodies = {"big": b"x" * 300_000, "small": message(1)}
    serve_batches(hostile, lambda request: mime_of(request, bodies))
    async with client(hostile, max_message_bytes=10_000) as graph:
        found = await graph.mime(["big", "small"])
    assert isinstance(found["big"], Oversize) and found["small"] == message(1)


@pytest.mark.parametrize(
    "part",
    [
        {"status": 200, "body": "not base64 at all!"},
        {"status": 200, "body": {"json": "instead of MIME"}},
        {"status": "200"},
        {"status": 400, "body": {"error": {"code": "BadRequest", "message": "no"}}},
    ],
)
async def test_batch_parts_of_the_wrong_shape_are_refused(
    hostile: Hostile, part: dict[str, Any]
) -> None:
    serve_batches(hostile, lambda request: part)
    async with client(hostile) as graph:
        with pytest.raises(ProtocolError):
            await graph.mime(["one", "two"])


async def test_a_batch_answering_for_requests_never_made_is_refused(hostile: Hostile) -> None:
    hostile.routes["/v1.0/$batch"] = lambda request: JSONResponse(
        {"responses": [{"id": "99", "status": 200, "body": "eA=="}]}
    )
    async with client(hostile) as graph:
        with pytest.raises(ProtocolError, match="no request of ours"):
            await graph.mime(["one", "two"])


async def test_a_batch_that_never_moves_is_given_up(hostile: Hostile) -> None:
    # Every part "failed because one before it failed": no round would ever end.
    serve_batches(hostile, lambda request: {"status": 424, "body": {}})
    async with client(hostile) as graph:
        with pytest.raises(TransientError):
            await graph.mime(["one", "two", "three"])
    assert len(hostile.seen) <= FAST.server_attempts


async def test_a_redirect_is_not_followed(hostile: Hostile, elsewhere: Hostile) -> None:
    hostile.routes["/v1.0/me/mailFolders"] = lambda request: RedirectResponse(
        f"{elsewhere.url}/v1.0/me/mailFolders/inbox", 302
    )
    async with client(hostile) as graph:
        with pytest.raises(ProtocolError, match="redirect"):
            await graph.folder("inbox")
    assert elsewhere.seen == []


async def test_a_delta_that_pages_to_itself_ends(hostile: Hostile, mailbox: Mailbox) -> None:
    link = f"{hostile.url}/v1.0/me/mailFolders/inbox/messages/delta?$skiptoken=same"
    hostile.routes["/v1.0/me/mailFolders/inbox/messages/delta"] = delta(
        [], **{"@odata.nextLink": link}
    )
    hostile.routes["/v1.0/me/mailFolders/"] = lambda request: JSONResponse(
        {"id": "AAMkAD", "totalItemCount": 0}
    )
    async with client(hostile) as graph:
        with pytest.raises(ProtocolError, match="itself"):
            await GraphSync(mailbox, graph, Intake()).run()
    assert len(hostile.seen) < 10
    assert not await ProviderItem.exists()


async def test_header_fields_that_would_forge_others_are_refused_or_flattened(
    hostile: Hostile,
) -> None:
    def fields(*pairs: tuple[str, str]) -> Handler:
        headers = [{"name": name, "value": value} for name, value in pairs]
        return lambda request: JSONResponse({"id": "big", "internetMessageHeaders": headers})

    hostile.routes["/v1.0/me/messages/big"] = fields(("Subject", "Hi\r\nBcc: eve@evil.example"))
    async with client(hostile) as graph:
        assert await graph.head("big") == b"Subject: Hi Bcc: eve@evil.example\r\n\r\n"
        hostile.routes["/v1.0/me/messages/big"] = fields(("To: eve@evil.example\r\nX", "y"))
        with pytest.raises(ProtocolError, match="field name"):
            await graph.head("big")
        hostile.routes["/v1.0/me/messages/big"] = lambda request: JSONResponse(
            {"id": "other", "internetMessageHeaders": []}
        )
        with pytest.raises(ProtocolError, match="another message"):
            await graph.head("big")
