"""One message never holds up the others (#7): mail sent over SMTP with smtplib to the real
gateway, parsed in worker processes within a time budget, while the gateway keeps answering.

The poison is the one reported: 150,000 nested `<div>`s (1.6 MB), which blocked all processing
(and the event loop, so the SMTP banner and the API) for 210 s, and start-up for 84 s when it
was replayed after a kill -9.
"""

from __future__ import annotations

import asyncio
import smtplib
import threading
import time
from collections.abc import AsyncIterator

import pytest

from mailroom.bootstrap import Services, running
from mailroom.intake.port import Incoming, SourceFacts
from mailroom.intake.spool import Spool, SpoolRecord
from mailroom.models import Member, Message, PendingIngest, SenderPolicy, Workspace
from mailroom.settings import Settings
from mailroom.sources.mailboxes import forwarding_mailbox
from mailroom.workspace import add_member, create_workspace, update_workspace
from tests.helpers import message

DOMAIN = "budget.mailroom.test"
WORKSPACE = f"acme@{DOMAIN}"
HEADERS = "From: Alice <alice@acme.com>\r\nTo: Jane <jane@globex.com>\r\n"


def _poison() -> bytes:
    lines = "".join("<div>" * 100 + "\r\n" for _ in range(1500))  # 150,000 open <div>s
    return (
        f"{HEADERS}Subject: poison\r\nMessage-ID: <poison@acme.com>\r\n"
        "Content-Type: text/html; charset=utf-8\r\n\r\n" + lines + "<p>payload</p>\r\n"
    ).encode()


def _slow() -> bytes:
    """Multiparts nested 400 deep over 200,000 lines: seconds of parsing with the depth limit
    raised (the stdlib checks every line against every open boundary)."""
    levels = "".join(
        f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n" for i in range(400)
    )
    body = "Content-Type: text/plain\r\n\r\n" + "x\r\n" * 200_000
    return (f"{HEADERS}Subject: slow\r\nMessage-ID: <slow@acme.com>\r\n" + levels + body).encode()


def _normal() -> bytes:
    return message(
        sender="Alice <alice@acme.com>", message_id="<normal@acme.com>", body="All fine.\n"
    )


@pytest.fixture
def budget_settings(settings: Settings) -> Settings:
    # normalize_workers 0: serve still parses in a worker process, which is what bounds time.
    return settings.model_copy(
        update={
            "smtp_port": 0,
            "mail_domain": DOMAIN,
            "normalize_workers": 0,
            "parse_timeout": 1.0,
            "max_mime_depth": 5000,
        }
    )


async def _workspace() -> tuple[Workspace, Member]:
    workspace = await create_workspace("acme", "Acme")
    await update_workspace(workspace, sender_policy=SenderPolicy.ADDRESS_ONLY)
    return workspace, await add_member(workspace, "alice@acme.com", admin=True)


@pytest.fixture
async def gateway(budget_settings: Settings) -> AsyncIterator[Services]:
    async with running(budget_settings) as services:
        await _workspace()
        yield services


def _send(port: int, raw: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        assert client.sendmail("alice@acme.com", [WORKSPACE], raw) == {}


def _banner_waits(port: int, stop: threading.Event) -> list[float]:
    """How long each new connection waited for the banner, until `stop`."""
    waits = []
    while not stop.is_set():
        start = time.monotonic()
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=5):
                waits.append(time.monotonic() - start)
        except (OSError, smtplib.SMTPException):
            waits.append(float("inf"))
        time.sleep(0.05)
    return waits


async def _processed_while_the_gateway_answers(services: Services, raws: list[bytes]) -> None:
    stop = threading.Event()
    port = services.smtp_port
    probe = asyncio.create_task(asyncio.to_thread(_banner_waits, port, stop))
    try:
        for raw in raws:
            await asyncio.to_thread(_send, port, raw)
        await asyncio.wait_for(services.pipeline.drain(), 60)
    finally:
        stop.set()
        waits = await probe
    assert waits and max(waits) < 2, waits


