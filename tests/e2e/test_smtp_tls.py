"""TLS and AUTH at the receiver, as `serve` starts it: plaintext refused when TLS is required,
no AUTH offered (there is no account to log in to), a second STARTTLS answered cleanly."""

from __future__ import annotations

import asyncio
import datetime
import logging
import smtplib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mailroom.bootstrap import Services, running
from mailroom.errors import SettingsError
from mailroom.models import Message, SenderPolicy
from mailroom.settings import Settings
from mailroom.workspace import add_member, create_workspace, update_workspace
from tests.e2e.smtp_client import RawSession
from tests.helpers import message

DOMAIN = "in.mailroom.test"
WORKSPACE = f"acme@{DOMAIN}"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate and its key (EC: made in milliseconds)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@asynccontextmanager
async def _started(
    settings: Settings, certificate: tuple[Path, Path], **values: object
) -> AsyncIterator[Services]:
    cert, key = certificate
    configured = settings.model_copy(
        update={
            "smtp_port": 0,
            "mail_domain": DOMAIN,
            "normalize_workers": 0,
            "smtp_tls_cert_file": cert,
            "smtp_tls_key_file": key,
            **values,
        }
    )
    async with running(configured) as started:
        workspace = await create_workspace("acme")
        await update_workspace(workspace, sender_policy=SenderPolicy.ADDRESS_ONLY)
        await add_member(workspace, "alice@acme.com")
        yield started


def _client_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certificate[0]))
    context.check_hostname = False
    return context


async def test_required_tls_refuses_plaintext_mail(
    settings: Settings, certificate: tuple[Path, Path]
) -> None:
    def plaintext_then_tls(port: int) -> tuple[tuple[int, bytes], dict[str, tuple[int, bytes]]]:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.ehlo()
            refused = client.mail("alice@acme.com")
            client.starttls(context=_client_context(certificate))
            client.ehlo()
            raw = message(sender="alice@acme.com", message_id="<tls@acme.com>")
            return refused, client.sendmail("alice@acme.com", [WORKSPACE], raw)

    async with _started(settings, certificate, smtp_require_tls=True) as services:
        refused, after_tls = await asyncio.to_thread(plaintext_then_tls, services.smtp_port)
        assert refused == (530, b"5.7.0 Must issue a STARTTLS command first")
        assert after_tls == {}
        await services.pipeline.drain()
        assert await Message.filter(internet_message_id="tls@acme.com").count() == 1


async def test_required_tls_without_a_certificate_does_not_start(settings: Settings) -> None:
    configured = settings.model_copy(
        update={"smtp_port": 0, "normalize_workers": 0, "smtp_require_tls": True}
    )
    with pytest.raises(SettingsError, match="certificate"):
        async with running(configured):
            pass


async def test_auth_is_neither_offered_nor_taken(
    settings: Settings, certificate: tuple[Path, Path]
) -> None:
    def ehlo_and_auth(port: int) -> tuple[list[str], list[str], tuple[int, str]]:
        session = RawSession(port)
        try:
            before = session.command("EHLO client.example")[1].split("\n")
            assert session.start_tls(_client_context(certificate))[0] == 220
            after = session.command("EHLO client.example")[1].split("\n")
            return before, after, session.command("AUTH PLAIN AGFsaWNlAHNlY3JldA==")
        finally:
            session.close()

    async with _started(settings, certificate) as services:
        before, after, auth = await asyncio.to_thread(ehlo_and_auth, services.smtp_port)
    assert "STARTTLS" in before
    assert not [line for line in before + after if line.upper().startswith("AUTH")]
    assert auth[0] == 502 and auth[1].startswith("5.5.1 ")


async def test_a_second_starttls_gets_a_clean_refusal(
    settings: Settings, certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def twice(port: int) -> tuple[tuple[int, str], tuple[int, str]]:
        session = RawSession(port)
        try:
            session.command("EHLO client.example")
            assert session.start_tls(_client_context(certificate))[0] == 220
            session.command("EHLO client.example")
            return session.command("STARTTLS"), session.command("NOOP")
        finally:
            session.close()

    async with _started(settings, certificate) as services:
        again, noop = await asyncio.to_thread(twice, services.smtp_port)
    assert again[0] == 503 and again[1].startswith("5.5.1 ")
    assert noop[0] == 250  # the session goes on, still encrypted
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]


async def test_a_failed_handshake_is_one_line_and_frees_its_connection_once(
    settings: Settings, certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    def fail_a_handshake_then_connect(port: int) -> tuple[int, str]:
        sessions = [RawSession(port), RawSession(port)]
        try:
            failed = sessions[1]
            failed.command("EHLO client.example")
            assert failed.command("STARTTLS")[0] == 220
            failed.send(b"this is not a TLS ClientHello\r\n\r\n")
            assert failed.sock.recv(100) == b""  # closed by the server
            # With the first, as many as a client may have open: the next is one too many.
            sessions.append(RawSession(port))
            sessions.append(RawSession(port))
            return sessions[-1].banner
        finally:
            for session in sessions:
                session.close()

    async with _started(settings, certificate, smtp_max_connections_per_client=2) as services:
        code, text = await asyncio.to_thread(fail_a_handshake_then_connect, services.smtp_port)
    assert code == 421 and text.startswith("4.7.0 ")
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
