"""The live pipeline and removals: mail spooled for a mailbox that is removed before the spool
is moved into the database (with its member or workspace, or by itself) is dropped with the
mailbox's other mail, and the rest goes on, while running and at the next start."""

from __future__ import annotations

import asyncio
from pathlib import Path

from mailroom.intake import Intake
from mailroom.intake.pipeline import Pipeline
from mailroom.intake.port import Incoming
from mailroom.intake.spool import Spool, SpoolRecord
from mailroom.models import Message
from mailroom.settings import Settings
from mailroom.workspace import OPERATOR, remove_mailbox
from tests.helpers import message, team


async def _stored() -> list[str]:
    ids = (
        await Message.all()
        .order_by("internet_message_id")
        .values_list("internet_message_id", flat=True)
    )
    return [str(i) for i in ids]


async def test_a_removed_mailboxs_spooled_mail_is_dropped_while_running(
    db: Settings, tmp_path: Path
) -> None:
    acme = await team()
    spool = Spool(tmp_path / "spool")
    pipeline = Pipeline(Intake(), spool, import_interval=0.3, quiet_after=0.3)
    await pipeline.start()
    try:
        await pipeline.submit(
            [
                (acme.alice_box, Incoming(message(message_id="<alice@x>"))),
                (acme.bob_box, Incoming(message(message_id="<bob@x>"))),
            ]
        )
        # Spooled, not yet in the database: the mailbox goes meanwhile.
        assert await Message.all().count() == 0
        await remove_mailbox(OPERATOR, acme.bob_box)
        await asyncio.wait_for(pipeline.drain(), 30)
    finally:
        await pipeline.stop()
    assert await _stored() == ["alice@x"]
    assert spool.sealed() == []


async def test_a_removed_mailboxs_spooled_mail_does_not_stop_the_next_start(
    db: Settings, tmp_path: Path
) -> None:
    acme = await team()
    spool = Spool(tmp_path / "spool")
    spool.append(
        [
            SpoolRecord(acme.workspace.id, box.id, Incoming(message(message_id=f"<{n}@x>")))
            for n, box in enumerate([acme.bob_box, acme.alice_box, acme.bob_box])
        ]
    )
    spool.close()  # as a process that stopped before moving it on
    await remove_mailbox(OPERATOR, acme.bob_box)
    pipeline = Pipeline(Intake(), Spool(tmp_path / "spool"))
    recovered = await pipeline.start()
    await pipeline.stop()
    assert len(recovered.outcomes) == 1
    assert await _stored() == ["1@x"]
    assert list((tmp_path / "spool").iterdir()) == []
