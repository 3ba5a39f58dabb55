"""The planner's statistics follow an import: the intake analyzes its tables as they grow by
a factor, whatever the backend, and a batch large enough for PostgreSQL's COPY stores what
INSERTs would."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

from mailroom.db import analyzed_rows
from mailroom.envelope import Role
from mailroom.intake import Intake
from mailroom.intake.port import Incoming, SourceFacts
from mailroom.intake.statistics import Growth
from mailroom.models import Attachment, Message, MessageCopy, Participant
from mailroom.settings import Settings
from tests.helpers import later, message, team


def _batch(start: int, count: int) -> list[Incoming]:
    return [
        Incoming(message(message_id=f"<s{n}@globex.com>", subject=f"Plan {n}"), SourceFacts())
        for n in range(start, start + count)
    ]


async def test_tables_are_analyzed_each_time_they_double(db: Settings) -> None:
    t = await team()
    intake = Intake()
    intake.processor.growth = Growth(factor=2.0, first=10)
    assert await analyzed_rows("message") == 0
    await intake.ingest(t.alice_box, _batch(0, 6))
    assert await analyzed_rows("message") == 0  # under `first`: not yet
    await intake.ingest(t.alice_box, _batch(6, 6))
    assert await analyzed_rows("message") == 12
    await intake.ingest(t.alice_box, _batch(12, 8))
    assert await analyzed_rows("message") == 12  # 20 is not twice 12
    await intake.ingest(t.alice_box, _batch(12, 8))  # duplicates store nothing new
    assert await analyzed_rows("message") == 12
    await intake.ingest(t.alice_box, _batch(20, 4))
    assert await analyzed_rows("message") == 24
    assert await analyzed_rows("participant") == 48


async def test_a_large_batch_stores_every_value(db: Settings) -> None:
    t = await team()
    raws = []
    for n in range(120):  # 120 messages, 480 participants: past bulk.COPY_FROM
        msg = EmailMessage()
        msg["From"] = f"Jane {n} <jane{n}@globex.com>"
        msg["To"] = "Alice <alice@acme.com>"
        msg["Cc"] = f'kim{n}@hooli.com, "Lee" <lee@initech.com>'
        msg["Subject"] = f"Plan \u00e9 {n}"
        msg["Message-ID"] = f"<big{n}@globex.com>"
        msg["References"] = f"<a{n}@globex.com> <b{n}@globex.com>"
        msg["In-Reply-To"] = f"<b{n}@globex.com>"
        msg["Date"] = later(n).strftime("%a, %d %b %Y %H:%M:%S +0100")
        msg.set_content(f"Body {n}\n")
        msg.add_attachment(
            b"%PDF-1.4 " * n, maintype="application", subtype="pdf", filename=f"{n}.pdf"
        )
        raws.append(Incoming(msg.as_bytes(), SourceFacts(folder="INBOX", labels=("work", "q1"))))
    report = await Intake().ingest(t.alice_box, raws)
    assert report.new == 120
    assert await Participant.all().count() == 480
    assert await Attachment.all().count() == 120
    stored = await Message.get(internet_message_id="big7@globex.com")
    assert stored.subject == "Plan \u00e9 7"
    assert stored.references == ["a7@globex.com", "b7@globex.com"]
    assert stored.in_reply_to == "b7@globex.com"
    assert stored.sent_at == later(7) - timedelta(hours=1)
    assert stored.utc_offset == 60
    assert stored.has_attachments
    roles = (
        await Participant.filter(message_id=stored.id)
        .order_by("role", "position")
        .values_list("role", "position", "address", "domain", "name")
    )
    assert sorted(roles) == sorted(
        [
            (Role.FROM, 0, "jane7@globex.com", "globex.com", "Jane 7"),
            (Role.TO, 0, "alice@acme.com", "acme.com", "Alice"),
            (Role.CC, 0, "kim7@hooli.com", "hooli.com", None),
            (Role.CC, 1, "lee@initech.com", "initech.com", "Lee"),
        ]
    )
    attachment = await Attachment.get(message_id=stored.id)
    assert (attachment.filename, attachment.size, attachment.inline) == ("7.pdf", 63, False)
    copy = await MessageCopy.get(message_id=stored.id)
    assert (copy.folder, copy.labels) == ("INBOX", ["work", "q1"])
