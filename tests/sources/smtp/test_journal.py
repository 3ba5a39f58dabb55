"""The gateway's journal, through the real receiver driven by smtplib: one log line for every
message accepted or refused, with what an operator looks for (queue id, Message-ID, senders,
recipients, size, and a refusal's reason and reply), in both log formats."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import smtplib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from mailroom.bootstrap import Services, running
from mailroom.logs import JsonFormatter, TextFormatter, record_fields
from mailroom.models import SenderPolicy
from mailroom.settings import Settings
from mailroom.workspace import add_member, create_workspace, update_workspace
from tests import helpers

DOMAIN = "in.mailroom.test"
WORKSPACE = f"acme@{DOMAIN}"
JOURNAL = "mailroom.sources.smtp.journal"


def message(**values: Any) -> bytes:
    """As a mail client sends it over SMTP: CRLF line ends (smtplib sends bytes as they are)."""
    return helpers.message(**values).replace(b"\n", b"\r\n")


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    settings = settings.model_copy(
        update={
            "smtp_port": 0,
            "mail_domain": DOMAIN,
            "normalize_workers": 0,
            "smtp_max_message_bytes": 20_000,
        }
    )
    async with running(settings) as services:
        workspace = await create_workspace("acme")
        await update_workspace(workspace, sender_policy=SenderPolicy.ADDRESS_ONLY)
        await add_member(workspace, "alice@acme.com")
        yield services


def _send(
    port: int, raw: bytes, to: list[str], mail_from: str, *, announce_size: bool = True
) -> tuple[int, str]:
    """The reply that ended the message: to DATA, or the refusal of MAIL or RCPT."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.ehlo()
        if not announce_size:
            client.esmtp_features.pop("size")
        for code, text in (client.mail(mail_from), *(client.rcpt(r) for r in to)):
            if code >= 400:
                return code, text.decode()
        code, text = client.data(raw)
        return code, text.decode()


async def send(
    services: Services, raw: bytes, to: list[str], mail_from: str, *, announce_size: bool = True
) -> tuple[int, str]:
    """Send with smtplib, in a thread: the server runs on this loop."""
    port = services.smtp_port
    return await asyncio.to_thread(_send, port, raw, to, mail_from, announce_size=announce_size)


def _reply(reply: tuple[int, str]) -> str:
    return f"{reply[0]} {reply[1]}"


def journal(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == JOURNAL]


async def test_an_accepted_message_is_one_line_with_its_queue_id(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=JOURNAL)
    raw = message(sender="Alice <alice@acme.com>", message_id="<plan@acme.com>")
    code, reply = await send(services, raw, [WORKSPACE], "alice@acme.com")
    assert code == 250
    queue_id = re.search(r"queued as (\d+)", reply)
    assert queue_id
    [line] = journal(caplog)
    assert (line.levelno, line.getMessage()) == (logging.INFO, "accepted")
    fields = record_fields(line)
    assert fields == {
        "queue_id": queue_id[1],
        "members": 1,
        "message_id": "<plan@acme.com>",
        "mail_from": "alice@acme.com",
        "sender": "alice@acme.com",
        "recipients": 1,
        "size": len(raw),
        "client": "127.0.0.1",
    }


async def test_each_refusal_is_one_line_with_its_reason_and_reply(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=JOURNAL)
    stranger = message(sender="eve@evil.example", message_id="<spam@evil.example>")
    refused = await send(services, stranger, [WORKSPACE], "eve@evil.example")
    unknown = await send(services, message(), [f"nobody@{DOMAIN}"], "alice@acme.com")
    body = "The quarterly plan, with the numbers we discussed.\n" * 600
    big = message(sender="alice@acme.com", body=body, message_id="<big@acme.com>")
    # Without SIZE at MAIL the message is refused once its DATA is read; with it, at MAIL.
    too_big = await send(services, big, [WORKSPACE], "alice@acme.com", announce_size=False)
    announced = await send(services, big, [WORKSPACE], "alice@acme.com")
    lines = [(r.levelno, r.getMessage(), record_fields(r)) for r in journal(caplog)]
    assert [(level, text, fields["reason"]) for level, text, fields in lines] == [
        (logging.INFO, "refused", "not_a_member"),
        (logging.INFO, "refused", "no_such_recipient"),
        (logging.INFO, "refused", "too_big"),
        (logging.INFO, "refused", "too_big"),
    ]
    stranger_line, unknown_line, big_line, announced_line = (f for _, _, f in lines)
    assert stranger_line == {
        "reason": "not_a_member",
        "reply": _reply(refused),
        "message_id": "<spam@evil.example>",
        "mail_from": "eve@evil.example",
        "sender": "eve@evil.example",
        "recipients": 1,
        "size": len(stranger),
        "client": "127.0.0.1",
    }
    assert unknown_line["reply"] == _reply(unknown)
    assert unknown_line["mail_from"] == "alice@acme.com"
    assert big_line["reply"] == _reply(too_big)
    assert big_line["size"] > 20_000 and big_line["recipients"] == 1
    assert announced_line["reply"] == _reply(announced)


async def test_a_refusal_that_asks_for_the_operator_is_a_warning(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=JOURNAL)
    settings = settings.model_copy(
        update={
            "smtp_port": 0,
            "mail_domain": DOMAIN,
            "normalize_workers": 0,
            "smtp_messages_per_client_per_minute": 1,
        }
    )
    async with running(settings) as services:
        workspace = await create_workspace("acme")
        await update_workspace(workspace, sender_policy=SenderPolicy.ADDRESS_ONLY)
        await add_member(workspace, "alice@acme.com")
        first = message(sender="alice@acme.com", message_id="<one@acme.com>")
        await send(services, first, [WORKSPACE], "alice@acme.com")
        second = message(sender="alice@acme.com", message_id="<two@acme.com>")
        await send(services, second, [WORKSPACE], "alice@acme.com")
    lines = [(r.levelno, record_fields(r).get("reason")) for r in journal(caplog)]
    assert lines == [(logging.INFO, None), (logging.WARNING, "client_rate_limited")]


async def test_a_senders_words_cannot_forge_a_field(
    services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=JOURNAL)
    forged = '<x@evil.example> reason=accepted "queue_id=1"'
    raw = f"From: eve@evil.example\r\nMessage-ID: {forged}\r\n\r\nHi\r\n".encode()
    await send(services, raw, [WORKSPACE], "eve@evil.example")
    [line] = journal(caplog)
    text = TextFormatter().format(line)
    assert " reason=not_a_member " in text
    assert 'message_id="<x@evil.example> reason=accepted \\"queue_id=1\\""' in text
    parsed = json.loads(JsonFormatter().format(line))
    assert (parsed["message"], parsed["reason"]) == ("refused", "not_a_member")
    assert parsed["message_id"] == forged
