"""A scripted CalDAV server (Starlette on fakes.server.LocalServer) for what Radicale will not
do: truncate a sync-collection listing (RFC 6578 507), lack sync-collection, and lie. By
default it answers like a small CalDAV server with one calendar at /cal/; a test replaces any
answer with its own (`on`), and every request is noted (`seen`)."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from xml.sax.saxutils import escape

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fakes.server import LocalServer

USER, PASSWORD = "alice", "s3cret"
Handler = Callable[["Call"], Response | None]


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    depth: str | None
    body: bytes

    @property
    def hrefs(self) -> list[str]:
        return re.findall(r"<[^>]*href>([^<]*)</", self.body.decode())

    @property
    def token(self) -> str:
        found = re.search(r"<[^>]*sync-token>([^<]*)</", self.body.decode())
        return found.group(1) if found else ""

    @property
    def report(self) -> str:
        return "sync" if b"sync-collection" in self.body else "multiget"


def multistatus(*responses: str, token: str | None = None) -> Response:
    sync = f"<d:sync-token>{escape(token)}</d:sync-token>" if token is not None else ""
    body = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<d:multistatus xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" '
        'xmlns:cs="http://calendarserver.org/ns/">' + "".join(responses) + sync + "</d:multistatus>"
    )
    return Response(body, 207, media_type="application/xml; charset=utf-8")


def found(href: str, props: str) -> str:
    return (
        f"<d:response><d:href>{escape(href)}</d:href><d:propstat><d:prop>{props}</d:prop>"
        "<d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>"
    )


def status(href: str, code: int, reason: str = "") -> str:
    return (
        f"<d:response><d:href>{escape(href)}</d:href>"
        f"<d:status>HTTP/1.1 {code} {reason}</d:status></d:response>"
    )


@dataclass
class Scripted:
    """The server's state: the calendar's resources by name, and the answers scripted."""

    url: str = ""
    resources: dict[str, str] = field(default_factory=dict)
    supports_sync: bool = True
    ctag: str = "ctag-1"
    seen: list[Call] = field(default_factory=list)
    handlers: list[Handler] = field(default_factory=list)

    def on(self, handler: Handler) -> None:
        """Answer with `handler` first; it returns None to leave a request to the defaults."""
        self.handlers.insert(0, handler)

    def etag(self, name: str) -> str:
        return f'"{abs(hash(self.resources[name])) % 10**12}"'

    async def handle(self, request: Request) -> Response:
        call = Call(
            request.method, request.url.path, request.headers.get("depth"), await request.body()
        )
        self.seen.append(call)
        expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return Response("", 401, {"WWW-Authenticate": 'Basic realm="cal"'})
        for handler in self.handlers:
            answer = handler(call)
            if answer is not None:
                return answer
        return self.default(call)

    def default(self, call: Call) -> Response:
        if call.method == "PROPFIND" and call.path == "/cal/" and call.depth == "0":
            reports = (
                "<d:supported-report-set><d:supported-report><d:report><d:sync-collection/>"
                "</d:report></d:supported-report></d:supported-report-set>"
                if self.supports_sync
                else ""
            )
            props = (
                "<d:resourcetype><d:collection/><c:calendar/></d:resourcetype>"
                f"<cs:getctag>{self.ctag}</cs:getctag>{reports}"
            )
            return multistatus(found("/cal/", props))
        if call.method == "PROPFIND" and call.path == "/cal/":
            members = [
                found(f"/cal/{n}", f"<d:getetag>{self.etag(n)}</d:getetag>") for n in self.resources
            ]
            return multistatus(
                found("/cal/", "<d:resourcetype><d:collection/></d:resourcetype>"), *members
            )
        if call.method == "REPORT" and call.report == "sync":
            if not self.supports_sync:
                return Response("", 501)
            members = [
                found(f"/cal/{n}", f"<d:getetag>{self.etag(n)}</d:getetag>") for n in self.resources
            ]
            return multistatus(*members, token="token-all")
        if call.method == "REPORT":
            answers = []
            for href in call.hrefs:
                name = href.rsplit("/", 1)[-1]
                if name in self.resources:
                    data = escape(self.resources[name])
                    answers.append(found(href, f"<c:calendar-data>{data}</c:calendar-data>"))
                else:
                    answers.append(status(href, 404, "Not Found"))
            return multistatus(*answers)
        if call.method == "GET" and call.path.startswith("/cal/"):
            name = call.path.rsplit("/", 1)[-1]
            if name in self.resources:
                return Response(self.resources[name], 200, media_type="text/calendar")
        return Response("", 404)


@contextmanager
def scripted_server() -> Iterator[Scripted]:
    server = Scripted()
    methods = ["GET", "PUT", "DELETE", "PROPFIND", "REPORT", "OPTIONS"]
    app = Starlette(routes=[Route("/{path:path}", server.handle, methods=methods)])
    with LocalServer(app) as running:
        server.url = running.url
        yield server
