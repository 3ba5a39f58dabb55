"""Ingest: bytes durable first, one message per Message-ID, one copy per mailbox, idempotent."""

from __future__ import annotations

import pytest

from mailroom.envelope import Role
from mailroom.intake import Intake
from mailroom.intake.port import Incoming, Outcome, SourceFacts
from mailroom.models import (
    Attachment,
    Direction,
    Message,
    MessageCopy,
    Participant,
    PendingIngest,
    RawMessage,
    Thread,
)
from mailroom.parsing import reader as reader_module
from mailroom.settings import Settings
from mailroom.sources.files.formats import discover
from mailroom.sources.files.importer import import_sources
from tests.conftest import CORPORA
from tests.helpers import ingest, message, team


async def _counts() -> dict[str, int]:
    from tortoise import Tortoise

    return {
        model._meta.db_table: await model.all().count()
        for model in Tortoise.apps["models"].values()
    }


async def test_message_fields_are_stored(db: Settings) -> None:
    t = await team()
    raw = message(cc="Carol <carol@initech.co.uk>, bob@acme.com")
    report = await ingest(t.alice_box, raw)
    assert (report.new, report.duplicate, report.unchanged) == (1, 0, 0)
    stored = await Message.get(workspace_id=t.workspace.id)
    assert stored.internet_message_id == "m1@client.example"
    assert stored.subject == "Quarterly plan"
    assert stored.text is not None and "here is the plan" in stored.text
    assert stored.snippet.startswith("Hello,")
    roles = (
        await Participant.filter(message_id=stored.id)
        .order_by("role", "position")
        .values_list("role", "address", "name")
    )
    assert sorted(roles) == sorted(
        [
            (Role.FROM, "jane@globex.com", "Jane Doe"),
            (Role.TO, "alice@acme.com", "Alice"),
            (Role.CC, "carol@initech.co.uk", "Carol"),
            (Role.CC, "bob@acme.com", None),
        ]
    )
    raw_row = await RawMessage.get(id=stored.raw_message_id)
    assert bytes(raw_row.data) == raw
    assert await PendingIngest.all().count() == 0


async def test_reimport_changes_nothing(db: Settings) -> None:
    t = await team()
    found = discover([CORPORA])
    first = await import_sources(Intake(), t.alice_box, found.sources)
    before = await _counts()
    second = await import_sources(Intake(), t.alice_box, found.sources)
    assert first.new > 100
    assert second.new == 0 and second.duplicate == 0 and second.failed == 0
    assert second.unchanged == first.new + first.duplicate + first.unchanged
    assert await _counts() == before


async def test_second_mailbox_adds_a_copy_not_a_message(db: Settings) -> None:
    t = await team()
    raw = message(to="alice@acme.com, bob@acme.com")
    await ingest(t.alice_box, raw)
    # The copy that reached Bob went through another relay: different bytes, same message.
    relayed = b"Received: from relay.acme.com by mx.acme.com; Mon, 2 Mar 2026 09:31:00 +0000\r\n"
    report = await ingest(t.bob_box, relayed + raw)
    assert (report.new, report.duplicate) == (0, 1)
    assert await Message.all().count() == 1
    copies = await MessageCopy.all().values_list("mailbox_id", flat=True)
    assert sorted(copies) == sorted([t.alice_box.id, t.bob_box.id])
    assert await RawMessage.all().count() == 2


async def test_retry_within_one_batch_and_across_batches_is_stored_once(db: Settings) -> None:
    t = await team()
    raw = message()
    report = await ingest(t.alice_box, raw, raw)
    assert [o for o, _ in report.outcomes] == [Outcome.NEW, Outcome.UNCHANGED]
    again = await ingest(t.alice_box, raw)
    assert again.outcomes[0][0] is Outcome.UNCHANGED
    assert again.outcomes[0][1] == report.outcomes[0][1]
    assert await Message.all().count() == 1 and await MessageCopy.all().count() == 1


async def test_message_without_message_id_is_keyed_by_content(db: Settings) -> None:
    t = await team()
    one = message(message_id=None, subject="No id")
    other = message(message_id=None, subject="No id, another message")
    await ingest(t.alice_box, one, other)
    relayed = b"Received: from relay by mx; Mon, 2 Mar 2026 09:31:00 +0000\r\n" + one
    report = await ingest(t.bob_box, relayed)
    assert report.duplicate == 1
    assert await Message.all().count() == 2


async def test_message_without_id_or_date_is_stored_once(db: Settings) -> None:
    t = await team()
    raw = message(message_id=None, date=None)
    await ingest(t.alice_box, raw)
    report = await ingest(t.alice_box, raw)
    assert report.unchanged == 1 and await Message.all().count() == 1
    stored = await Message.get()
    assert stored.date_source == "arrival"


