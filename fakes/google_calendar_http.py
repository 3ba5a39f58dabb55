"""The fake Google Calendar over HTTP: a Starlette app served by `fakes.server.LocalServer`
(uvicorn on 127.0.0.1 and a free port, in a thread with its own event loop), answering
GET /calendar/v3/calendars/{calendarId}/events as `FakeGoogleCalendar.answer` decides.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from fakes.gmail import Answer
from fakes.google_calendar import LIST, FakeGoogleCalendar
from fakes.server import LocalServer


def app(fake: FakeGoogleCalendar) -> Starlette:
    async def events(request: Request) -> Response:
        scripted = fake.scripts.get(LIST)
        if scripted is not None:
            response: Response = scripted(request)
            return response
        await asyncio.sleep(fake.delay)
        answer = fake.outer_fault()
        if answer is None:
            answer = fake.answer(
                request.url.path,
                parse_qsl(request.url.query, keep_blank_values=True),
                request.headers.get("authorization", ""),
            )
        else:
            fake.served[answer.status] += 1
            answer = fake.checked(answer)
        return _json(answer)

    return Starlette(routes=[Route("/calendar/v3/calendars/{calendar:str}/events", events)])


def _json(answer: Answer) -> Response:
    return Response(
        answer.text,
        status_code=answer.status,
        headers=answer.headers,
        media_type="application/json; charset=UTF-8",
    )


class CalendarServer(LocalServer):
    """Serves `fake` on 127.0.0.1 (its url set on start). A context manager."""

    def __init__(self, fake: FakeGoogleCalendar) -> None:
        super().__init__(app(fake))
        self.fake = fake

    def start(self) -> None:
        super().start()
        self.fake.url = self.url