async def test_poison_html_holds_up_neither_other_mail_nor_the_gateway(
    gateway: Services,
) -> None:
    await _processed_while_the_gateway_answers(gateway, [_poison(), _normal()])
    poison = await Message.get(internet_message_id="poison@acme.com")
    assert poison.subject == "poison"
    assert any("read tag by tag" in d or "took longer than" in d for d in poison.defects)
    normal = await Message.get(internet_message_id="normal@acme.com")
    assert normal.text is not None and "All fine." in normal.text
    assert await PendingIngest.all().count() == 0


async def test_a_message_over_the_time_budget_is_kept_with_its_headers(
    gateway: Services,
) -> None:
    await _processed_while_the_gateway_answers(gateway, [_slow(), _normal()])
    slow = await Message.get(internet_message_id="slow@acme.com")
    assert slow.subject == "slow" and slow.text is None
    assert any("took longer than 1 s: only the header block was read" in d for d in slow.defects)
    assert await Message.filter(internet_message_id="normal@acme.com").exists()
    assert await PendingIngest.all().count() == 0  # kept, never left to be retried


@pytest.fixture
async def roomy_gateway(budget_settings: Settings) -> AsyncIterator[Services]:
    """A parse budget the folded header below fits in on a busy machine (it takes half a
    second on an idle one): what is tested there is the answer, not the budget."""
    async with running(budget_settings.model_copy(update={"parse_timeout": 10.0})) as services:
        await _workspace()
        yield services


async def test_a_header_folded_over_many_lines_is_answered_at_once(
    roomy_gateway: Services,
) -> None:
    gateway = roomy_gateway
    # The gateway reads a few headers on its event loop before it answers: every folded line
    # copied the value so far (a Received folded over 750,000 lines: six seconds of silence).
    folded = "Received: from relay" + "\r\n x" * 750_000 + "\r\n"
    raw = f"{folded}{HEADERS}Subject: folded\r\nMessage-ID: <folded@acme.com>\r\n\r\nHi.\r\n"
    start = time.monotonic()
    await asyncio.to_thread(_send, gateway.smtp_port, raw.encode())
    assert time.monotonic() - start < 3  # most of it is moving 3 MB through smtplib
    await asyncio.wait_for(gateway.pipeline.drain(), 60)
    assert await Message.filter(internet_message_id="folded@acme.com").exists()


def _offer(port: int, raw: bytes) -> None:
    """Send, taking a refusal as an answer too."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as client:
        try:
            client.sendmail("alice@acme.com", [WORKSPACE], raw)
        except smtplib.SMTPResponseException:
            pass


async def test_a_huge_from_read_before_the_answer_leaves_the_gateway_answering(
    gateway: Services,
) -> None:
    # Before it answers, the gateway reads the From as an address list on its event loop: 8 MB
    # of one (an unclosed quote) took four seconds, in which no other client got a banner.
    value = '"' + ("a " * 400 + "\r\n ") * 10_000
    raw = f"From: {value}\r\nSubject: huge\r\nMessage-ID: <huge@acme.com>\r\n\r\nHi.\r\n"
    stop = threading.Event()
    probe = asyncio.create_task(asyncio.to_thread(_banner_waits, gateway.smtp_port, stop))
    try:
        await asyncio.to_thread(_offer, gateway.smtp_port, raw.encode())
    finally:
        stop.set()
        waits = await probe
    assert waits and max(waits) < 2, waits


async def test_poison_left_by_a_crash_does_not_hold_up_the_next_start(
    budget_settings: Settings,
) -> None:
    async with running(budget_settings) as services:
        workspace, alice = await _workspace()
        mailbox = await forwarding_mailbox(alice)
        spool = services.pipeline.spool
        assert spool is not None
        await services.pipeline.stop()  # as if the process died with these spooled
        facts = SourceFacts(unwrap=True)
        raws = [_poison(), _slow(), _normal()]
        records = [SpoolRecord(workspace.id, mailbox.id, Incoming(raw, facts)) for raw in raws]
        Spool(spool.folder).append(records)
    start = time.monotonic()
    async with running(budget_settings) as services:
        assert time.monotonic() - start < 20  # the replay of the poison alone took 84 s
        await services.pipeline.drain()
        found = set(await Message.all().values_list("internet_message_id", flat=True))
        assert found == {"poison@acme.com", "slow@acme.com", "normal@acme.com"}
        assert await PendingIngest.all().count() == 0
