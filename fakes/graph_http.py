"""The fake Graph over HTTP: a Starlette app served by `fakes.server.LocalServer`, and Graph's
JSON batching (learn.microsoft.com/graph/json-batching): `POST /v1.0/$batch` with
`{"requests": [{"id", "method", "url", "headers", "dependsOn"}]}`, at most 20, ids unique, URLs
relative to /v1.0; answered `{"responses": [{"id", "status", "headers", "body"}]}` in an order
of the server's own (not the requests'), a body that is not JSON (a `$value`) in base64.

Parts without `dependsOn` run at once, each one of the mailbox's concurrent requests: past the
fourth (with none other in flight) they get their own 429 inside the batch, as Outlook does.
With `dependsOn` the batch runs one part at a time, a part whose dependency failed getting 424.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fakes.graph import JSON_TYPE, Answer, Call, FakeGraph, graph_error
from fakes.graph_calendar import GraphCalendar
from fakes.server import LocalServer

MAX_PARTS = 20
MAX_BATCH_BYTES = 4 * 1024 * 1024  # Graph's limit on a request body
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def app(fake: FakeGraph, calendar: GraphCalendar | None = None) -> Starlette:
    async def api(request: Request) -> Response:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        target = raw_path.decode("latin-1").removeprefix("/v1.0")
        if request.url.query:
            target += "?" + request.url.query
        call = Call.of(request.method, target, request.headers)
        authorization = request.headers.get("authorization", "")
        if calendar is not None and calendar.serves(call):
            answer = await calendar.respond(call, authorization)
        else:
            answer = await fake.respond(call, authorization)
        return _response(call, answer)

    async def batch(request: Request) -> Response:
        call = Call.of("POST", "/$batch", request.headers)
        answer = fake.gateway_fault(call) or fake.unauthenticated(
            call, request.headers.get("authorization", "")
        )
        if answer is None:
            answer = await _batch(fake, call, request)
        if answer.status != 200:  # the batch refused whole; its parts count otherwise
            fake.record(call, "batch", answer)
        return _response(call, answer)

    return Starlette(
        routes=[
            Route("/v1.0/$batch", batch, methods=["POST"]),
            Route("/v1.0/{rest:path}", api, methods=METHODS),
        ]
    )


async def _batch(fake: FakeGraph, call: Call, request: Request) -> Answer:
    if int(request.headers.get("content-length") or 0) > MAX_BATCH_BYTES:
        return graph_error(call, 413, "RequestEntityTooLarge", "The request is too large.")
    body = await request.body()
    if len(body) > MAX_BATCH_BYTES:
        return graph_error(call, 413, "RequestEntityTooLarge", "The request is too large.")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != (
        "application/json"
    ):
        return graph_error(call, 400, "BadRequest", "Batch requests must be application/json.")
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        document = None
    parts = _parts(document)
    if isinstance(parts, str):
        return graph_error(call, 400, "BadRequest", parts)
    with fake.lock:
        fake.calls["batch"] += 1
        fake.batch_sizes.append(len(parts))
    authorization = request.headers.get("authorization", "")
    if any(part.get("dependsOn") for part in parts):
        order = _sequence(parts)
        if order is None:
            return graph_error(call, 400, "BadRequest", "Invalid dependsOn in the batch.")
        answered: dict[str, dict[str, Any]] = {}
        for part in order:
            failed = any(answered[d.lower()]["status"] >= 400 for d in part.get("dependsOn", []))
            answered[part["id"].lower()] = (
                _failed_dependency(fake, call, part)
                if failed
                else await _part(fake, part, authorization)
            )
        responses = list(answered.values())
    else:
        responses = list(await asyncio.gather(*(_part(fake, p, authorization) for p in parts)))
    # "Individual responses might appear in a different order than the requests."
    responses.sort(key=lambda r: hashlib.sha256(r["id"].encode()).digest())
    return Answer(200, {"responses": responses})


def _parts(document: Any) -> list[dict[str, Any]] | str:
    """The batch's requests, checked; a message (str) saying what is wrong with them."""
    if not isinstance(document, dict) or not isinstance(document.get("requests"), list):
        return "Invalid batch payload format."
    parts: list[dict[str, Any]] = document["requests"]
    if not parts:
        return "The batch request must contain at least one request."
    if len(parts) > MAX_PARTS:
        return f"Number of batch request steps exceeds the maximum of {MAX_PARTS}."
    seen: set[str] = set()
    for part in parts:
        if not isinstance(part, dict):
            return "Invalid batch payload format."
        for name in ("id", "method", "url"):
            if not isinstance(part.get(name), str) or not part[name]:
                return f"Every request of a batch must have a '{name}'."
        if part["id"].lower() in seen:  # ids are not case-sensitive
            return f"Batch request ids must be unique: '{part['id']}'."
        seen.add(part["id"].lower())
        headers, depends = part.get("headers", {}), part.get("dependsOn", [])
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            return "A batch request's headers must be an object of strings."
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            return "A batch request's dependsOn must be a list of ids."
    return parts


