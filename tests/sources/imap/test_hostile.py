"""A malicious IMAP server against the client, through the entry points that `mailroom mailbox
sync` and `serve` use (`MailboxSync`) and the one that connects a mailbox (`add_imap_mailbox`):
each attack ends within a bounded time, with the mailbox's last error saying what happened,
and the client takes a bounded part of what the server sends. Also where a mailbox's host may
lead: a host is vetted and looked up once on every connection, later syncs included."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from mailroom.intake import Intake
from mailroom.intake.port import IngestReport
from mailroom.models import Mailbox, Message, Plan, ProviderItem
from mailroom.settings import Settings
from mailroom.sources.imap.accounts import connection_for
from mailroom.sources.imap.errors import ProtocolError, SyncError, TransientError
from mailroom.sources.imap.poller import MailboxSync
from mailroom.vault import new_key
from mailroom.workspace import add_imap_mailbox, add_member, create_workspace
from tests.helpers import message
from tests.sources.imap.hostile import Conversation, HostileServer

NewServer = Callable[..., HostileServer]
# The message size limit and the batch cap here; a step's budget is both plus 4 MB of slack.
LIMIT = 256 * 1024
# What a client may let a server push: a step's budget, and what the kernels buffer between
# them (a few MB on loopback). A server willing to push FLOOD would get it all into a client
# that does not hang up.
PUSHED_BOUND = 32 * 1024 * 1024
FLOOD = 256 * 1024 * 1024
# Each attack ends well within this (the timeout below is 1 s).
BOUND = 20.0
# One byte every 50 ms: each within the socket timeout, the whole over 100 s.
TRICKLE = b"* OK " + b"x" * 2000 + b"\r\n"
REBINDING_HOST = "imap.rebinding.test"


@pytest.fixture
def hostile_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "secret_key": new_key(),
            "imap_allow_private_hosts": True,
            "imap_timeout": 1.0,
            "imap_max_backoff": 0.5,
            "max_message_bytes": LIMIT,
            "imap_batch_bytes": LIMIT,
            "normalize_workers": 0,
        }
    )


def _messages(count: int) -> list[bytes]:
    return [message(message_id=f"<m{n}@hostile.test>", subject=f"Note {n}") for n in range(count)]


async def _mailbox(
    settings: Settings, port: int, host: str = "127.0.0.1", security: str = "none"
) -> Mailbox:
    workspace = await create_workspace("acme", plan=Plan.PRO)
    member = await add_member(workspace, "alice@acme.test")
    connection = connection_for(host, port, security, "alice")
    return await add_imap_mailbox(settings, workspace, member, connection, "secret")


async def _sync(settings: Settings, mailbox: Mailbox) -> IngestReport:
    sync = MailboxSync(mailbox.id, settings, Intake(settings.limits))
    return await asyncio.wait_for(sync.once(), BOUND)


async def _last_error(mailbox: Mailbox) -> str:
    return (await Mailbox.get(id=mailbox.id)).last_error or ""


async def _uids(mailbox: Mailbox) -> list[int]:
    uids = await ProviderItem.filter(mailbox_id=mailbox.id).values_list("uid", flat=True)
    return sorted(int(uid) for uid in uids)


async def test_a_vanished_range_of_four_billion_uids_removes_only_the_known_ones(
    db: Settings, hostile_settings: Settings, hostile_server: NewServer
) -> None:
    server = hostile_server(_messages(5), qresync=True)
    mailbox = await _mailbox(hostile_settings, server.port)
    await _sync(hostile_settings, mailbox)
    assert await _uids(mailbox) == [1, 2, 3, 4, 5]
    server.highestmodseq = 2
    server.vanished = b"2,4:4294967295"
    started = time.monotonic()
    await _sync(hostile_settings, mailbox)
    assert time.monotonic() - started < BOUND / 2
    assert await _uids(mailbox) == [1, 3]
    assert sorted(await Message.all().values_list("subject", flat=True)) == ["Note 0", "Note 2"]


async def test_a_literal_over_the_size_limit_is_refused_before_it_is_read(
    db: Settings, hostile_settings: Settings, hostile_server: NewServer
) -> None:
    server = hostile_server(_messages(1))
    mailbox = await _mailbox(hostile_settings, server.port)

    def huge_body(conversation: Conversation, tag: bytes, arguments: bytes) -> None:
        if b"BODY.PEEK[]" not in arguments:  # the sizes, which lie: 1 message, 300-odd bytes
            server.uid_fetch(conversation, tag, arguments)
            return
        conversation.send(b"* 1 FETCH (UID 1 BODY[] {2147483648}\r\n")
        conversation.flood(b"\0" * 65536, FLOOD)

    server.answers["UID FETCH"] = huge_body
    before = server.pushed
    with pytest.raises(ProtocolError):
        await _sync(hostile_settings, mailbox)
    assert server.pushed - before < PUSHED_BOUND
    error = await _last_error(mailbox)
    assert "2,048.0 MB in one piece" in error and "max_message_bytes" in error
    assert await _uids(mailbox) == []


@pytest.mark.parametrize(
    ("line", "limit"),
    [(b"* OK " + b"x" * 1000 + b"\r\n", FLOOD), (b"* 1 EXISTS\r\n", 48 * 1024 * 1024)],
    ids=["long-lines", "tiny-lines"],
)
async def test_endless_untagged_responses_are_cut_off(
    db: Settings,
    hostile_settings: Settings,
    hostile_server: NewServer,
    line: bytes,
    limit: int,
) -> None:
    server = hostile_server(_messages(3))
    mailbox = await _mailbox(hostile_settings, server.port)

    def flood(conversation: Conversation, tag: bytes, arguments: bytes) -> None:
        if conversation.flood(line, limit):
            conversation.send(tag + b" OK SEARCH done\r\n")

    server.answers["UID SEARCH"] = flood
    before = server.pushed
    # Time enough for the size bound to be what stops the flood, on a busy machine too: the
    # time bound (tested elsewhere) would otherwise cut it first, as a transient failure.
    patient = hostile_settings.model_copy(update={"imap_timeout": 10.0})
    with pytest.raises(ProtocolError):
        await _sync(patient, mailbox)
    assert server.pushed - before < PUSHED_BOUND
    assert "more than any answer may take" in await _last_error(mailbox)


def _trickling(then: Callable[[Conversation, bytes, bytes], None], when: bytes) -> Any:
    """An answer that trickles a line first, if `when` is in the command's arguments."""

    def answer(conversation: Conversation, tag: bytes, arguments: bytes) -> None:
        if when in arguments:
            conversation.trickle(TRICKLE, 0.05)
        then(conversation, tag, arguments)

    return answer


