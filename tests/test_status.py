"""What `serve` reports about itself, through the web application `create_app` makes, with the
services running: `/health` with the SMTP gateway and the pollers on and off, `/metrics` moved
by real SMTP sessions (smtplib) and API requests, and the start-up banner."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mailroom.app import create_app
from mailroom.bootstrap import Services, running
from mailroom.logs import record_fields
from mailroom.models import Mailbox, MailboxStatus, Provider, SenderPolicy
from mailroom.settings import Settings
from mailroom.status import log_banner
from mailroom.workspace import add_member, create_token, create_workspace, update_workspace
from tests.helpers import message

DOMAIN = "in.mailroom.test"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class Served:
    client: httpx.AsyncClient
    services: Services
    settings: Settings

    async def scrape(self) -> Samples:
        response = await self.client.get("/metrics")
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples
        }

    async def send(self, raw: bytes, to: str, mail_from: str) -> tuple[int, str]:
        """Send with smtplib (in a thread: the server runs on this loop); the final reply."""
        return await asyncio.to_thread(_send, self.services.smtp_port, raw, to, mail_from)


def _send(port: int, raw: bytes, to: str, mail_from: str) -> tuple[int, str]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        try:
            client.sendmail(mail_from, [to], raw)
        except smtplib.SMTPRecipientsRefused as error:
            code, text = next(iter(error.recipients.values()))
            return code, text.decode()
        except smtplib.SMTPResponseException as error:
            return error.smtp_code, error.smtp_error.decode()
        return 250, ""


@asynccontextmanager
async def served(settings: Settings, **values: Any) -> AsyncIterator[Served]:
    """The services running as `serve` runs them, and a client of the web application."""
    settings = settings.model_copy(
        update={"smtp_port": 0, "mail_domain": DOMAIN, "normalize_workers": 0, **values}
    )
    app = create_app(settings)
    async with running(settings) as services:
        app.state.services = services  # what the app's lifespan does under uvicorn
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://m.test") as client:
            yield Served(client, services, settings)


def delta(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def _reauth_mailboxes(count: int) -> None:
    """IMAP mailboxes that wait for their owner (so the pollers leave them alone)."""
    workspace = await create_workspace("acme")
    member = await add_member(workspace, "alice@acme.com")
    for n in range(count):
        await Mailbox.create(
            workspace=workspace,
            owner=member,
            provider=Provider.IMAP,
            address=f"box{n}@acme.com",
            status=MailboxStatus.NEEDS_REAUTH,
            connection={},
        )


async def test_health_reports_the_gateway_and_the_pollers(db: Settings) -> None:
    async with served(db) as serving:
        await _reauth_mailboxes(2)
        response = await serving.client.get("/health")
        assert response.status_code == 200
        assert response.json() == {
            "status": "ok",
            "database": "ok",
            "smtp": "listening",
            "pollers": {
                "status": "running",
                "mailboxes": {
                    "PENDING": 0,
                    "SYNCING": 0,
                    "ACTIVE": 0,
                    "NEEDS_REAUTH": 2,
                    "FAILED": 0,
                },
            },
        }
        assert serving.services.smtp is not None
        serving.services.smtp.close()  # the gateway stops listening: the process is not well
        response = await serving.client.get("/health")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert response.json()["smtp"] == "stopped"


async def test_health_with_the_gateway_and_the_pollers_off(db: Settings) -> None:
    async with served(
        db,
        smtp_enabled=False,
        imap_enabled=False,
        gmail_enabled=False,
        graph_enabled=False,
        caldav_enabled=False,
    ) as serving:
        response = await serving.client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "smtp": "off",
        "pollers": {"status": "off"},
    }


async def test_metrics_count_smtp_messages_by_reason(db: Settings) -> None:
    async with served(db, smtp_max_message_bytes=20_000) as serving:
        workspace = await create_workspace("acme")
        await update_workspace(workspace, sender_policy=SenderPolicy.ADDRESS_ONLY)
        await add_member(workspace, "alice@acme.com")
        before = await serving.scrape()
        to = f"acme@{DOMAIN}"
        ok = message(sender="alice@acme.com", message_id="<ok@acme.com>")
        assert (await serving.send(ok, to, "alice@acme.com"))[0] == 250
        stranger = message(sender="eve@evil.example", message_id="<spam@evil.example>")
        assert (await serving.send(stranger, to, "eve@evil.example"))[0] == 550
        assert (await serving.send(ok, f"nobody@{DOMAIN}", "alice@acme.com"))[0] == 550
        big = message(sender="alice@acme.com", body="x" * 30_000)
        assert (await serving.send(big, to, "alice@acme.com"))[0] == 552
        await serving.services.pipeline.drain()
        after = await serving.scrape()
    assert delta(before, after, "mailroom_smtp_accepted_total") == 1
    for reason in ("not_a_member", "no_such_recipient", "too_big"):
        assert delta(before, after, "mailroom_smtp_refused_total", reason=reason) == 1, reason
    # Every reason shows from the start, at 0 if nothing was refused for it.
    assert ("mailroom_smtp_refused_total", frozenset({("reason", "no_room")})) in after
    assert delta(before, after, "mailroom_smtp_refused_total", reason="not_authenticated") == 0
    stored = delta(
        before, after, "mailroom_messages_stored_total", provider="FORWARDING", outcome="new"
    )
    assert stored == 1
    assert after[("mailroom_ingest_pending_messages", frozenset())] == 0
    assert after[("mailroom_ingest_spooled_messages", frozenset())] == 0


async def test_metrics_report_mailboxes_by_state_and_their_sync_lag(db: Settings) -> None:
    async with served(db) as serving:
        await _reauth_mailboxes(3)
        samples = await serving.scrape()
    waiting = frozenset({("provider", "IMAP"), ("status", "NEEDS_REAUTH")})
    active = frozenset({("provider", "IMAP"), ("status", "ACTIVE")})
    assert samples[("mailroom_mailboxes", waiting)] == 3
    assert samples[("mailroom_mailboxes", active)] == 0
    # Never synced: the lag counts from when they were connected, moments ago.
    assert 0 <= samples[("mailroom_sync_lag_seconds", waiting)] < 60
    assert ("mailroom_sync_lag_seconds", active) not in samples  # no mailbox in that state


async def test_metrics_count_api_requests_by_operation(db: Settings) -> None:
    async with served(
        db,
        smtp_enabled=False,
        imap_enabled=False,
        gmail_enabled=False,
        graph_enabled=False,
        caldav_enabled=False,
    ) as serving:
        workspace = await create_workspace("acme")
        token = await create_token(await add_member(workspace, "alice@acme.com", admin=True))
        headers = {"Authorization": f"Bearer {token}"}
        before = await serving.scrape()

        async def post(query: str, auth: dict[str, str] = headers) -> httpx.Response:
            return await serving.client.post("/graphql", json={"query": query}, headers=auth)

        assert "errors" not in (await post("{ me { email } workspace { slug } }")).json()
        assert (await post("{ people(first: 1000) { nodes { id } } }")).json()["errors"]
        # Field names a client makes up are refused, and never become label values.
        for made_up in ("aaaa", "bbbb", "cccc"):
            assert (await post(f"{{ {made_up} }}")).json()["errors"]
        assert (await post("{ me { email } }", auth={})).status_code == 401
        after = await serving.scrape()
    counted = "mailroom_api_requests_total"
    assert delta(before, after, counted, type="query", field="me", outcome="ok") == 1
    assert delta(before, after, counted, type="query", field="people", outcome="error") == 1
    assert delta(before, after, counted, type="none", field="none", outcome="invalid") == 3
    assert delta(before, after, counted, type="none", field="none", outcome="unauthorized") == 1
    timed = "mailroom_api_request_seconds_count"
    assert delta(before, after, timed, type="query", field="me") == 1
    assert not [key for key in after if ("field", "aaaa") in key[1]]


async def test_metrics_can_be_turned_off_or_served_elsewhere(db: Settings) -> None:
    async with served(
        db,
        metrics_enabled=False,
        smtp_enabled=False,
        imap_enabled=False,
        gmail_enabled=False,
        graph_enabled=False,
        caldav_enabled=False,
    ) as off:
        assert (await off.client.get("/metrics")).status_code == 404
    async with served(
        db,
        metrics_port=9464,
        smtp_enabled=False,
        imap_enabled=False,
        gmail_enabled=False,
        graph_enabled=False,
        caldav_enabled=False,
    ) as apart:
        # On a listener of its own (run_server), never on the API's port.
        assert (await apart.client.get("/metrics")).status_code == 404


async def test_the_banner_says_where_everything_is(
    db: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailroom.status")
    async with served(
        db,
        graphiql=True,
        http_port=8080,
        imap_enabled=False,
        gmail_enabled=False,
        graph_enabled=False,
        caldav_enabled=False,
    ) as serving:
        secret = serving.settings.model_copy(
            update={"database_url": "postgres://mailroom:s3cret-pw@db.example:5432/mailroom"}
        )
        log_banner(secret, serving.services)
        port = serving.services.smtp_port
    [banner] = [r for r in caplog.records if r.getMessage().startswith("Mailroom ")]
    assert banner.levelno == logging.INFO
    assert record_fields(banner) == {
        "api": "http://127.0.0.1:8080/graphql",
        "graphiql": "http://127.0.0.1:8080/graphql",
        "metrics": "http://127.0.0.1:8080/metrics",
        "smtp": f"127.0.0.1:{port}",
        "mail_domain": DOMAIN,
        "imap": "off",
        "gmail": "off",
        "microsoft": "off",
        "caldav": "off",
        "database": "postgres://mailroom@db.example:5432/mailroom",
    }
