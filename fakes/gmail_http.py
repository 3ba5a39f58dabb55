"""The fake Gmail over HTTP: a Starlette app served by `fakes.server.LocalServer` (uvicorn on
127.0.0.1 and a free port, in a thread with its own event loop), and Gmail's batch endpoint
(https://developers.google.com/gmail/api/guides/batch): a multipart/mixed POST of
application/http parts, each answered in a multipart/mixed part with Content-ID
`response-` + the request's, each with its own status.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from urllib.parse import parse_qsl, urlsplit

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from fakes.gmail import Answer, FakeGmail, error_body, rate_refusal, route
from fakes.server import LocalServer

MAX_PARTS = 100  # Google refuses larger batches
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


def app(fake: FakeGmail) -> Starlette:
    async def api(request: Request) -> Response:
        routed = route(request.url.path)
        scripted = fake.scripts.get(routed[0] if routed else "")
        if scripted is not None:
            response: Response = scripted(request)
            return response
        with fake.lock:
            fake.in_flight += 1
        try:
            await asyncio.sleep(fake.delay)
            answer = fake.outer_fault()
            if answer is None and fake.max_concurrent and fake.in_flight > fake.max_concurrent:
                answer = rate_refusal(429, "rateLimitExceeded", None)
            if answer is None:
                answer = fake.answer(
                    request.url.path,
                    parse_qsl(request.url.query, keep_blank_values=True),
                    request.headers.get("authorization", ""),
                )
            else:
                fake.served[answer.status] += 1
            return _json(answer)
        finally:
            with fake.lock:
                fake.in_flight -= 1

    async def batch(request: Request) -> Response:
        scripted = fake.scripts.get("batch")
        if scripted is not None:
            response: Response = scripted(request)
            return response
        await asyncio.sleep(fake.delay)
        fault = fake.outer_fault()
        if fault is not None:
            fake.served[fault.status] += 1
            return _json(fault)
        parts = _read_batch(request.headers.get("content-type", ""), await request.body())
        if parts is None or len(parts) > MAX_PARTS:
            bad = Answer(
                400, error_body(400, "Bad batch request", "badRequest", "INVALID_ARGUMENT")
            )
            return _json(bad)
        fake.batch_sizes.append(len(parts))
        outer_auth = request.headers.get("authorization", "")
        boundary = "batch_" + secrets.token_urlsafe(12)
        chunks = []
        for index, (content_id, target, headers) in enumerate(parts):
            url = urlsplit(target)
            if url.path.rsplit("/", 1)[-1] in fake.omit_parts:
                fake.omit_parts.discard(url.path.rsplit("/", 1)[-1])
                continue
            if fake.max_concurrent and index >= fake.max_concurrent:
                answer = rate_refusal(429, "rateLimitExceeded", None)
                fake.served[429] += 1
            else:
                answer = fake.answer(
                    url.path,
                    parse_qsl(url.query, keep_blank_values=True),
                    headers.get("authorization", outer_auth),
                )
            answer_id = f"response-{content_id}" if not fake.rename_parts else f"response-x{index}"
            chunks.append(_part(boundary, answer_id, answer))
        body = "".join(chunks) + f"--{boundary}--\r\n"
        return Response(body.encode(), media_type=f"multipart/mixed; boundary={boundary}")

    return Starlette(
        routes=[
            Route("/batch/gmail/v1", batch, methods=["POST"]),
            Route("/batch", batch, methods=["POST"]),
            Route("/gmail/v1/{rest:path}", api, methods=["GET"]),
        ]
    )


def _json(answer: Answer) -> Response:
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


def _read_batch(content_type: str, body: bytes) -> list[tuple[str, str, dict[str, str]]] | None:
    """(Content-ID, request target, headers) of each part; None if it is no batch request."""
    match = _BOUNDARY.search(content_type)
    if not content_type.startswith("multipart/mixed") or match is None:
        return None
    delimiter = b"--" + match.group(1).encode()
    parts = []
    for piece in body.split(delimiter)[1:]:
        if piece.startswith(b"--"):
            break
        text = piece.decode("utf-8").replace("\r\n", "\n").strip("\n")
        outer, _, inner = text.partition("\n\n")
        outer_headers = _headers(outer.split("\n"))
        if outer_headers.get("content-type") != "application/http":
            return None
        lines = inner.split("\n\n")[0].split("\n")
        method, _, rest = lines[0].partition(" ")
        if method != "GET":
            return None
        target = rest.split(" ")[0]  # an HTTP version may follow
        parts.append((outer_headers.get("content-id", "").strip("<>"), target, _headers(lines[1:])))
    return parts


def _headers(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        name, colon, value = line.partition(":")
        if colon:
            found[name.strip().lower()] = value.strip()
    return found


def _part(boundary: str, content_id: str, answer: Answer) -> str:
    reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden"}.get(
        answer.status, "Error"
    )
    head = "".join(f"{name}: {value}\r\n" for name, value in answer.headers.items())
    return (
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <{content_id}>\r\n\r\n"
        f"HTTP/1.1 {answer.status} {reason}\r\nContent-Type: application/json; charset=UTF-8\r\n"
        f"{head}\r\n{answer.text}\r\n"
    )


class GmailServer(LocalServer):
    """Serves `fake` on 127.0.0.1 (its url set on start). A context manager."""

    def __init__(self, fake: FakeGmail) -> None:
        super().__init__(app(fake))
        self.fake = fake

    def start(self) -> None:
        super().start()
        self.fake.url = self.url