def _sequence(parts: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """The parts in an order that runs each after those it depends on; None if there is none
    (an unknown id, a cycle)."""
    ids = {part["id"].lower() for part in parts}
    if any(d.lower() not in ids for part in parts for d in part.get("dependsOn", [])):
        return None
    done: set[str] = set()
    order: list[dict[str, Any]] = []
    while len(order) < len(parts):
        ready = [
            part
            for part in parts
            if part["id"].lower() not in done
            and all(d.lower() in done for d in part.get("dependsOn", []))
        ]
        if not ready:
            return None
        order.append(ready[0])
        done.add(ready[0]["id"].lower())
    return order


async def _part(fake: FakeGraph, part: dict[str, Any], authorization: str) -> dict[str, Any]:
    url: str = part["url"]
    call = Call.of(part["method"], "/" + url.lstrip("/"), part.get("headers", {}), part=True)
    if url.lower().startswith(("http://", "https://", "$batch", "/$batch")):
        answer = graph_error(call, 400, "BadRequest", "Invalid request URL in the batch.")
        fake.record(call, "", answer)
    else:
        answer = await fake.respond(call, authorization)
    return _rendered(part["id"], call, answer)


def _failed_dependency(fake: FakeGraph, call: Call, part: dict[str, Any]) -> dict[str, Any]:
    answer = graph_error(call, 424, "FailedDependency", "A request it depends on failed.")
    fake.record(call, "", answer)
    return _rendered(part["id"], call, answer)


def _rendered(part_id: str, call: Call, answer: Answer) -> dict[str, Any]:
    headers = _headers(call, answer)
    body = answer.body
    if isinstance(body, bytes):
        body = base64.b64encode(body).decode("ascii")
    return {"id": part_id, "status": answer.status, "headers": headers, "body": body}


def _headers(call: Call, answer: Answer) -> dict[str, str]:
    headers = {"Cache-Control": "private"}
    if isinstance(answer.body, bytes):
        headers["Content-Type"] = "text/plain"
    else:
        headers["Content-Type"] = JSON_TYPE
        if answer.status < 300:
            headers["OData-Version"] = "4.0"
    headers.update(answer.headers)
    if not call.part:
        headers["request-id"] = call.request_id
        headers["client-request-id"] = call.client_request_id
    return headers


def _response(call: Call, answer: Answer) -> Response:
    headers = _headers(call, answer)
    media_type = headers.pop("Content-Type")
    body = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body).encode()
    return Response(body, status_code=answer.status, headers=headers, media_type=media_type)


class GraphServer(LocalServer):
    """Serves `fake` on 127.0.0.1 (its url set on start), with the user's default calendar
    (`calendar`, fakes/graph_calendar.py). A context manager."""

    def __init__(self, fake: FakeGraph) -> None:
        self.calendar = GraphCalendar(fake)
        super().__init__(app(fake, self.calendar))
        self.fake = fake

    def start(self) -> None:
        super().start()
        self.fake.url = self.url
