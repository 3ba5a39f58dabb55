"""Building real messages and workspaces for tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from mailroom.intake import Intake
from mailroom.intake.port import Incoming, IngestReport, SourceFacts
from mailroom.models import Mailbox, Member, Plan, RecordCreationMode, Workspace
from mailroom.workspace import add_member, create_workspace, import_mailbox

BASE_DATE = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def message(
    *,
    sender: str = "Jane Doe <jane@globex.com>",
    to: str | None = "Alice <alice@acme.com>",
    cc: str | None = None,
    subject: str = "Quarterly plan",
    message_id: str | None = "<m1@client.example>",
    in_reply_to: str | None = None,
    references: str | None = None,
    date: datetime | None = BASE_DATE,
    body: str = "Hello,\nhere is the plan.\n",
    headers: dict[str, str] | None = None,
) -> bytes:
    """A well-formed message as a mail client would write it."""
    msg = EmailMessage()
    msg["From"] = sender
    if to:
        msg["To"] = to
    if cc:
        msg["Cc"] = cc
    msg["Subject"] = subject
    if date is not None:
        msg["Date"] = format_datetime(date)
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = references
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(body)
    return msg.as_bytes()


def later(days: float) -> datetime:
    return BASE_DATE + timedelta(days=days)


@dataclass
class Team:
    workspace: Workspace
    alice: Member
    bob: Member
    alice_box: Mailbox
    bob_box: Mailbox


async def team(mode: RecordCreationMode = RecordCreationMode.SELECTIVE, slug: str = "acme") -> Team:
    """A workspace with two members at acme.com, each with an import mailbox."""
    workspace = await create_workspace(slug, "Acme", Plan.PRO)
    workspace.record_creation_mode = mode
    await workspace.save()
    alice = await add_member(workspace, "alice@acme.com", admin=True, aliases=["alice@acme.io"])
    bob = await add_member(workspace, "bob@acme.com")
    return Team(workspace, alice, bob, await import_mailbox(alice), await import_mailbox(bob))


async def ingest(mailbox: Mailbox, *raws: bytes, facts: SourceFacts | None = None) -> IngestReport:
    items = [Incoming(raw, facts or SourceFacts()) for raw in raws]
    return await Intake().ingest(mailbox, items)
