"""The gateway end to end: mail submitted to a real Postfix is relayed to Mailroom and stored;
sender authentication checks real DKIM signatures and SPF records served by a real DNS server."""

from __future__ import annotations

import asyncio
import smtplib
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from mailroom.bootstrap import Services, running
from mailroom.models import Direction, Message, MessageCopy, SenderPolicy
from mailroom.settings import Settings
from mailroom.workspace import add_member, create_workspace, get_workspace, update_workspace
from tests.e2e.services import DnsServer, PostfixInstance, dkim_keypair, dkim_sign
from tests.helpers import message

DOMAIN = "in.mailroom.test"
WORKSPACE = f"acme@{DOMAIN}"


@dataclass
class Gateway:
    services: Services

    @property
    def port(self) -> int:
        return self.services.smtp_port


@asynccontextmanager
async def _start(settings: Settings, **values: object) -> AsyncIterator[Gateway]:
    configured = settings.model_copy(
        update={"smtp_port": 0, "mail_domain": DOMAIN, "normalize_workers": 0, **values}
    )
    async with running(configured) as services:
        workspace = await create_workspace("acme")
        await update_workspace(workspace, sender_policy=SenderPolicy.VERIFIED)
        await add_member(workspace, "alice@example.com")
        await add_member(workspace, "bob@example.org")
        await add_member(workspace, "carol@example.net")
        yield Gateway(services)


def _send(port: int, raw: bytes, mail_from: str) -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.sendmail(mail_from, [WORKSPACE], raw)


async def _stored(message_id: str, seconds: float = 30) -> Message:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = await Message.get_or_none(internet_message_id=message_id)
        if found is not None:
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"{message_id} was not stored")


async def test_mail_relayed_by_postfix_is_stored(
    settings: Settings, postfix: Callable[[int], PostfixInstance]
) -> None:
    async with _start(settings) as gateway:
        await update_workspace(await get_workspace("acme"), sender_policy=SenderPolicy.ADDRESS_ONLY)
        relay = await asyncio.to_thread(postfix, gateway.port)
        raw = message(
            sender="Alice <alice@example.com>",
            to="Jane <jane@globex.com>",
            message_id="<via-postfix@example.com>",
        )
        await asyncio.to_thread(_send, relay.port, raw, "alice@example.com")
        stored = await _stored("via-postfix@example.com")
        copy = await MessageCopy.get(message_id=stored.id)
        assert copy.direction is Direction.OUTBOUND
        await asyncio.to_thread(relay.wait_for_empty_queue)
        assert "status=sent" in relay.log()


@pytest.fixture
async def verified(settings: Settings, dns_server: DnsServer) -> AsyncIterator[Gateway]:
    host, port = dns_server.nameserver
    async with _start(
        settings,
        dns_nameservers=[f"{host}:{port}"],
        trusted_relay_networks=["127.0.0.0/8"],
        trusted_authserv_ids=["mx.trusted.test"],
    ) as gateway:
        yield gateway


def _refused(port: int, raw: bytes, mail_from: str) -> tuple[int, str]:
    with pytest.raises(smtplib.SMTPDataError) as refused:
        _send(port, raw, mail_from)
    return refused.value.smtp_code, refused.value.smtp_error.decode()


async def test_dkim_signed_member_mail_is_accepted_and_tampering_refused(
    verified: Gateway, dns_server: DnsServer
) -> None:
    private, record = dkim_keypair()
    await asyncio.to_thread(dns_server.add_txt, "s1._domainkey.example.com", record)
    await asyncio.to_thread(dns_server.add_txt, "example.com", "v=spf1 -all")
    raw = message(sender="alice@example.com", to="jane@globex.com", message_id="<signed@x>")
    signed = dkim_sign(raw, "example.com", "s1", private)
    await asyncio.to_thread(_send, verified.port, signed, "alice@example.com")
    await _stored("signed@x")
    tampered = signed.replace(b"here is the plan", b"here is the bank account")
    code, text = await asyncio.to_thread(_refused, verified.port, tampered, "alice@example.com")
    assert code == 550 and text.startswith("5.7.26")


async def test_unsigned_mail_needs_spf_to_pass_for_the_client(
    verified: Gateway, dns_server: DnsServer
) -> None:
    await asyncio.to_thread(dns_server.add_txt, "example.org", "v=spf1 ip4:127.0.0.1 -all")
    await asyncio.to_thread(dns_server.add_txt, "example.com", "v=spf1 ip4:192.0.2.1 -all")
    bob = message(sender="bob@example.org", message_id="<spf-pass@x>")
    await asyncio.to_thread(_send, verified.port, bob, "bob@example.org")
    await _stored("spf-pass@x")
    forged = message(sender="alice@example.com", message_id="<spf-fail@x>")
    code, text = await asyncio.to_thread(_refused, verified.port, forged, "alice@example.com")
    assert code == 550 and "could not be verified" in text


async def test_a_trusted_relays_results_count_and_others_do_not(verified: Gateway) -> None:
    def with_results(authserv: str, message_id: str) -> bytes:
        header = f"Authentication-Results: {authserv}; dkim=pass header.d=example.net\r\n"
        return header.encode() + message(sender="carol@example.net", message_id=message_id)

    trusted = with_results("mx.trusted.test", "<trusted@x>")
    await asyncio.to_thread(_send, verified.port, trusted, "carol@example.net")
    await _stored("trusted@x")
    forged = with_results("mx.forged.test", "<forged@x>")
    code, _ = await asyncio.to_thread(_refused, verified.port, forged, "carol@example.net")
    assert code == 550


async def test_without_trusted_networks_no_results_header_counts(
    settings: Settings, dns_server: DnsServer
) -> None:
    host, port = dns_server.nameserver
    async with _start(
        settings, dns_nameservers=[f"{host}:{port}"], trusted_authserv_ids=["mx.trusted.test"]
    ) as gateway:
        raw = (
            b"Authentication-Results: mx.trusted.test; dkim=pass header.d=example.net\r\n"
            + message(sender="carol@example.net", message_id="<no-network@x>")
        )
        code, _ = await asyncio.to_thread(_refused, gateway.port, raw, "carol@example.net")
        assert code == 550
