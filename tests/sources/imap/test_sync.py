"""IMAP sync against a real Dovecot, on SQLite and PostgreSQL: first sync, new mail in IDLE,
deletions, UIDVALIDITY changes, connections cut mid-FETCH, wrong passwords, a server that
disappears, and mailboxes that share messages."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from itertools import cycle, islice

import pytest

from mailroom.errors import ConflictError, InvalidInputError, SettingsError
from mailroom.intake import Intake
from mailroom.logs import record_fields
from mailroom.metrics import REGISTRY
from mailroom.models import (
    Direction,
    Mailbox,
    MailboxStatus,
    Member,
    Message,
    MessageCopy,
    Plan,
    ProviderItem,
    Workspace,
)
from mailroom.settings import Settings
from mailroom.sources.imap.accounts import connection_for
from mailroom.sources.imap.errors import AuthError, TransientError
from mailroom.sources.imap.poller import MailboxSync
from mailroom.vault import new_key
from mailroom.workspace import (
    OPERATOR,
    add_imap_mailbox,
    add_member,
    create_workspace,
    reconnect_imap_mailbox,
)
from mailroom.workspace.syncing import sync_mailbox
from tests.conftest import CORPORA
from tests.helpers import message
from tests.sources.imap.mailboxes import (
    append_messages,
    delete_messages,
    recreate_folder,
)
from tests.sources.imap.proxy import FaultProxy
from tests.sources.imap.services import DovecotServer, ImapUser

_MESSAGE_ID = re.compile(rb"^Message-ID:.*\r?\n(?:[ \t].*\r?\n)*", re.I | re.M)


def corpus_messages(count: int, tag: str, max_bytes: int | None = None) -> list[bytes]:
    """`count` real messages from the corpora, each given a Message-ID of its own."""
    files = sorted(p for p in (CORPORA / "spamscope").iterdir() if p.is_file())
    files += sorted((CORPORA / "flanker").glob("*.eml"))
    if max_bytes is not None:
        files = [f for f in files if f.stat().st_size <= max_bytes]
    assert len(files) > 20, f"no corpora at {CORPORA}"
    messages = []
    for n, path in enumerate(islice(cycle(files), count)):
        raw = _MESSAGE_ID.sub(b"", path.read_bytes())
        messages.append(b"Message-ID: <%s-%d@corpus.test>\r\n" % (tag.encode(), n) + raw)
    return messages


@dataclass
class Account:
    settings: Settings
    workspace: Workspace
    member: Member
    user: ImapUser
    mailbox: Mailbox

    def sync(self) -> MailboxSync:
        return MailboxSync(self.mailbox.id, self.settings, Intake(self.settings.limits))

    def append(self, messages: list[bytes], folder: str = "INBOX") -> list[int]:
        return append_messages(self.user.port, self.user.name, self.user.password, folder, messages)


@pytest.fixture
def imap_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "secret_key": new_key(),
            "imap_allow_private_hosts": True,
            "imap_poll_interval": 30.0,
            "imap_timeout": 10.0,
            "imap_max_backoff": 0.5,
            "imap_batch_size": 50,
            "normalize_workers": 0,
        }
    )


async def _account(
    settings: Settings, user: ImapUser, *, port: int | None = None, slug: str = "acme"
) -> Account:
    workspace = await Workspace.get_or_none(slug=slug) or await create_workspace(
        slug, plan=Plan.PRO
    )
    member = await Member.get_or_none(workspace=workspace, email=f"{user.name}@acme.test")
    if member is None:
        member = await add_member(workspace, f"{user.name}@acme.test")
    connection = connection_for("127.0.0.1", port or user.port, "none", user.name)
    mailbox = await add_imap_mailbox(settings, workspace, member, connection, user.password)
    return Account(settings, workspace, member, user, mailbox)


@pytest.fixture
async def account(
    db: Settings, imap_settings: Settings, imap_user: Callable[[], ImapUser]
) -> Account:
    return await _account(imap_settings, imap_user())


async def _message_ids(mailbox: Mailbox) -> list[str]:
    ids = await MessageCopy.filter(mailbox_id=mailbox.id).values_list(
        "message__internet_message_id", flat=True
    )
    return sorted(str(i) for i in ids)


@pytest.mark.slow
async def test_first_sync_of_thousands_of_messages_newest_first(account: Account) -> None:
    # Several batches and progress updates; bench/imap.py syncs 10,000 and more for speed.
    count = 2_500
    messages = corpus_messages(count, "big")
    uids = await asyncio.to_thread(account.append, messages)
    report = await account.sync().once()
    assert report.new == count
    await account.mailbox.refresh_from_db()
    assert account.mailbox.status is MailboxStatus.ACTIVE
    assert (account.mailbox.progress_done, account.mailbox.progress_total) == (count, count)
    assert await MessageCopy.filter(mailbox_id=account.mailbox.id).count() == count
    # Newest first: the highest UID was stored before the lowest (UUIDv7 keys are ordered).
    first = await ProviderItem.get(mailbox_id=account.mailbox.id, uid=max(uids))
    last = await ProviderItem.get(mailbox_id=account.mailbox.id, uid=min(uids))
    assert first.id < last.id
    again = await account.sync().once()
    assert again.new == again.duplicate == 0
    assert await Message.all().count() == count


async def test_a_message_over_the_size_limit_is_stored_from_its_header(account: Account) -> None:
    """Fetched whole it would be refused (a literal over the limit drops the connection), and
    the folder would never get past it."""
    limit = 64 * 1024
    big = message(message_id="<big@size.test>", subject="The big one", body="words\n" * 40_000)
    small = corpus_messages(2, "size", max_bytes=limit // 2)
    await asyncio.to_thread(account.append, [small[0], big, small[1]])
    capped = account.settings.model_copy(update={"max_message_bytes": limit})
    report = await MailboxSync(account.mailbox.id, capped, Intake(capped.limits)).once()
    assert report.new == 3
    await account.mailbox.refresh_from_db()
    assert account.mailbox.status is MailboxStatus.ACTIVE
    stored = await Message.get(internet_message_id="big@size.test").prefetch_related("raw_message")
    assert stored.subject == "The big one" and not stored.text
    assert stored.raw_message.size < 2048  # its header block, not the 240 kB
    # Kept with a defect saying why, and the size the server gave for the whole.
    assert stored.size == len(big.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
    assert any("over the size limit: only its header block" in d for d in stored.defects)
    assert await _message_ids(account.mailbox) == [
        "big@size.test",
        "size-0@corpus.test",
        "size-1@corpus.test",
    ]


async def test_sent_folder_is_outbound_and_junk_is_ignored(account: Account) -> None:
    sent, received, junk = corpus_messages(3, "kinds")
    await asyncio.to_thread(account.append, [sent], "Sent")
    await asyncio.to_thread(account.append, [received], "INBOX")
    await asyncio.to_thread(account.append, [junk], "Junk")
    await account.sync().once()
    directions = dict(
        await MessageCopy.filter(mailbox_id=account.mailbox.id).values_list(
            "message__internet_message_id", "direction"
        )
    )
    assert directions == {
        "kinds-0@corpus.test": Direction.OUTBOUND,
        "kinds-1@corpus.test": Direction.INBOUND,
    }


async def test_new_mail_during_idle_is_stored_within_seconds(account: Account) -> None:
    await asyncio.to_thread(account.append, corpus_messages(3, "before"))
    task = asyncio.create_task(account.sync().forever())
    try:
        await _until(lambda: _has_status(account.mailbox, MailboxStatus.ACTIVE), 30)
        await asyncio.sleep(0.5)  # into IDLE
        new = corpus_messages(1, "during-idle")
        start = time.monotonic()
        await asyncio.to_thread(account.append, new)
        await _until(_stored_check("during-idle-0@corpus.test"), 10)
        assert time.monotonic() - start < 5
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_deletions_at_the_server_remove_the_copy(account: Account) -> None:
    uids = await asyncio.to_thread(account.append, corpus_messages(5, "del"))
    await account.sync().once()
    user = account.user
    await asyncio.to_thread(delete_messages, user.port, user.name, user.password, "INBOX", uids[:2])
    await account.sync().once()
    assert await _message_ids(account.mailbox) == [f"del-{n}@corpus.test" for n in (2, 3, 4)]
    assert await Message.all().count() == 3  # no other mailbox had the deleted ones


async def test_a_changed_uidvalidity_resyncs_without_duplicates(account: Account) -> None:
    messages = corpus_messages(4, "uv")
    await asyncio.to_thread(account.append, messages[:3], "Sent")
    await account.sync().once()
    user = account.user
    await asyncio.to_thread(recreate_folder, user.port, user.name, user.password, "Sent")
    await asyncio.to_thread(account.append, [messages[1], messages[2], messages[3]], "Sent")
    await account.sync().once()
    assert await _message_ids(account.mailbox) == [f"uv-{n}@corpus.test" for n in (1, 2, 3)]
    assert await Message.all().count() == 3
    assert await MessageCopy.all().count() == 3


async def test_connections_cut_mid_fetch_end_with_the_servers_mailbox(
    db: Settings,
    imap_settings: Settings,
    imap_user: Callable[[], ImapUser],
    fault_proxy: Callable[[int], FaultProxy],
) -> None:
    user = imap_user()
    messages = corpus_messages(300, "cut", max_bytes=300_000)
    await asyncio.to_thread(append_messages, user.port, user.name, user.password, "INBOX", messages)
    proxy = fault_proxy(user.port)
    account = await _account(imap_settings, user, port=proxy.port)
    proxy.cut_after_bytes(1_000_000)  # every connection dies in the middle of some FETCH
    task = asyncio.create_task(account.sync().forever())
    try:
        await _until(lambda: _has_count(account.mailbox, 300), 120)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert proxy.stats().cuts >= 2, "the proxy never cut a connection"
    expected = sorted(f"cut-{n}@corpus.test" for n in range(300))
    assert await _message_ids(account.mailbox) == expected
    assert await Message.all().count() == 300


async def test_a_refused_login_needs_reauthentication(
    account: Account, dovecot: DovecotServer
) -> None:
    await asyncio.to_thread(account.append, corpus_messages(2, "auth"))
    await asyncio.to_thread(dovecot.set_password, account.user.name, "changed-at-the-server")
    with pytest.raises(AuthError):
        await account.sync().once()
    await account.mailbox.refresh_from_db()
    assert account.mailbox.status is MailboxStatus.NEEDS_REAUTH
    assert account.mailbox.last_error and "refused" in account.mailbox.last_error
    # forever() stops at once instead of retrying a refused login.
    await asyncio.wait_for(account.sync().forever(), 10)
    with pytest.raises(AuthError):
        await reconnect_imap_mailbox(account.settings, account.mailbox, "wrong", by=OPERATOR)
    await reconnect_imap_mailbox(
        account.settings, account.mailbox, "changed-at-the-server", by=OPERATOR
    )
    assert account.mailbox.status is MailboxStatus.PENDING
    await account.sync().once()
    assert await _count(account.mailbox) == 2


async def test_a_wrong_password_saves_nothing(
    db: Settings, imap_settings: Settings, imap_user: Callable[[], ImapUser]
) -> None:
    user = imap_user()
    workspace = await create_workspace("acme")
    member = await add_member(workspace, "alice@acme.test")
    connection = connection_for("127.0.0.1", user.port, "none", user.name)
    with pytest.raises(AuthError):
        await add_imap_mailbox(imap_settings, workspace, member, connection, "not it")
    assert await Mailbox.all().count() == 0


async def test_a_server_that_disappears_is_retried(
    db: Settings,
    imap_settings: Settings,
    imap_user: Callable[[], ImapUser],
    fault_proxy: Callable[[int], FaultProxy],
) -> None:
    user = imap_user()
    proxy = fault_proxy(user.port)
    account = await _account(imap_settings, user, port=proxy.port)
    await asyncio.to_thread(account.append, corpus_messages(2, "gone"))
    proxy.refuse()
    with pytest.raises(TransientError):
        await account.sync().once()
    await account.mailbox.refresh_from_db()
    assert account.mailbox.status is MailboxStatus.PENDING
    assert account.mailbox.failures == 1 and account.mailbox.last_error
    proxy.accept()
    await account.sync().once()
    await account.mailbox.refresh_from_db()
    assert account.mailbox.status is MailboxStatus.ACTIVE and account.mailbox.failures == 0
    assert await _count(account.mailbox) == 2


async def test_two_mailboxes_sharing_messages(
    db: Settings, imap_settings: Settings, imap_user: Callable[[], ImapUser]
) -> None:
    shared = corpus_messages(20, "shared")
    first = await _account(imap_settings, imap_user())
    second = await _account(imap_settings, imap_user())
    await asyncio.to_thread(first.append, shared)
    await asyncio.to_thread(second.append, shared[:10])
    await first.sync().once()
    await second.sync().once()
    assert await Message.all().count() == 20
    assert await _count(first.mailbox) == 20 and await _count(second.mailbox) == 10


async def test_connecting_checks_host_plan_and_key(
    db: Settings, imap_settings: Settings, imap_user: Callable[[], ImapUser]
) -> None:
    user = imap_user()
    workspace = await create_workspace("free", plan=Plan.FREE)
    member = await add_member(workspace, "alice@acme.test")
    plain = connection_for("127.0.0.1", user.port, "none", user.name)
    strict = imap_settings.model_copy(update={"imap_allow_private_hosts": False})
    with pytest.raises(InvalidInputError, match="only for local hosts"):
        await add_imap_mailbox(strict, workspace, member, plain, user.password)
    tls = connection_for("127.0.0.1", user.imaps_port, "tls", user.name)
    with pytest.raises(InvalidInputError, match="not a public address"):
        await add_imap_mailbox(strict, workspace, member, tls, user.password)
    keyless = imap_settings.model_copy(update={"secret_key": None})
    with pytest.raises(SettingsError, match="MAILROOM_SECRET_KEY"):
        await add_imap_mailbox(keyless, workspace, member, plain, user.password)
    await add_imap_mailbox(imap_settings, workspace, member, plain, user.password)
    other = imap_user()
    second = connection_for("127.0.0.1", other.port, "none", other.name)
    with pytest.raises(ConflictError, match="FREE plan"):
        await add_imap_mailbox(imap_settings, workspace, member, second, other.password)
    stored = await Mailbox.get(workspace=workspace)
    assert stored.credentials and user.password not in stored.credentials


async def _has_status(mailbox: Mailbox, status: MailboxStatus) -> bool:
    return (await Mailbox.get(id=mailbox.id)).status is status


async def _until(check: Callable[[], object], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the condition was not met in time")


async def _count(mailbox: Mailbox) -> int:
    return await MessageCopy.filter(mailbox_id=mailbox.id).count()


async def _has_count(mailbox: Mailbox, count: int) -> bool:
    return await _count(mailbox) == count


def _stored_check(message_id: str) -> Callable[[], object]:
    return lambda: Message.filter(internet_message_id=message_id).exists()


async def test_deletions_found_by_uid_comparison_without_qresync(
    account: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_qresync(self: object) -> bool:
        return False

    monkeypatch.setattr("mailroom.sources.imap.client.ImapSession.enable_qresync", no_qresync)
    uids = await asyncio.to_thread(account.append, corpus_messages(4, "plain"))
    await account.sync().once()
    user = account.user
    await asyncio.to_thread(
        delete_messages, user.port, user.name, user.password, "INBOX", uids[1:3]
    )
    await account.sync().once()
    assert await _message_ids(account.mailbox) == ["plain-0@corpus.test", "plain-3@corpus.test"]


async def test_a_pass_that_hangs_is_abandoned(account: Account) -> None:
    await asyncio.to_thread(account.append, corpus_messages(400, "slow"))
    hasty = account.settings.model_copy(update={"imap_stuck_after": 0.2})
    sync = MailboxSync(account.mailbox.id, hasty, Intake(hasty.limits))
    with pytest.raises(TransientError, match="took longer than"):
        await sync.once()
    await account.sync().once()  # and the next pass takes up where it stopped
    assert await _count(account.mailbox) == 400


async def test_one_sync_per_mailbox_at_a_time(account: Account) -> None:
    from mailroom.sources import supervision

    mailbox = account.mailbox
    assert await supervision.lease(mailbox)
    await Mailbox.filter(id=mailbox.id).update(lease_owner="another-host:1")
    assert not await supervision.lease(mailbox)  # held by another process, not expired
    await Mailbox.filter(id=mailbox.id).update(lease_until=None)
    assert await supervision.lease(mailbox)


def _counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_each_sync_pass_is_one_line_and_counted(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="mailroom.sources.imap.poller")
    passes = ("mailroom_sync_passes_total", {"provider": "IMAP", "outcome": "ok"})
    stored = ("mailroom_messages_stored_total", {"provider": "IMAP", "outcome": "new"})
    before = _counted(passes[0], **passes[1]), _counted(stored[0], **stored[1])
    uids = await asyncio.to_thread(account.append, corpus_messages(3, "logged"))
    await account.sync().once()
    user = account.user
    await asyncio.to_thread(delete_messages, user.port, user.name, user.password, "INBOX", uids[:1])
    await account.sync().once()
    await account.sync().once()  # nothing new: a line at DEBUG, every mailbox polls each minute
    lines = [r for r in caplog.records if r.getMessage() == "synced"]
    assert [(r.levelno, record_fields(r)["new"], record_fields(r)["removed"]) for r in lines] == [
        (logging.INFO, 3, 0),
        (logging.INFO, 0, 1),
        (logging.DEBUG, 0, 0),
    ]
    first = record_fields(lines[0])
    assert first["mailbox"] == account.mailbox.address and first["status"] == "ACTIVE"
    assert "INBOX" in str(first["folders"]).split(",")
    assert isinstance(first["seconds"], float) and first["seconds"] >= 0
    assert _counted(passes[0], **passes[1]) - before[0] == 3
    assert _counted(stored[0], **stored[1]) - before[1] == 3


async def test_a_refused_login_is_logged_and_counted_without_a_password(
    account: Account, dovecot: DovecotServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    refused = ("mailroom_sync_passes_total", {"provider": "IMAP", "outcome": "auth"})
    before = _counted(refused[0], **refused[1])
    await asyncio.to_thread(dovecot.set_password, account.user.name, "changed-at-the-server")
    with pytest.raises(AuthError):
        await account.sync().once()
    with pytest.raises(AuthError):
        await reconnect_imap_mailbox(
            account.settings, account.mailbox, "wrong-horse-battery", by=OPERATOR
        )
    [failed] = [r for r in caplog.records if r.getMessage() == "sync failed"]
    assert failed.levelno == logging.WARNING and not failed.exc_info
    expected = {"mailbox": account.mailbox.address, "reason": "auth", "status": "NEEDS_REAUTH"}
    assert expected.items() <= record_fields(failed).items()
    [reconnect] = [r for r in caplog.records if r.getMessage() == "reconnect failed"]
    assert {
        "mailbox": account.mailbox.address,
        "reason": "auth",
        "host": "127.0.0.1",
        "username": account.user.name,
    }.items() <= record_fields(reconnect).items()
    everything = " ".join(f"{r.getMessage()} {record_fields(r)}" for r in caplog.records)
    for secret in ("changed-at-the-server", "wrong-horse-battery", account.user.password):
        assert secret not in everything
    assert _counted(refused[0], **refused[1]) - before == 1


async def test_a_pass_on_request_gives_its_lease_up(account: Account) -> None:
    # `mailroom mailbox sync`: the pass renews the mailbox's lease folder by folder; left held,
    # it would keep `serve`'s poller and the job workers off the mailbox for two minutes.
    account.append([message(message_id=f"<asked-{n}@client.example>") for n in range(3)])

    synced = await sync_mailbox(account.settings, account.mailbox, Intake(account.settings.limits))

    assert synced.report.new == 3
    mailbox = await Mailbox.get(id=account.mailbox.id)
    assert mailbox.lease_owner is None and mailbox.lease_until is None
