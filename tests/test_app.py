"""`GET /health` answers anyone: when the database fails, it says so and nothing more (a
database's error can name its host, user and files); the error goes to the log."""

from __future__ import annotations

import logging

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from mailroom.app import health
from mailroom.db import close_database, open_database
from mailroom.settings import Settings


async def test_health_does_not_tell_strangers_the_database_error(
    db: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    app = Starlette(routes=[Route("/health", health)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://m.test") as client:
        assert (await client.get("/health")).json() == {"status": "ok", "database": "ok"}
        await close_database()
        try:
            with caplog.at_level(logging.ERROR):
                response = await client.get("/health")
        finally:
            await open_database(db)
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unavailable"}
    assert "health check: the database does not answer" in caplog.text
