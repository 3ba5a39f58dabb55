"""The forwarding gateway, driven by smtplib against the real receiver on a free port: each kind
of mail, each refusal, each limit, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import smtplib
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import pytest
from tortoise.transactions import in_transaction

from mailroom.bootstrap import Services, running
from mailroom.intake.port import Incoming, SourceFacts
from mailroom.intake.spool import Spool, SpoolRecord, read_segment
from mailroom.logs import record_fields
from mailroom.models import (
    Direction,
    Mailbox,
    Message,
    MessageCopy,
    Participant,
    Person,
    Provider,
    RawMessage,
    SenderPolicy,
    Workspace,
)
from mailroom.settings import Settings
from mailroom.sources.mailboxes import forwarding_mailbox
from mailroom.workspace import (
    add_member,
    create_workspace,
    forwarding_address,
    get_member,
    get_workspace,
    update_workspace,
)
from tests.cli.runner import mailroom_in
from tests.helpers import message

DOMAIN = "in.mailroom.test"
WORKSPACE = f"acme@{DOMAIN}"


@dataclass
class Gateway:
    settings: Settings
    services: Services

    @property
    def port(self) -> int:
        return self.services.smtp_port

    async def send(
        self, raw: bytes, to: list[str] | None = None, mail_from: str = "alice@acme.com"
    ) -> dict[str, tuple[int, bytes]]:
        """Send with smtplib (in a thread: the server runs on this loop); returns refusals."""
        return await asyncio.to_thread(_send, self.port, raw, to or [WORKSPACE], mail_from)

    async def settle(self) -> None:
        await self.services.pipeline.drain()


def _send(port: int, raw: bytes, to: list[str], mail_from: str) -> dict[str, tuple[int, bytes]]:
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        return client.sendmail(mail_from, to, raw)


def _refusal(error: BaseException) -> tuple[int, str]:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()))
        return code, text.decode()
    assert isinstance(error, smtplib.SMTPResponseException), error
    return error.smtp_code, error.smtp_error.decode()


def _overrides(settings: Settings, **values: object) -> Settings:
    return settings.model_copy(
        update={
            "smtp_port": 0,
            "mail_domain": DOMAIN,
            "normalize_workers": 0,
            **values,
        }
    )


@pytest.fixture
def gateway_settings(settings: Settings) -> Settings:
    return _overrides(settings)


@pytest.fixture
async def gateway(gateway_settings: Settings) -> AsyncIterator[Gateway]:
    async with running(gateway_settings) as services:
        workspace = await create_workspace("acme", "Acme")
        await update_workspace(workspace, sender_policy=SenderPolicy.ADDRESS_ONLY)
        await add_member(workspace, "alice@acme.com", admin=True, aliases=["alice@acme.io"])
        await add_member(workspace, "bob@acme.com")
        yield Gateway(gateway_settings, services)


async def _copy_of(message_id: str) -> MessageCopy:
    copy = MessageCopy.get(message__internet_message_id=message_id)
    return await copy.prefetch_related("mailbox")


async def test_bcc_is_the_members_outbound_copy(gateway: Gateway) -> None:
    raw = message(
        sender="Alice <alice@acme.com>",
        to="Jane Doe <jane@globex.com>",
        cc="Kim <kim@initech.com>",
        message_id="<bcc@acme.com>",
    )
    assert await gateway.send(raw) == {}
    await gateway.settle()
    copy = await _copy_of("bcc@acme.com")
    assert copy.direction is Direction.OUTBOUND
    assert copy.mailbox.provider is Provider.FORWARDING
    assert copy.mailbox.address == "alice@acme.com"
    addresses = set(await Participant.all().values_list("address", flat=True))
    assert {"jane@globex.com", "kim@initech.com"} <= addresses
    # SELECTIVE: Alice wrote to them, so they are people now.
    assert await Person.all().count() == 2


def _forward_as_attachment(original: bytes) -> bytes:
    wrapper = EmailMessage()
    wrapper["From"] = "Alice <alice@acme.com>"
    wrapper["To"] = WORKSPACE
    wrapper["Subject"] = "Fwd: Quarterly plan"
    wrapper["Message-ID"] = "<wrapper@acme.com>"
    wrapper.set_content("FYI, see below.")
    wrapper.add_attachment(original, maintype="message", subtype="rfc822", filename="fwd.eml")
    return wrapper.as_bytes()


async def test_forward_is_unwrapped_to_the_original(gateway: Gateway) -> None:
    original = message(sender="Jane Doe <jane@globex.com>", to="alice@acme.com")
    assert await gateway.send(_forward_as_attachment(original)) == {}
    await gateway.settle()
    stored = await Message.get()
    # The original's Message-ID, kept by the attachment.
    assert stored.internet_message_id == "m1@client.example"
    sender = await Participant.get(message_id=stored.id, role="FROM")
    assert sender.address == "jane@globex.com"
    copy = await MessageCopy.get(message_id=stored.id)
    assert copy.direction is Direction.INBOUND
    assert not await Message.filter(internet_message_id="wrapper@acme.com").exists()


async def test_inline_gmail_forward_is_unwrapped(gateway: Gateway) -> None:
    body = (
        "Have a look.\n\n"
        "---------- Forwarded message ---------\n"
        "From: Jane Doe <jane@globex.com>\n"
        "Date: Mon, Mar 2, 2026 at 9:30 AM\n"
        "Subject: Quarterly plan\n"
        "To: Alice <alice@acme.com>\n\n"
        "Hello,\nhere is the plan.\n"
    )
    raw = message(
        sender="alice@acme.com",
        to=WORKSPACE,
        subject="Fwd: Quarterly plan",
        body=body,
        message_id="<inline@acme.com>",
    )
    assert await gateway.send(raw) == {}
    await gateway.settle()
    stored = await Message.get()
    assert stored.subject == "Quarterly plan"
    sender = await Participant.get(message_id=stored.id, role="FROM")
    assert (sender.address, sender.name) == ("jane@globex.com", "Jane Doe")
    assert stored.text is not None and stored.text.startswith("Hello,")


async def test_forward_whose_original_is_lost_is_kept_with_a_defect(gateway: Gateway) -> None:
    raw = message(
        sender="alice@acme.com",
        to=WORKSPACE,
        subject="Fwd: lunch?",
        body="See below\n\n-----Original Message-----\nnothing useful\n",
        message_id="<lost@acme.com>",
    )
    assert await gateway.send(raw) == {}
    await gateway.settle()
    stored = await Message.get(internet_message_id="lost@acme.com")
    assert any("could not be recovered" in d for d in stored.defects)


async def test_auto_forwarded_mail_is_the_members_inbound_copy(gateway: Gateway) -> None:
    alice = await get_member(await _workspace(), "alice@acme.com")
    personal = await forwarding_address(alice, DOMAIN)
    raw = message(
        sender="Jane Doe <jane@globex.com>",
        to="alice@acme.com",
        message_id="<auto@globex.com>",
        headers={"X-Forwarded-For": f"alice@acme.com {personal}", "X-Forwarded-To": personal},
    )
    assert await gateway.send(raw, to=[personal], mail_from="jane@globex.com") == {}
    await gateway.settle()
    copy = await _copy_of("auto@globex.com")
    assert copy.direction is Direction.INBOUND and copy.mailbox.address == "alice@acme.com"
    assert copy.labels == ["auto-forward"]


async def _workspace() -> object:
    from mailroom.workspace import get_workspace

    return await get_workspace("acme")


@pytest.mark.parametrize(
    ("recipient", "code", "text"),
    [
        (f"nobody@{DOMAIN}", 550, "5.1.1"),
        (f"acme+wrongtoken@{DOMAIN}", 550, "5.1.1"),
        ("acme@elsewhere.example", 550, "5.1.1"),
    ],
)
async def test_unknown_recipients_are_refused_at_rcpt(
    gateway: Gateway, recipient: str, code: int, text: str
) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await gateway.send(message(sender="alice@acme.com"), to=[recipient])
    assert _refusal(refused.value)[0] == code
    assert text in _refusal(refused.value)[1]


async def test_strangers_may_not_write_to_the_workspace(
    gateway: Gateway, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    raw = message(sender="eve@evil.example", message_id="<spam@evil.example>")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await gateway.send(raw, mail_from="eve@evil.example")
    assert _refusal(refused.value)[:1] == (550,)
    assert "5.7.1" in _refusal(refused.value)[1] and "not a member" in _refusal(refused.value)[1]
    assert {"reason": "not_a_member", "message_id": "<spam@evil.example>"}.items() <= {
        item for r in caplog.records for item in record_fields(r).items()
    }
    assert await RawMessage.all().count() == 0


async def test_personal_address_takes_only_its_member(gateway: Gateway) -> None:
    alice = await get_member(await _workspace(), "alice@acme.com")
    personal = await forwarding_address(alice, DOMAIN)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await gateway.send(message(sender="bob@acme.com"), to=[personal], mail_from="bob@acme.com")
    assert _refusal(refused.value)[0] == 550
    assert await gateway.send(message(sender="alice@acme.io"), to=[personal]) == {}


async def test_a_rotated_address_stops_working(gateway: Gateway) -> None:
    alice = await get_member(await _workspace(), "alice@acme.com")
    old = await forwarding_address(alice, DOMAIN)
    new = await forwarding_address(alice, DOMAIN, rotate=True)
    assert new != old
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        await gateway.send(message(sender="alice@acme.com"), to=[old])
    assert await gateway.send(message(sender="alice@acme.com"), to=[new]) == {}


async def test_message_without_from_is_refused(gateway: Gateway) -> None:
    raw = b"To: acme@in.mailroom.test\r\nSubject: who?\r\nMessage-ID: <nofrom@x>\r\n\r\nbody\r\n"
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await gateway.send(raw)
    assert _refusal(refused.value)[0] == 550 and "5.6.0" in _refusal(refused.value)[1]


async def test_retried_and_reforwarded_mail_is_stored_once(gateway: Gateway) -> None:
    raw = message(sender="alice@acme.com", to="jane@globex.com", message_id="<once@acme.com>")
    for _ in range(3):
        assert await gateway.send(raw) == {}
    original = message(sender="jane@globex.com", to="alice@acme.com", message_id="<orig@globex>")
    for _ in range(2):
        assert await gateway.send(_forward_as_attachment(original)) == {}
    await gateway.settle()
    assert await Message.filter(internet_message_id="once@acme.com").count() == 1
    assert await MessageCopy.filter(message__internet_message_id="once@acme.com").count() == 1
    assert await Message.filter(internet_message_id="orig@globex").count() == 1


async def test_the_bytes_are_on_disk_when_250_is_sent(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = gateway.services.pipeline.spool
    assert spool is not None
    # Keep the segment being written: nothing moves on to the database from here on.
    monkeypatch.setattr(spool, "seal", lambda: None)
    raw = message(sender="alice@acme.com", message_id="<durable@acme.com>")
    assert await gateway.send(raw) == {}
    segments = list(spool.folder.glob("*.spool"))
    records = [r for segment in segments for r in read_segment(segment)]
    assert len(records) == 1
    assert raw.rstrip() in records[0].incoming.raw
    assert records[0].incoming.raw.startswith(b"Received: from ")
    assert await Message.all().count() == 0


async def test_spooled_mail_left_by_a_crash_is_taken_up_at_start(
    gateway_settings: Settings,
) -> None:
    async with running(gateway_settings) as services:
        workspace = await create_workspace("acme")
        alice = await add_member(workspace, "alice@acme.com")
        mailbox = await forwarding_mailbox(alice)
        spool = services.pipeline.spool
        assert spool is not None
        await services.pipeline.stop()  # as if the process died after writing the spool
        record = SpoolRecord(
            workspace.id,
            mailbox.id,
            Incoming(message(sender="alice@acme.com", message_id="<spooled@x>"), SourceFacts()),
        )
        Spool(spool.folder).append([record])
    async with running(gateway_settings) as services:
        await services.pipeline.drain()
        assert await Message.filter(internet_message_id="spooled@x").count() == 1
        assert list(spool.folder.glob("*.spool")) == []


async def test_a_second_workspace_sees_nothing(gateway: Gateway) -> None:
    other = await create_workspace("globex")
    await update_workspace(other, sender_policy=SenderPolicy.ADDRESS_ONLY)
    await add_member(other, "gina@globex.com")
    assert await gateway.send(message(sender="alice@acme.com", message_id="<a@x>")) == {}
    await gateway.settle()
    boxes = await Mailbox.filter(workspace_id=other.id).count()
    assert boxes == 0
    assert await Message.filter(workspace_id=other.id).count() == 0


# --- limits ------------------------------------------------------------------------------------


@pytest.fixture
def limited_settings(settings: Settings, tmp_path: Path) -> Settings:
    return _overrides(
        settings,
        smtp_max_message_bytes=20_000,
        smtp_max_recipients=3,
        smtp_max_commands_before_data=10,
        smtp_max_connections_per_client=2,
        smtp_max_connections=3,
        smtp_messages_per_sender_per_minute=3,
        smtp_messages_per_client_per_minute=5,
        smtp_idle_timeout=1.0,
    )


@pytest.fixture
async def limited(limited_settings: Settings) -> AsyncIterator[Gateway]:
    async with running(limited_settings) as services:
        workspace = await create_workspace("acme", "Acme")
        await update_workspace(workspace, sender_policy=SenderPolicy.ADDRESS_ONLY)
        await add_member(workspace, "alice@acme.com")
        await add_member(workspace, "bob@acme.com")
        yield Gateway(limited_settings, services)


async def test_size_is_advertised_and_enforced(limited: Gateway) -> None:
    def ehlo_size() -> str | None:
        with smtplib.SMTP("127.0.0.1", limited.port) as client:
            client.ehlo()
            return client.esmtp_features.get("size")

    assert await asyncio.to_thread(ehlo_size) == "20000"
    big = message(sender="alice@acme.com", body="x" * 30_000)
    with pytest.raises(smtplib.SMTPException) as refused:
        await limited.send(big)
    assert _refusal(refused.value) == (552, "5.3.4 Message too big for this system")


async def test_too_many_recipients(limited: Gateway) -> None:
    def send_to_four() -> tuple[int, bytes]:
        with smtplib.SMTP("127.0.0.1", limited.port) as client:
            client.ehlo()
            client.mail("alice@acme.com")
            for _ in range(3):
                assert client.rcpt(WORKSPACE)[0] == 250
            return client.rcpt(WORKSPACE)

    code, text = await asyncio.to_thread(send_to_four)
    assert (code, text.decode()) == (452, "4.5.3 Too many recipients")


async def test_mail_loops_are_refused(limited: Gateway) -> None:
    hops = b"".join(
        b"Received: from hop%d by hop%d; Mon, 2 Mar 2026 09:30:00 +0000\r\n" % (i, i)
        for i in range(50)
    )
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await limited.send(hops + message(sender="alice@acme.com"))
    code, text = _refusal(refused.value)
    assert code == 554 and text.startswith("5.4.6")


async def test_too_many_commands_before_data(limited: Gateway) -> None:
    def chatter() -> tuple[int, bytes]:
        with smtplib.SMTP("127.0.0.1", limited.port) as client:
            for _ in range(10):
                client.noop()
            return client.noop()

    code, text = await asyncio.to_thread(chatter)
    assert (code, text.decode()) == (421, "4.7.0 Too many commands before DATA")


async def test_too_many_connections_from_one_client(limited: Gateway) -> None:
    def third_connection() -> tuple[int, bytes]:
        first = smtplib.SMTP("127.0.0.1", limited.port)
        second = smtplib.SMTP("127.0.0.1", limited.port)
        try:
            with pytest.raises(smtplib.SMTPConnectError) as refused:
                smtplib.SMTP("127.0.0.1", limited.port)
            return refused.value.smtp_code, refused.value.smtp_error
        finally:
            first.quit()
            second.quit()

    code, text = await asyncio.to_thread(third_connection)
    assert code == 421 and text.decode().startswith("4.7.0")


async def test_too_many_connections_in_all(limited: Gateway) -> None:
    def connect_from(host: str) -> socket.socket:
        return socket.create_connection(("127.0.0.1", limited.port), 10, (host, 0))

    def fourth_client() -> bytes:
        # Three hosts (127.0.0.0/8 is all loopback), each within its own limit.
        clients = [connect_from(host) for host in ("127.0.0.1", "127.0.0.2", "127.0.0.3")]
        try:
            for client in clients:
                assert client.recv(200).startswith(b"220 ")
            with connect_from("127.0.0.4") as fourth:
                return fourth.recv(200)
        finally:
            for client in clients:
                client.close()

    assert (await asyncio.to_thread(fourth_client)).startswith(b"421 4.3.2 ")


async def test_messages_per_sender_per_minute(limited: Gateway) -> None:
    for n in range(3):
        assert await limited.send(message(sender="alice@acme.com", message_id=f"<r{n}@x>")) == {}
    # The count follows the member the mail is admitted for, whatever the envelope claims.
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await limited.send(
            message(sender="alice@acme.com", message_id="<r4@x>"), mail_from="bounces@acme.io"
        )
    assert refused.value.smtp_code == 451 and refused.value.smtp_error.startswith(b"4.7.1")
    assert await limited.send(message(sender="bob@acme.com"), mail_from="bob@acme.com") == {}


async def test_a_strangers_commands_do_not_use_up_a_members_allowance(limited: Gateway) -> None:
    """MAIL FROM claims anything: MAIL and RSET in the member's name, from anywhere, count for
    nothing; only messages accepted for the member do."""

    def flood() -> None:
        for _ in range(3):
            with smtplib.SMTP("127.0.0.1", limited.port) as client:
                client.ehlo()
                for _ in range(4):
                    client.mail("alice@acme.com")
                    client.rset()

    await asyncio.to_thread(flood)
    assert await limited.send(message(sender="alice@acme.com", message_id="<real@x>")) == {}


async def test_messages_per_client_per_minute(limited: Gateway) -> None:
    for n, sender in enumerate(["alice@acme.com", "bob@acme.com"] * 2 + ["bob@acme.com"]):
        raw = message(sender=sender, message_id=f"<c{n}@x>")
        assert await limited.send(raw, mail_from=sender) == {}
    # Refused at MAIL, before the client sends a byte of the message.
    with pytest.raises(smtplib.SMTPSenderRefused) as refused:
        await limited.send(message(sender="alice@acme.com", message_id="<c5@x>"))
    assert refused.value.smtp_code == 451 and refused.value.smtp_error.startswith(b"4.7.1")


async def test_idle_connections_are_closed(limited: Gateway) -> None:
    def idle() -> bytes:
        with smtplib.SMTP("127.0.0.1", limited.port) as client:
            client.ehlo()
            assert client.sock is not None
            client.sock.settimeout(10)
            return client.sock.recv(200)

    assert (await asyncio.to_thread(idle)).startswith(b"421 4.4.2")


async def test_starttls_when_a_certificate_is_configured(
    settings: Settings, tmp_path: Path
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN={DOMAIN}",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    tls = _overrides(settings, smtp_tls_cert_file=cert, smtp_tls_key_file=key)
    async with running(tls) as services:
        workspace = await create_workspace("acme")
        await update_workspace(workspace, sender_policy=SenderPolicy.ADDRESS_ONLY)
        await add_member(workspace, "alice@acme.com")

        def send_over_tls() -> str:
            context = ssl.create_default_context(cafile=str(cert))
            context.check_hostname = False
            with smtplib.SMTP("127.0.0.1", services.smtp_port) as client:
                client.ehlo()
                assert client.has_extn("starttls")
                client.starttls(context=context)
                client.ehlo()
                client.sendmail("alice@acme.com", [WORKSPACE], message(sender="alice@acme.com"))
                assert client.sock is not None
                return str(client.sock.version())

        assert (await asyncio.to_thread(send_over_tls)).startswith("TLS")
        await services.pipeline.drain()
        assert await Message.all().count() == 1


async def test_a_sender_policy_set_from_the_command_line_holds_for_the_next_message(
    gateway: Gateway, tmp_path: Path
) -> None:
    """`mailroom workspace set`, run as its own process while the gateway runs, decides the
    very next message: the gateway caches who is who for a moment, never a workspace's
    settings."""
    env = {"MAILROOM_DATABASE_URL": gateway.settings.database_url}

    def policy(value: str) -> None:
        done = mailroom_in(tmp_path, "workspace", "set", "acme", "--sender-policy", value, env=env)
        assert done.returncode == 0, done.stderr

    raw = message(sender="Alice <alice@acme.com>", message_id="<p1@acme.com>")
    assert await gateway.send(raw) == {}  # ADDRESS_ONLY, and the directory now cached
    await asyncio.to_thread(policy, "VERIFIED")
    unsigned = message(sender="Alice <alice@acme.com>", message_id="<p2@acme.com>")
    with pytest.raises(smtplib.SMTPException) as refused:
        await gateway.send(unsigned)
    assert _refusal(refused.value)[0] == 550
    await asyncio.to_thread(policy, "ADDRESS_ONLY")
    assert await gateway.send(unsigned) == {}
    await gateway.settle()
    stored = await Message.all().values_list("internet_message_id", flat=True)
    assert sorted(stored) == ["p1@acme.com", "p2@acme.com"]


async def test_first_messages_at_once_make_one_mailbox(gateway: Gateway) -> None:
    """A member's first messages arriving on several connections at once each looked for the
    forwarding mailbox, found none, and made one: on SQLite, whose table had lost its unique
    constraint, the member then had two, and every later message was refused with a 451."""
    raws = [message(sender="alice@acme.com", message_id=f"<first{n}@acme.com>") for n in range(8)]
    # Clients of their own threads: in the loop's default pool they would take the threads
    # the server writes its spool with.
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(len(raws)) as clients:
        refusals = await asyncio.gather(
            *(
                loop.run_in_executor(clients, _send, gateway.port, r, [WORKSPACE], "alice@acme.com")
                for r in raws
            )
        )
    assert refusals == [{}] * 8
    later = await gateway.send(message(sender="alice@acme.com", message_id="<later@acme.com>"))
    assert later == {}
    await gateway.settle()
    boxes = await Mailbox.filter(provider=Provider.FORWARDING).values_list("id", flat=True)
    assert len(boxes) == 1
    assert await MessageCopy.filter(mailbox_id=boxes[0]).count() == 9


async def test_a_message_is_accepted_while_a_write_holds_the_database(gateway: Gateway) -> None:
    """The gateway reads each recipient's workspace before its `250`. On SQLite that read went
    to the connection the writes take for a whole transaction, so every message waited for the
    pipeline's commit of those before it; it has a read-only connection of its own."""
    first = message(sender="alice@acme.com", message_id="<warm@acme.com>")
    assert await gateway.send(first) == {}  # who is who, cached for a moment
    workspace = await get_workspace("acme")
    async with in_transaction() as connection:
        # An uncommitted write, as a pipeline's commit in progress is.
        await Workspace.filter(id=workspace.id).using_db(connection).update(name="Acme Corp")
        during = message(sender="alice@acme.com", message_id="<during@acme.com>")
        assert await asyncio.wait_for(gateway.send(during), 20) == {}
    await gateway.settle()
    stored = await Message.all().values_list("internet_message_id", flat=True)
    assert sorted(stored) == ["during@acme.com", "warm@acme.com"]


