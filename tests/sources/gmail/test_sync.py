"""A Gmail mailbox synced into the store through the local Gmail (fakes/): the first
sync, increments from history, every way a message leaves or returns, the resync after
history expired, a pass cut in the middle and continued, and reconciliation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from fakes.gmail import FakeGmail
from mailroom.errors import TransientError
from mailroom.intake import Intake
from mailroom.models import (
    Direction,
    Mailbox,
    MailboxStatus,
    Message,
    MessageCopy,
    Plan,
    Provider,
    ProviderItem,
)
from mailroom.settings import Settings
from mailroom.sources.gmail import GmailClient
from mailroom.sources.gmail.sync import GmailSync
from mailroom.workspace import add_member, create_workspace
from tests.sources.gmail.conftest import message

Connect = Callable[..., GmailClient]
GET = "gmail.users.messages.get"


@pytest.fixture
async def mailbox(db: Settings) -> Mailbox:
    workspace = await create_workspace("acme", "Acme", plan=Plan.PRO)
    alice = await add_member(workspace, "alice@example.com", admin=True)
    return await Mailbox.create(
        workspace=workspace,
        owner=alice,
        provider=Provider.GMAIL,
        address="alice@example.com",
        status=MailboxStatus.PENDING,
    )


def syncer(mailbox: Mailbox, connect: Connect, **options: Any) -> GmailSync:
    # Quota as a project granted much of it has: these tests are about what is stored (the
    # client's tests show the bucket slowing a sync down to the quota).
    options.setdefault("gmail_quota_per_minute", 10_000_000)
    return GmailSync(mailbox, connect(**options), Intake())


async def stored_ids(mailbox: Mailbox) -> set[str]:
    return {
        str(i)
        for i in await ProviderItem.filter(mailbox_id=mailbox.id).values_list("item", flat=True)
    }


async def test_the_first_sync_stores_what_gmail_keeps(
    gmail: FakeGmail, connect: Connect, mailbox: Mailbox
) -> None:
    kept = [gmail.add(message(n), ["INBOX"], thread_id="t-inbox") for n in range(120)]
    sent = gmail.add(
        b"From: alice@example.com\r\nTo: jane@globex.example\r\nSubject: Plan\r\n"
        b"Message-ID: <sent@example.com>\r\n\r\nHi Jane\r\n",
        ["SENT"],
    )
    left_out = [
        gmail.add(message(200), ["DRAFT"]),
        gmail.add(message(201), ["CHAT"]),
        gmail.add(message(202), ["SPAM"]),
        gmail.add(message(203), ["TRASH", "INBOX"]),
    ]
    done = await syncer(mailbox, connect).run()
    assert done.full and done.report.new == 121
    assert await stored_ids(mailbox) == {*kept, sent}
    assert not await stored_ids(mailbox) & set(left_out)
    copy = await MessageCopy.get(message__internet_message_id="sent@example.com")
    assert copy.direction is Direction.OUTBOUND and copy.labels == ["SENT"]
    assert copy.provider_thread_id is not None
    inbound = await MessageCopy.get(message__internet_message_id="m7@initech.example")
    assert inbound.direction is Direction.INBOUND and inbound.labels == ["INBOX"]
    # One thread from Gmail's threadId, whatever the subjects say.
    threads = await Message.filter(internet_message_id__startswith="m").values_list(
        "thread_id", flat=True
    )
    assert len(set(threads)) == 1
    await mailbox.refresh_from_db()
    assert "listing" not in mailbox.cursor and mailbox.cursor["history_id"] > 0
    # The listing fetched each message once.
    assert gmail.calls[GET] == 121  # what is kept, each once


async def test_a_message_over_the_size_bound_is_kept_with_its_header(
    gmail: FakeGmail, connect: Connect, mailbox: Mailbox
) -> None:
    small = gmail.add(message(1))
    large = gmail.add(
        b"From: Peter <peter@initech.example>\r\nTo: alice@example.com,\r\n"
        b" Bob <bob@globex.example>\r\nSubject: The whole archive\r\n"
        b"Message-ID: <big@initech.example>\r\n\r\n" + b"x" * 200_000,
        ["INBOX"],
        thread_id="t-big",
    )
    done = await syncer(mailbox, connect, max_message_bytes=10_000).run()
    assert done.report.new == 2 and done.skipped == 0
    assert await stored_ids(mailbox) == {small, large}
    kept = await Message.get(internet_message_id="big@initech.example")
    assert kept.subject == "The whole archive"
    assert kept.size > 200_000
    assert any("over the size limit: only its header block" in d for d in kept.defects)
    # The folded To: came through Gmail's header fields whole.
    participants = {p.address for p in await kept.participants.all()}
    assert {"peter@initech.example", "alice@example.com", "bob@globex.example"} <= participants
    assert gmail.calls[GET] == 3  # each once whole (one refused as too large), one header


async def test_increments_follow_every_change(
    gmail: FakeGmail, connect: Connect, mailbox: Mailbox
) -> None:
    ids = [gmail.add(message(n)) for n in range(10)]
    await syncer(mailbox, connect).run()
    fetched = gmail.calls[GET]
    new = gmail.add(message(100))
    gmail.trash(ids[0])
    gmail.spam(ids[1])
    gmail.delete(ids[2])
    gmail.trash(ids[3])
    gmail.untrash(ids[3])  # back before the next pass: it never leaves
    gmail.relabel(ids[4], add=["STARRED", "Label_7"])
    draft = gmail.add(message(101), ["DRAFT"])
    done = await syncer(mailbox, connect).run()
    assert not done.full and done.report.new == 1 and done.removed == 3
    assert await stored_ids(mailbox) == {*ids[3:], new}
    assert draft not in await stored_ids(mailbox)
    assert gmail.calls[GET] == fetched + 1  # the new one only: nothing stored is fetched again
    starred = await MessageCopy.get(message__internet_message_id="m4@initech.example")
    assert starred.labels == ["INBOX", "Label_7", "STARRED"]
    # Removed from the store entirely: no other mailbox had them.
    assert not await Message.filter(internet_message_id="m0@initech.example").exists()
    gmail.untrash(ids[0])  # and back again
    done = await syncer(mailbox, connect).run()
    assert done.report.new == 1 and ids[0] in await stored_ids(mailbox)


async def test_expired_history_resyncs_without_doubling_and_removes_what_went(
    gmail: FakeGmail, connect: Connect, mailbox: Mailbox
) -> None:
    ids = [gmail.add(message(n)) for n in range(30)]
    await syncer(mailbox, connect).run()
    gmail.delete(ids[0])
    gmail.spam(ids[1])
    added = gmail.add(message(99))
    gmail.expire_history()
    done = await syncer(mailbox, connect).run()
    assert done.full and done.report.new == 1 and done.removed == 2
    assert await stored_ids(mailbox) == {*ids[2:], added}
    assert await Message.all().count() == 29
    assert await MessageCopy.filter(mailbox_id=mailbox.id).count() == 29


async def test_a_pass_cut_short_continues_where_it_stopped(
    gmail: FakeGmail, connect: Connect, mailbox: Mailbox
) -> None:
    ids = [gmail.add(message(n)) for n in range(700)]  # two pages of messages.list
    # The 600th newest fails for good in this pass: batches before it are stored, the cursor
    # with them.
    victim = ids[700 - 600]
    gmail.fail_message(victim, times=1000)  # every attempt of this pass
    with pytest.raises(TransientError):
        await syncer(mailbox, connect).run()
    first = await stored_ids(mailbox)
    assert 500 <= len(first) < 700 and victim not in first
    gmail.heal()
    before = gmail.calls[GET]
    done = await syncer(mailbox, connect).run()
    assert await stored_ids(mailbox) == set(ids)
    assert await Message.all().count() == 700
    # Nothing stored was asked for again: only the rest of the page it stopped in and after.
    assert gmail.calls[GET] - before == 700 - len(first)
    assert done.report.new == 700 - len(first)


async def test_reconcile_finds_holes_and_extras_and_repairs_them(
    gmail: FakeGmail, connect: Connect, mailbox: Mailbox
) -> None:
    ids = [gmail.add(message(n)) for n in range(40)]
    sync = syncer(mailbox, connect)
    await sync.run()
    # A hole: the store lost two messages (say, removed by hand); an extra: Gmail deleted one
    # and the history that said so is gone.
    await ProviderItem.filter(mailbox_id=mailbox.id, item__in=ids[:2]).delete()
    await MessageCopy.filter(
        mailbox_id=mailbox.id,
        message__internet_message_id__in=["m0@initech.example", "m1@initech.example"],
    ).delete()
    with gmail.lock:
        del gmail.messages[ids[2]]
    found = await sync.reconcile()
    assert (found.provider, found.stored) == (39, 38)
    assert set(found.missing) == set(ids[:2]) and found.extra == (ids[2],)
    repaired = await sync.reconcile(repair=True)
    assert repaired.repaired and (repaired.missing, repaired.extra) == (found.missing, found.extra)
    again = await sync.reconcile()
    assert (again.provider, again.stored, again.missing, again.extra) == (39, 39, (), ())


async def test_a_first_sync_of_ten_thousand_messages(
    gmail: FakeGmail, connect: Connect, mailbox: Mailbox
) -> None:
    ids = [gmail.add(message(n)) for n in range(10_000)]
    sync = syncer(mailbox, connect)
    done = await sync.run()
    assert done.report.new == 10_000 and done.report.failed == 0
    assert await stored_ids(mailbox) == set(ids)
    await mailbox.refresh_from_db()
    assert (mailbox.progress_done, mailbox.progress_total) == (10_000, 10_000)
    # Twenty pages of ids and batches of at most fifty: each message fetched once.
    assert gmail.calls[GET] == 10_000 and max(gmail.batch_sizes) <= 50
    assert sync.client.usage.units == 10_000 * 5 + 20 * 5 + 1 + 2  # gets, lists, profile, history