async def test_direction_follows_the_owner_addresses(db: Settings) -> None:
    t = await team()
    sent = message(sender="Alice <alice@acme.io>", to="jane@globex.com", message_id="<s@x>")
    received = message(message_id="<r@x>")
    await ingest(t.alice_box, sent, received)
    directions = dict(
        await MessageCopy.all().values_list("message__internet_message_id", "direction")
    )
    assert directions == {"s@x": Direction.OUTBOUND, "r@x": Direction.INBOUND}
    # Bob's copy of Alice's message is inbound for Bob.
    await ingest(t.bob_box, sent)
    bob_copy = await MessageCopy.get(mailbox_id=t.bob_box.id)
    assert bob_copy.direction is Direction.INBOUND


async def test_source_facts_are_kept_on_the_copy(db: Settings) -> None:
    t = await team()
    facts = SourceFacts(provider_id="INBOX:7:42", folder="INBOX", labels=("work",), outbound=True)
    await ingest(t.alice_box, message(), facts=facts)
    copy = await MessageCopy.get()
    assert (copy.provider_id, copy.folder, copy.labels) == ("INBOX:7:42", "INBOX", ["work"])
    assert copy.direction is Direction.OUTBOUND


async def test_attachments_are_stored_as_metadata(db: Settings) -> None:
    t = await team()
    from email.message import EmailMessage

    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "jane@globex.com", "alice@acme.com", "Files"
    msg["Message-ID"] = "<files@x>"
    msg.set_content("See attached.")
    msg.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="q1.pdf")
    await ingest(t.alice_box, msg.as_bytes())
    attachment = await Attachment.get()
    assert (attachment.filename, attachment.content_type, attachment.size) == (
        "q1.pdf",
        "application/pdf",
        13,
    )
    assert (await Message.get()).has_attachments


async def test_bytes_are_durable_before_processing_and_replayed(db: Settings) -> None:
    t = await team()
    intake = Intake()
    await intake.store(t.alice_box, [Incoming(message())])
    # As if the process died here: the bytes are stored and pending, no message yet.
    assert await RawMessage.all().count() == 1
    assert await Message.all().count() == 0
    report = await Intake().replay()
    assert report.new == 1
    assert await PendingIngest.all().count() == 0
    assert await Message.all().count() == 1


async def test_a_message_that_fails_is_kept_and_does_not_block_others(
    db: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    t = await team()
    poison = message(message_id="<poison@x>")
    real_normalize = reader_module.normalize

    def failing(raw: bytes, **kwargs: object) -> object:
        if raw == poison:
            raise RuntimeError("simulated bug")
        return real_normalize(raw, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(reader_module, "normalize", failing)
    report = await ingest(
        t.alice_box, message(message_id="<a@x>"), poison, message(message_id="<b@x>")
    )
    assert (report.new, report.failed) == (2, 1)
    pending = await PendingIngest.get()
    assert pending.attempts == 1 and pending.last_error and "simulated bug" in pending.last_error
    monkeypatch.setattr(reader_module, "normalize", real_normalize)
    assert (await Intake().replay()).new == 1
    assert await Message.all().count() == 3


async def test_defective_messages_are_kept_with_their_defects(db: Settings) -> None:
    t = await team()
    broken = (
        b"From: jane@globex.com\r\nTo: alice@acme.com\r\nSubject: broken\r\n"
        b'Message-ID: <broken@x>\r\nContent-Type: multipart/mixed; boundary="zzz"\r\n\r\n'
        b"--zzz\r\nContent-Type: text/plain\r\n\r\nbody without closing boundary\r\n"
    )
    report = await ingest(t.alice_box, broken)
    assert report.new == 1 and report.defective == 1
    stored = await Message.get()
    assert stored.defects
    assert stored.text is not None and "body without closing boundary" in stored.text


async def test_hostile_text_is_stored_on_both_backends(db: Settings) -> None:
    t = await team()
    raw = (
        b"From: =?utf-8?q?Ja=00ne?= <jane@globex.com>\r\nTo: alice@acme.com\r\n"
        b"Subject: nul \x00 and \xff\xfe bytes\r\nMessage-ID: <hostile@x>\r\n\r\n"
        b"body \x00 with NUL and \xed\xa0\x80 a surrogate\r\n"
    )
    report = await ingest(t.alice_box, raw)
    assert report.new == 1
    stored = await Message.get()
    assert stored.subject is not None and "\x00" not in stored.subject
    assert stored.text is not None and "\x00" not in stored.text


async def test_threads_are_created(db: Settings) -> None:
    t = await team()
    await ingest(t.alice_box, message())
    assert await Thread.all().count() == 1