def _pipelined_session(port: int, wire: bytes) -> list[bytes]:
    """Send a whole session in one write, as a client that does not wait would; the replies'
    lines once the server closes the connection."""
    with socket.create_connection(("127.0.0.1", port), 30) as client:
        client.sendall(wire)
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    return answer.split(b"\r\n")[:-1]


async def test_a_client_that_sends_everything_at_once_has_each_message_ended_at_its_dot(
    gateway: Gateway,
) -> None:
    # DATA is read in large pieces: nothing past a message's final dot may be taken with it,
    # however the lines before it look like an end (a dot after a bare LF, dot-stuffed lines,
    # a line of two dots, a dot and a bare CR) and whatever follows it in the same packet.
    tricky = b"bare LF then a dot\n.\r\n..\r\n..stuffed\r\n.\r.\r\n\r\n"
    first = _crlf(message(sender="alice@acme.com", message_id="<first@acme.com>")) + tricky
    second = _crlf(message(sender="alice@acme.com", message_id="<second@acme.com>"))
    envelope = f"MAIL FROM:<alice@acme.com>\r\nRCPT TO:<{WORKSPACE}>\r\nDATA\r\n".encode()
    wire = b"EHLO client.example\r\n" + b"".join(
        envelope + _stuffed(raw) + b".\r\n" for raw in (first, second)
    )
    replies = await asyncio.to_thread(_pipelined_session, gateway.port, wire + b"QUIT\r\n")
    codes = [line[:3] for line in replies if line[3:4] == b" "]
    each = [b"250", b"250", b"354", b"250"]  # MAIL, RCPT, DATA, the message
    assert codes == [b"220", b"250", *each, *each, b"221"]
    await gateway.settle()
    stored = {m.internet_message_id: m for m in await Message.all().prefetch_related("raw_message")}
    assert set(stored) == {"first@acme.com", "second@acme.com"}
    assert bytes(stored["first@acme.com"].raw_message.data).endswith(first)
    assert bytes(stored["second@acme.com"].raw_message.data).endswith(second)


def _crlf(raw: bytes) -> bytes:
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _stuffed(raw: bytes) -> bytes:
    """As a client sends it: a dot before each line that starts with one (RFC 5321, 4.5.2)."""
    lines = raw.split(b"\r\n")
    return b"\r\n".join(b"." + line if line.startswith(b".") else line for line in lines)
