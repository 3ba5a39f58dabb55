"""The end-to-end servers work: Postfix relays to a receiver and retries a refusal, dnsmasq
serves the records that DKIM and SPF checks look up."""

from __future__ import annotations

import email
import smtplib
from collections.abc import Callable
from email import policy

from tests.e2e.services import (
    DnsServer,
    PostfixInstance,
    SmtpSink,
    check_spf,
    dkim_keypair,
    dkim_sign,
    txt_strings,
    verify_dkim,
)
from tests.helpers import message

Start = Callable[[int], PostfixInstance]


def send(port: int, raw: bytes, sender: str = "jane@example.org") -> None:
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
        client.sendmail(sender, ["alice@example.com"], raw)


def test_postfix_relays_to_the_receiver(postfix: Start, smtp_sink: SmtpSink) -> None:
    relay = postfix(smtp_sink.port)
    send(relay.port, message(message_id="<relay-1@client.example>"))

    delivery = smtp_sink.next_delivery()
    parsed = email.message_from_bytes(delivery.content, policy=policy.default)
    assert (delivery.mail_from, delivery.rcpt_tos) == ("jane@example.org", ("alice@example.com",))
    assert parsed["Message-ID"] == "<relay-1@client.example>"
    received = parsed.get_all("Received")
    assert received and "by relay.mailroom.test (Postfix)" in received[0]
    relay.wait_for_empty_queue()
    assert "status=sent" in relay.log()


def test_postfix_retries_after_a_temporary_refusal(postfix: Start, smtp_sink: SmtpSink) -> None:
    smtp_sink.refusals.append("451 4.3.0 Try again later")
    relay = postfix(smtp_sink.port)
    send(relay.port, message(message_id="<retry-1@client.example>"))
    relay.wait_for_log("status=deferred")
    # The retry timers are 1 s (config/postfix/main.cf), but a busy machine can hold the queue
    # manager's next scan back for long: ask for the retry now. The message is retried from
    # the deferred queue either way, which is what this shows.
    relay.flush()

    delivery = smtp_sink.next_delivery(timeout=30)
    assert b"<retry-1@client.example>" in delivery.content
    assert smtp_sink.attempts == 2
    relay.wait_for_empty_queue()
    log = relay.log()
    assert log.index("status=deferred") < log.index("status=sent"), log


def test_long_txt_values_are_split_and_served_whole(dns_server: DnsServer) -> None:
    value = "v=DKIM1; k=rsa; p=" + "A" * 400 + '"quoted\\'
    dns_server.add_txt("long._domainkey.example.com", value)

    strings = dns_server.resolver().resolve("long._domainkey.example.com", "TXT")[0].strings
    assert [len(s) for s in strings] == [255, len(value) - 255]
    assert b"".join(strings).decode() == value
    # Split here, not left to dnsmasq (which would split too): the strings DnsServer writes.
    assert [len(s) for s in txt_strings("x" * 600)] == [255, 255, 90]
    assert txt_strings("") == [b""]


def test_dkim_signature_verifies_against_the_dns_server(dns_server: DnsServer) -> None:
    private_key, record = dkim_keypair()
    dns_server.add_txt("mr1._domainkey.example.com", record)
    signed = dkim_sign(message(sender="jane@example.com"), "example.com", "mr1", private_key)

    assert signed.startswith(b"DKIM-Signature: ")
    assert verify_dkim(signed, dns_server.nameserver)
    assert not verify_dkim(
        signed.replace(b"here is the plan", b"here is the PLAN"), dns_server.nameserver
    )
    # A signature whose key is not published does not verify either.
    unpublished = dkim_sign(message(), "example.com", "nokey", private_key)
    assert not verify_dkim(unpublished, dns_server.nameserver)


def test_dkim_signature_survives_the_relay(
    postfix: Start, smtp_sink: SmtpSink, dns_server: DnsServer
) -> None:
    private_key, record = dkim_keypair()
    dns_server.add_txt("mr2._domainkey.example.com", record)
    relay = postfix(smtp_sink.port)
    send(
        relay.port, dkim_sign(message(sender="jane@example.com"), "example.com", "mr2", private_key)
    )

    assert verify_dkim(smtp_sink.next_delivery().content, dns_server.nameserver)


def test_spf_passes_for_the_listed_address_only(dns_server: DnsServer) -> None:
    dns_server.add_txt("example.com", "v=spf1 ip4:127.0.0.1 -all")
    ns = dns_server.nameserver

    assert check_spf("127.0.0.1", "jane@example.com", "helo.example.com", ns)[0] == "pass"
    assert check_spf("192.0.2.7", "jane@example.com", "helo.example.com", ns)[0] == "fail"
    assert check_spf("127.0.0.1", "jane@example.net", "helo.example.net", ns)[0] == "none"
    # Outside the test zones dnsmasq refuses: a temporary error, not a verdict.
    assert check_spf("127.0.0.1", "jane@mailroom.invalid", "helo.invalid", ns)[0] == "temperror"
