"""A Microsoft 365 mailbox synced into the store through the local Graph (fakes/): the first
sync of Inbox and Sent Items, increments from the delta links, every way a message leaves or
arrives, the resync after an expired delta state, throttling, a pass cut in the middle and
continued, and reconciliation."""

from __future__ import annotations

import pytest

from fakes.graph import FakeGraph
from mailroom.errors import TransientError
from mailroom.models import (
    Direction,
    Mailbox,
    Message,
    MessageCopy,
    Participant,
    ProviderItem,
)
from mailroom.sources.graph.sync import first_sync_due
from tests.sources.graph.conftest import Connect, message, syncer


async def stored_keys(mailbox: Mailbox) -> set[str]:
    rows = await ProviderItem.filter(mailbox_id=mailbox.id).values_list("item", flat=True)
    return {str(i) for i in rows}


def keys(folder: str, *ids: str) -> set[str]:
    return {f"{folder}/{i}" for i in ids}


async def test_the_first_sync_stores_inbox_and_sent_items(
    graph: FakeGraph, connect: Connect, mailbox: Mailbox
) -> None:
    inbox = [graph.add(message(n), conversation="thread-1") for n in range(30)]
    sent = graph.add(
        b"From: alice@contoso.com\r\nTo: jane@globex.example\r\nSubject: Plan\r\n"
        b"Message-ID: <sent@contoso.com>\r\n\r\nHi Jane\r\n",
        "sentitems",
    )
    elsewhere = [
        graph.add(message(100), "drafts"),
        graph.add(message(101), "junkemail"),
        graph.add(message(102), "deleteditems"),
        graph.add(message(103), "archive"),
    ]
    assert first_sync_due(mailbox.cursor)
    done = await syncer(mailbox, connect, graph_page_size=7).run()
    assert done.full and done.report.new == 31
    assert await stored_keys(mailbox) == keys("inbox", *inbox) | keys("sentitems", sent)
    assert not {k.partition("/")[2] for k in await stored_keys(mailbox)} & set(elsewhere)
    assert not first_sync_due(mailbox.cursor)
    outbound = await MessageCopy.get(message__internet_message_id="sent@contoso.com")
    assert outbound.direction is Direction.OUTBOUND and outbound.labels == ["sentitems"]
    # Graph's conversation is the thread hint: one thread though the subjects differ.
    threads = (
        await Message.filter(internet_message_id__startswith="m")
        .distinct()
        .values_list("thread_id", flat=True)
    )
    assert len(set(threads)) == 1
    copy = await MessageCopy.get(message__internet_message_id="m3@fabrikam.example")
    assert copy.direction is Direction.INBOUND
    assert copy.labels == ["inbox"] and copy.provider_id == inbox[3]
    # Every request asked for immutable ids and pages of the configured size.
    assert all("ImmutableId" in str(r) for r in graph.requests if "delta" in str(r))


async def test_a_message_over_the_size_bound_is_kept_with_its_header(
    graph: FakeGraph, connect: Connect, mailbox: Mailbox
) -> None:
    small = graph.add(message(1))
    large = graph.add(
        b"From: Peter <peter@fabrikam.example>\r\nTo: alice@contoso.com,\r\n"
        b" Bob <bob@globex.example>\r\nSubject: The whole archive\r\n"
        b"Message-ID: <big@fabrikam.example>\r\n\r\n" + b"x" * 200_000
    )
    done = await syncer(mailbox, connect, max_message_bytes=10_000).run()
    assert done.report.new == 2 and done.skipped == 0
    assert await stored_keys(mailbox) == keys("inbox", small, large)
    kept = await Message.get(internet_message_id="big@fabrikam.example")
    assert kept.subject == "The whole archive" and kept.size > 10_000
    assert any("over the size limit: only its header block" in d for d in kept.defects)
    addresses = set(await Participant.filter(message_id=kept.id).values_list("address", flat=True))
    assert {"peter@fabrikam.example", "bob@globex.example"} <= addresses


async def test_increments_follow_every_change(
    graph: FakeGraph, connect: Connect, mailbox: Mailbox
) -> None:
    ids = [graph.add(message(n)) for n in range(8)]
    await syncer(mailbox, connect).run()
    fetched = graph.calls["value"]
    new = graph.add(message(100))
    graph.delete(ids[0])  # hard delete
    graph.move(ids[1], "deleteditems")  # to the bin
    graph.move(ids[2], "archive")  # filed away: out of the synced folders
    graph.move(ids[3], "archive")
    graph.move(ids[3], "inbox")  # and back before the next pass: it never leaves
    graph.mark_read(ids[4])  # a change that is no arrival
    returning = graph.add(message(200), "archive")
    graph.move(returning, "inbox")  # moved in
    done = await syncer(mailbox, connect).run()
    assert not done.full and done.report.new == 2 and done.removed == 3
    assert await stored_keys(mailbox) == keys("inbox", *ids[3:], new, returning)
    # Nothing stored was fetched again: only the two that arrived.
    assert graph.calls["value"] == fetched + 2
    assert not await Message.filter(internet_message_id="m0@fabrikam.example").exists()
    graph.move(ids[2], "inbox")
    done = await syncer(mailbox, connect).run()
    assert done.report.new == 1 and f"inbox/{ids[2]}" in await stored_keys(mailbox)


async def test_a_move_between_the_synced_folders_keeps_the_message(
    graph: FakeGraph, connect: Connect, mailbox: Mailbox
) -> None:
    moved = graph.add(message(1))
    await syncer(mailbox, connect).run()
    graph.move(moved, "sentitems")
    await syncer(mailbox, connect).run()
    assert await stored_keys(mailbox) == keys("sentitems", moved)
    assert await Message.filter(internet_message_id="m1@fabrikam.example").count() == 1


async def test_an_expired_delta_resyncs_without_doubling_and_removes_what_went(
    graph: FakeGraph, connect: Connect, mailbox: Mailbox
) -> None:
    ids = [graph.add(message(n)) for n in range(12)]
    await syncer(mailbox, connect).run()
    graph.expire_delta_tokens()
    graph.delete(ids[0])
    new = graph.add(message(50))
    done = await syncer(mailbox, connect).run()
    assert done.full and done.report.new == 1 and done.removed == 1
    assert await stored_keys(mailbox) == keys("inbox", *ids[1:], new)
    assert await Message.all().count() == 12
    assert not mailbox.cursor["inbox"].get("resync")
    # And increments carry on from the new delta link.
    later = graph.add(message(60))
    done = await syncer(mailbox, connect).run()
    assert not done.full and done.report.new == 1 and f"inbox/{later}" in await stored_keys(mailbox)


@pytest.mark.parametrize("code", ["SyncStateNotFound", "resyncRequired"])
async def test_every_expiry_code_starts_a_resync(
    graph: FakeGraph, connect: Connect, mailbox: Mailbox, code: str
) -> None:
    graph.resync_code = code
    graph.add(message(1))
    await syncer(mailbox, connect).run()
    graph.expire_delta_tokens()
    done = await syncer(mailbox, connect).run()
    assert done.full and done.report.new == 0 and done.report.duplicate == 0


async def test_a_pass_cut_short_continues_where_it_stopped(
    graph: FakeGraph, connect: Connect, mailbox: Mailbox
) -> None:
    ids = [graph.add(message(n)) for n in range(300)]
    # A message Graph keeps failing: the pass gives up there, after what it stored.
    broken = ids[150]
    graph.fail_message(broken, times=50, status=500)
    with pytest.raises(TransientError):
        await syncer(mailbox, connect, graph_page_size=50).run()
    kept = await stored_keys(mailbox)
    assert 0 < len(kept) < 300
    fetched = graph.calls["value"]
    graph.heal()
    done = await syncer(mailbox, connect, graph_page_size=50).run()
    assert await stored_keys(mailbox) == keys("inbox", *ids)
    assert await Message.all().count() == 300
    # What the first pass stored was not fetched again (its last page may be, in part).
    assert graph.calls["value"] - fetched <= 300 - len(kept) + 50
    assert done.report.new == 300 - len(kept)


async def test_a_throttling_storm_is_waited_out(
    graph: FakeGraph, connect: Connect, mailbox: Mailbox
) -> None:
    ids = [graph.add(message(n)) for n in range(60)]
    graph.throttle_storm(40, retry_after=0)
    sync = syncer(mailbox, connect)
    done = await sync.run()
    assert done.report.new == 60 and await stored_keys(mailbox) == keys("inbox", *ids)
    assert sync.client.usage.throttled >= 40


async def test_retry_after_is_honoured_for_429_and_503(
    graph: FakeGraph, connect: Connect, mailbox: Mailbox
) -> None:
    graph.add(message(1))
    graph.fail_next(1, status=429, retry_after=1)
    graph.fail_next(1, status=503, retry_after=1)
    sync = syncer(mailbox, connect)
    done = await sync.run()
    assert done.report.new == 1
    assert sync.client.usage.throttled == 2 and sync.client.usage.waited >= 2.0


async def test_concurrency_never_exceeds_what_outlook_allows(
    graph: FakeGraph, connect: Connect, mailbox: Mailbox
) -> None:
    graph.delay = 0.01
    for n in range(120):
        graph.add(message(n))
    sync = syncer(mailbox, connect)
    await sync.run()
    # The fake refuses a fifth concurrent request with 429 (a batch part counts as one): none
    # was refused, though messages came 20 to a batch, their parts chained.
    assert graph.served[429] == 0
    assert sync.client.usage.peak_in_flight == 4
    assert max(graph.batch_sizes) == 20 and graph.calls["value"] == 120
    assert sync.client.usage.requests < 20


async def test_a_token_that_expires_mid_sync_is_refreshed_once(
    graph: FakeGraph, connect: Connect, mailbox: Mailbox
) -> None:
    for n in range(40):
        graph.add(message(n))
    sync = syncer(mailbox, connect, graph_page_size=10)
    client = sync.client
    original = client.mime

    async def expiring(ids: list[str]) -> dict[str, object]:
        graph.expire_tokens()
        return await original(ids)  # type: ignore[return-value]

    client.mime = expiring  # type: ignore[method-assign]
    done = await sync.run()
    assert done.report.new == 40
    assert 1 <= client.usage.refreshes <= 4


async def test_reconcile_finds_holes_and_extras_and_repairs_them(
    graph: FakeGraph, connect: Connect, mailbox: Mailbox
) -> None:
    ids = [graph.add(message(n)) for n in range(10)]
    sent = graph.add(message(20), "sentitems")
    await syncer(mailbox, connect).run()
    # A hole: a copy lost behind the sync's back; an extra: deleted at Graph unseen.
    await ProviderItem.filter(mailbox_id=mailbox.id, item=f"inbox/{ids[4]}").delete()
    graph.delete(ids[7])
    found = await syncer(mailbox, connect).reconcile()
    assert (found.provider, found.stored) == (10, 10)
    assert found.missing == (f"inbox/{ids[4]}",) and found.extra == (f"inbox/{ids[7]}",)
    repaired = await syncer(mailbox, connect).reconcile(repair=True)
    assert repaired.repaired
    again = await syncer(mailbox, connect).reconcile()
    assert not again.missing and not again.extra
    assert f"sentitems/{sent}" in await stored_keys(mailbox)


async def test_a_first_sync_of_ten_thousand_messages(
    graph: FakeGraph, connect: Connect, mailbox: Mailbox
) -> None:
    ids = [graph.add(message(n)) for n in range(10_000)]
    done = await syncer(mailbox, connect).run()
    assert done.report.new == 10_000
    assert await stored_keys(mailbox) == keys("inbox", *ids)
    assert mailbox.progress_total == 10_000 and mailbox.progress_done == 10_000