async def test_a_trickled_greeting_fails_the_connection_in_time(
    db: Settings, hostile_settings: Settings, hostile_server: NewServer
) -> None:
    server = hostile_server(_messages(1))
    server.greet = lambda conversation: conversation.trickle(TRICKLE, 0.05)
    started = time.monotonic()
    with pytest.raises(TransientError, match="did not finish connecting and logging in"):
        await asyncio.wait_for(_mailbox(hostile_settings, server.port), BOUND)
    assert time.monotonic() - started < BOUND / 2
    assert await Mailbox.all().count() == 0


@pytest.mark.parametrize(
    ("command", "when", "step"),
    [
        ("LOGIN", b"", "connecting and logging in"),
        ("EXAMINE", b"", "selecting 'INBOX'"),
        ("UID FETCH", b"BODY.PEEK[]", "fetching 1 message"),  # given time per byte received
    ],
)
async def test_a_trickled_answer_fails_the_sync_in_time(
    db: Settings,
    hostile_settings: Settings,
    hostile_server: NewServer,
    command: str,
    when: bytes,
    step: str,
) -> None:
    server = hostile_server(_messages(1))
    mailbox = await _mailbox(hostile_settings, server.port)
    honest = getattr(server, command.lower().replace(" ", "_"))
    server.answers[command] = _trickling(honest, when)
    with pytest.raises(TransientError):
        await _sync(hostile_settings, mailbox)
    assert f"did not finish {step} within 1 s" in await _last_error(mailbox)


async def test_a_response_injected_before_the_starttls_handshake_is_refused(
    db: Settings, hostile_settings: Settings, hostile_server: NewServer
) -> None:
    """What a man in the middle could slip in after STARTTLS's OK would otherwise be read as
    if it had come over TLS."""
    server = hostile_server(_messages(1))
    server.capabilities.append(b"STARTTLS")

    def injecting(conversation: Conversation, tag: bytes, arguments: bytes) -> None:
        conversation.send(tag + b" OK Begin TLS\r\n* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n")

    server.answers["STARTTLS"] = injecting
    with pytest.raises(ProtocolError, match="before the TLS handshake"):
        await asyncio.wait_for(_mailbox(hostile_settings, server.port, security="starttls"), BOUND)


async def test_a_host_that_now_resolves_to_loopback_is_refused_at_sync(
    db: Settings, hostile_settings: Settings, hostile_server: NewServer
) -> None:
    server = hostile_server(_messages(1))
    # Connected while private hosts were allowed; a public host's name that now points at the
    # loopback looks the same to a sync.
    mailbox = await _mailbox(hostile_settings, server.port, host="localhost")
    connections = server.connections
    strict = hostile_settings.model_copy(update={"imap_allow_private_hosts": False})
    with pytest.raises(SyncError, match="not a public address"):
        await _sync(strict, mailbox)
    assert server.connections == connections
    assert "resolves to" in await _last_error(mailbox)


async def test_a_host_is_looked_up_once_per_connection(
    db: Settings,
    hostile_settings: Settings,
    hostile_server: NewServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """DNS rebinding: a name that resolves to a public address when it is checked and to the
    loopback when it is connected to."""
    server = hostile_server(_messages(1))
    # 3fff::/20 is for documentation (RFC 9637): public as far as the check knows, and
    # routed nowhere, so the connection fails (or is refused by the check, on a Python that
    # knows the prefix); either way it never reaches the server on the loopback.
    lookups = _rebinding(monkeypatch, ["3fff::1", "127.0.0.1"])
    strict = hostile_settings.model_copy(update={"imap_allow_private_hosts": False})
    with pytest.raises(SyncError):
        await asyncio.wait_for(
            _mailbox(strict, server.port, host=REBINDING_HOST, security="tls"), BOUND
        )
    assert server.connections == 0
    assert len(lookups) == 1


def _rebinding(monkeypatch: pytest.MonkeyPatch, answers: list[str]) -> list[str]:
    """Make REBINDING_HOST resolve to answers[0], then answers[1], ...: the last one for good.
    Returns the list of lookups made, which grows."""
    lookups: list[str] = []
    resolve = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != REBINDING_HOST:
            return resolve(host, port, *args, **kwargs)
        address = answers[min(len(lookups), len(answers) - 1)]
        lookups.append(address)
        if ":" in address:
            return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, int(port), 0, 0))]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, int(port)))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups
