"""Threads from References and In-Reply-To, jwz-style, kept incrementally in the store."""

from __future__ import annotations

import logging

import pytest

from mailroom.intake import Intake
from mailroom.intake.port import Incoming, SourceFacts
from mailroom.models import Message, Thread
from mailroom.settings import Settings
from tests.helpers import ingest, later, message, team


async def _thread_of(message_id: str) -> object:
    return (await Message.get(internet_message_id=message_id)).thread_id


async def test_replies_join_their_parent(db: Settings) -> None:
    t = await team()
    root = message(message_id="<root@x>")
    reply = message(
        message_id="<reply@x>",
        subject="Re: Quarterly plan",
        in_reply_to="<root@x>",
        references="<root@x>",
        date=later(1),
    )
    await ingest(t.alice_box, root)
    await ingest(t.alice_box, reply)
    assert await _thread_of("root@x") == await _thread_of("reply@x")
    thread = await Thread.get()
    assert thread.message_count == 2
    assert thread.subject == "Quarterly plan"


async def test_a_child_seen_before_its_parent_is_joined_by_it(db: Settings) -> None:
    t = await team()
    reply = message(message_id="<reply@x>", subject="Re: Plan", references="<root@x>")
    await ingest(t.alice_box, reply)
    await ingest(t.alice_box, message(message_id="<root@x>", subject="Plan", date=later(-1)))
    assert await _thread_of("root@x") == await _thread_of("reply@x")
    assert await Thread.all().count() == 1


async def test_siblings_sharing_a_missing_parent_share_a_thread(db: Settings) -> None:
    t = await team()
    a = message(message_id="<a@x>", subject="Re: Launch", references="<never-seen@x>")
    b = message(message_id="<b@x>", subject="Re: Launch", in_reply_to="<never-seen@x>")
    await ingest(t.alice_box, a)
    await ingest(t.bob_box, b)
    assert await _thread_of("a@x") == await _thread_of("b@x")


async def test_a_late_message_bridges_two_threads_into_one(db: Settings) -> None:
    t = await team()
    left = message(message_id="<left@x>", subject="Re: Budget", references="<p1@x>")
    right = message(message_id="<right@x>", subject="Re: Costs", references="<p2@x>")
    await ingest(t.alice_box, left, right)
    assert await Thread.all().count() == 2
    bridge = message(message_id="<p2@x>", subject="Re: Budget", references="<p1@x>")
    await ingest(t.alice_box, bridge)
    threads = {await _thread_of(i) for i in ("left@x", "right@x", "p2@x")}
    assert len(threads) == 1
    survivor = await Thread.get()
    assert survivor.message_count == 3


async def test_reference_loops_and_self_references_are_harmless(db: Settings) -> None:
    t = await team()
    a = message(message_id="<a@x>", subject="Loop", references="<b@x> <a@x>")
    b = message(message_id="<b@x>", subject="Re: Loop", references="<a@x> <b@x>")
    await ingest(t.alice_box, a, b)
    assert await _thread_of("a@x") == await _thread_of("b@x")
    assert (await Thread.get()).message_count == 2


async def test_garbage_references_do_not_join_unrelated_threads(db: Settings) -> None:
    t = await team()
    a = message(message_id="<a@x>", subject="One", references="not an id at all")
    b = message(message_id="<b@x>", subject="Two", references="not an id at all")
    await ingest(t.alice_box, a, b)
    assert await _thread_of("a@x") != await _thread_of("b@x")


async def test_provider_thread_id_is_a_hint(db: Settings) -> None:
    t = await team()
    one = message(message_id="<g1@x>", subject="Dinner")
    two = message(message_id="<g2@x>", subject="Dinner plans changed")
    await ingest(t.alice_box, one, facts=SourceFacts(provider_thread_id="gmail-thread-1"))
    await ingest(t.alice_box, two, facts=SourceFacts(provider_thread_id="gmail-thread-1"))
    assert await _thread_of("g1@x") == await _thread_of("g2@x")
    # The same provider id in another mailbox is another provider's namespace.
    three = message(message_id="<g3@x>", subject="Unrelated")
    await ingest(t.bob_box, three, facts=SourceFacts(provider_thread_id="gmail-thread-1"))
    assert await _thread_of("g3@x") != await _thread_of("g1@x")


async def test_a_batch_of_many_provider_threads_is_processed_as_one_batch(
    db: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    # A Gmail or Graph sync stores hundreds of messages at once, each with a thread hint; the
    # hints were once looked up as one OR per hint, which Tortoise resolved past Python's
    # recursion limit, so every such batch fell back to one message at a time.
    t = await team()
    first = [message(message_id=f"<a{n}@x>", subject=f"Topic {n}") for n in range(600)]
    await Intake().ingest(
        t.alice_box,
        [Incoming(raw, SourceFacts(provider_thread_id=f"t{n}")) for n, raw in enumerate(first)],
    )
    replies = [message(message_id=f"<b{n}@x>", subject=f"Other {n}") for n in range(600)]
    with caplog.at_level(logging.WARNING, logger="mailroom.intake.service"):
        report = await Intake().ingest(
            t.alice_box,
            [
                Incoming(raw, SourceFacts(provider_thread_id=f"t{n}"))
                for n, raw in enumerate(replies)
            ],
        )
    assert report.new == 600
    assert not [r for r in caplog.records if "one at a time" in r.getMessage()]
    for n in (0, 300, 599):
        assert await _thread_of(f"a{n}@x") == await _thread_of(f"b{n}@x")
    assert await _thread_of("a0@x") != await _thread_of("a1@x")
    assert await Thread.all().count() == 600


async def test_reply_with_unknown_parents_groups_by_subject_within_a_window(db: Settings) -> None:
    t = await team()
    await ingest(t.alice_box, message(message_id="<s1@x>", subject="Contract renewal"))
    near = message(message_id="<s2@x>", subject="RE: AW: Contract renewal", date=later(3))
    far = message(message_id="<s3@x>", subject="Re: Contract renewal", date=later(200))
    fresh = message(message_id="<s4@x>", subject="Contract renewal", date=later(4))
    await ingest(t.alice_box, near, far, fresh)
    assert await _thread_of("s2@x") == await _thread_of("s1@x")
    assert await _thread_of("s3@x") != await _thread_of("s1@x")
    # A message that is not a reply starts its own thread even with the same subject.
    assert await _thread_of("s4@x") != await _thread_of("s1@x")


async def test_thread_figures_follow_its_messages(db: Settings) -> None:
    t = await team()
    raws = [
        message(
            message_id=f"<n{i}@x>",
            subject="Re: Notes" if i else "Notes",
            references="<n0@x>" if i else None,
            date=later(i),
        )
        for i in range(5)
    ]
    await ingest(t.alice_box, *reversed(raws))
    thread = await Thread.get()
    assert thread.message_count == 5
    assert thread.first_message_at == later(0) and thread.last_message_at == later(4)
    assert thread.subject == "Notes"
