"""The visibility matrix: each mailbox sharing level x each relation of the viewer to the email
x each email field, through each path that reaches an email. Every cell is asserted."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

import pytest

from mailroom.intake import Intake
from mailroom.intake.port import Incoming
from mailroom.models import Mailbox
from mailroom.workspace import import_mailbox
from tests.graphql.conftest import Api, Team
from tests.helpers import BASE_DATE, later, message

LEVELS = ["METADATA", "SUBJECT", "FULL"]
RANK = {"NONE": 0, "METADATA": 1, "SUBJECT": 2, "FULL": 3}
# The level each field needs.
FIELDS = {
    "participants": "METADATA",
    "subject": "SUBJECT",
    "snippet": "FULL",
    "text": "FULL",
    "html": "FULL",
    "attachments": "FULL",
}
EMAIL = """
fragment E on Email {
  id sentAt visibility hiddenReason subject snippet text html
  attachments { filename contentType size }
  participants { role address name person { id } }
  thread { id }
}
"""
PATHS = {
    "emails": EMAIL + "query { emails(first: 10) { nodes { ...E } } }",
    "thread": EMAIL
    + "query($thread: ID!) { thread(id: $thread) { subject emails { nodes { ...E } } } }",
    "person": EMAIL
    + "query($person: ID!) { person(id: $person) { messages(first: 10) { nodes { ...E } } } }",
    "company": EMAIL
    + "query($company: ID!) { company(id: $company) { emails(first: 10) { nodes { ...E } } } }",
}


def quarterly_numbers() -> bytes:
    """Alice to Jane at Globex: text and HTML, with a PDF attached."""
    msg = EmailMessage()
    msg["From"] = "Alice <alice@acme.com>"
    msg["To"] = "Jane Doe <jane@globex.com>"
    msg["Subject"] = "Quarterly numbers"
    msg["Date"] = format_datetime(BASE_DATE)
    msg["Message-ID"] = "<numbers@acme.com>"
    msg.set_content("Jane,\nthe numbers are attached.\n")
    msg.add_alternative("<p>Jane,<br>the numbers are <b>attached</b>.</p>", subtype="html")
    msg.add_attachment(b"%PDF-1.4 numbers", maintype="application", subtype="pdf",
                       filename="numbers.pdf")  # fmt: skip
    return msg.as_bytes()


@dataclass
class Scene:
    api: Api
    team: Team
    ids: dict[str, str]  # thread, person, company
    full: dict[str, Any]  # the email as its owner sees it

    async def view(self, token: str, path: str) -> tuple[dict[str, Any], str | None]:
        """The email as `token` sees it through `path` (other emails the viewer's own mail
        put beside it are left out), and the thread's subject."""
        data = await self.api.data(token, PATHS[path], self.ids)
        if path == "thread":
            nodes = data["thread"]["emails"]["nodes"]
        elif path == "emails":
            nodes = data["emails"]["nodes"]
        elif path == "person":
            nodes = data["person"]["messages"]["nodes"]
        else:
            nodes = data["company"]["emails"]["nodes"]
        [email] = [n for n in nodes if n["id"] == self.full["id"]]
        return email, data["thread"]["subject"] if path == "thread" else None

    async def mutate(self, token: str, query: str, **variables: Any) -> dict[str, Any]:
        data = await self.api.data(token, query, variables)
        [result] = data.values()
        assert "message" not in result, result
        return dict(result)


@pytest.fixture
async def scene(api: Api, team: Team) -> Scene:
    await Intake().ingest(team.alice_box, [Incoming(quarterly_numbers())])
    data = await api.data(
        team.alice_token,
        EMAIL
        + '{ emails(first: 10) { nodes { ...E } } companies(filter: {domain: "globex.com"}) { nodes { id } } }',
    )
    [full] = data["emails"]["nodes"]
    [jane] = [p for p in full["participants"] if p["address"] == "jane@globex.com"]
    [company] = data["companies"]["nodes"]
    ids = {"thread": full["thread"]["id"], "person": jane["person"]["id"], "company": company["id"]}
    return Scene(api, team, ids, full)


def test_the_owner_sees_the_whole_email(scene: Scene) -> None:
    full = scene.full
    assert (full["visibility"], full["hiddenReason"]) == ("FULL", None)
    assert full["subject"] == "Quarterly numbers"
    assert "the numbers are attached" in full["text"] and "<b>attached</b>" in full["html"]
    assert full["snippet"].startswith("Jane, the numbers are attached")
    assert full["attachments"] == [
        {"filename": "numbers.pdf", "contentType": "application/pdf", "size": 16}
    ]
    assert {(p["role"], p["address"]) for p in full["participants"]} == {
        ("FROM", "alice@acme.com"),
        ("TO", "jane@globex.com"),
    }


SHARE = """mutation($thread: ID!, $level: SharingLevel!, $members: [ID!]) {
  shareThread(thread: $thread, level: $level, members: $members) { __typename ... on Forbidden { message } ... on InvalidInput { message } } }"""
SET_SHARING = """mutation($mailbox: ID!, $level: SharingLevel!) {
  setMailboxSharing(mailbox: $mailbox, level: $level) { __typename ... on Mailbox { defaultSharing } } }"""
BLOCK = "mutation($v: String!) { addBlocklistEntry(value: $v) { __typename } }"


@dataclass(frozen=True)
class Relation:
    name: str
    viewer: str  # alice owns the mailbox; bob and carol are teammates
    share: str | None = None  # "workspace", "bob" or "carol"
    share_level: str = "FULL"
    blocked: bool = False
    # Bob's attacks: he holds his own mail with the Message-ID of Alice's, or he wrote into
    # her thread (naming her message) and shared "the thread" at FULL. Neither changes what he
    # sees of hers.
    forged: bool = False
    joined: bool = False

    def expected(self, default: str) -> tuple[str, str | None]:
        """(level, hidden reason) the viewer gets when the mailbox shares `default`."""
        if self.viewer == "alice":
            return "FULL", None
        if self.blocked:
            return "NONE", "BLOCKLISTED"
        level, reason = default, "SHARING"
        if self.share in ("workspace", self.viewer) and RANK[self.share_level] > RANK[default]:
            level, reason = self.share_level, "THREAD_SHARED"
        return level, None if level == "FULL" else reason

    def thread_subject(self, level: str, subject: str) -> str | None:
        """The thread is named by the earliest email whose subject the viewer may see."""
        if RANK[level] >= RANK["SUBJECT"]:
            return subject
        if self.joined:
            return JOINED_SUBJECT
        return FORGED_SUBJECT if self.forged else None


RELATIONS = [
    Relation("owner", "alice"),
    Relation("teammate", "bob"),
    *[Relation(f"shared with the workspace at {s}", "bob", "workspace", s) for s in LEVELS],
    *[Relation(f"shared with me at {s}", "bob", "bob", s) for s in LEVELS],
    Relation("shared with someone else", "bob", "carol", "FULL"),
    Relation("blocklisted participant", "bob", blocked=True),
    Relation("blocklisted participant, thread shared", "bob", "workspace", "FULL", True),
    Relation("blocklisted participant, the owner", "alice", blocked=True),
    Relation("teammate holding a copy of the same Message-ID", "bob", forged=True),
    Relation("teammate who joined the thread and shared it", "bob", joined=True),
]
JOINED_SUBJECT = "Re: Quarterly numbers, and lunch"
FORGED_SUBJECT = "Lunch?"  # Bob's own: a borrowed Message-ID puts it in the same thread


def bobs_mail(relation: Relation) -> bytes | None:
    if relation.forged:
        return message(sender="bob@acme.com", to="jane@globex.com", message_id="<numbers@acme.com>",
                       subject=FORGED_SUBJECT, body="Lunch on Friday?\n")  # fmt: skip
    if relation.joined:
        return message(sender="bob@acme.com", to="jane@globex.com", message_id="<lunch@acme.com>",
                       references="<numbers@acme.com>", subject=JOINED_SUBJECT,
                       date=later(1))  # fmt: skip
    return None


@pytest.mark.parametrize("default", LEVELS)
@pytest.mark.parametrize("relation", RELATIONS, ids=lambda r: r.name)
async def test_visibility_matrix(scene: Scene, default: str, relation: Relation) -> None:
    team = scene.team
    alice = team.alice_token
    await scene.mutate(alice, SET_SHARING, mailbox=str(team.alice_box.id), level=default)
    if relation.share is not None:
        members = None if relation.share == "workspace" else [str(getattr(team, relation.share).id)]
        await scene.mutate(
            alice, SHARE, thread=scene.ids["thread"], level=relation.share_level, members=members
        )
    if relation.blocked:
        await scene.mutate(alice, BLOCK, v="jane@globex.com")
    bobs = bobs_mail(relation)
    if bobs is not None:
        await Intake().ingest(team.bob_box, [Incoming(bobs)])
        if relation.joined:
            await scene.mutate(
                team.bob_token, SHARE, thread=scene.ids["thread"], level="FULL", members=None
            )
    level, reason = relation.expected(default)
    token = getattr(team, f"{relation.viewer}_token")

    for path in PATHS:
        email, thread_subject = await scene.view(token, path)
        where = f"{path}: {email}"
        assert email["id"] == scene.full["id"] and email["sentAt"] == scene.full["sentAt"], where
        assert email["thread"] == scene.full["thread"], where
        assert (email["visibility"], email["hiddenReason"]) == (level, reason), where
        for field, needs in FIELDS.items():
            shown = scene.full[field] if RANK[level] >= RANK[needs] else None
            assert email[field] == shown, f"{field} through {where}"
        if path == "thread":
            assert thread_subject == relation.thread_subject(level, scene.full["subject"])


async def test_the_most_permissive_copy_decides(scene: Scene) -> None:
    team = scene.team
    carol_box: Mailbox = await import_mailbox(team.carol)
    await Intake().ingest(carol_box, [Incoming(quarterly_numbers())])
    await scene.mutate(
        team.alice_token, SET_SHARING, mailbox=str(team.alice_box.id), level="METADATA"
    )
    await scene.mutate(team.carol_token, SET_SHARING, mailbox=str(carol_box.id), level="SUBJECT")
    email, _ = await scene.view(team.bob_token, "emails")
    assert (email["visibility"], email["subject"], email["text"]) == (
        "SUBJECT",
        "Quarterly numbers",
        None,
    )
    # Carol owns a copy: she sees it all, whatever Alice's mailbox shares.
    email, _ = await scene.view(team.carol_token, "person")
    assert (email["visibility"], email["text"]) == ("FULL", scene.full["text"])


async def test_sharing_is_for_owners_and_applies_to_mail_already_synced(scene: Scene) -> None:
    team = scene.team
    refused = await scene.api.data(
        team.bob_token, SET_SHARING, {"mailbox": str(team.alice_box.id), "level": "FULL"}
    )
    assert refused["setMailboxSharing"]["__typename"] == "Forbidden"
    email, _ = await scene.view(team.bob_token, "emails")
    before = email["visibility"]
    await scene.mutate(team.alice_token, SET_SHARING, mailbox=str(team.alice_box.id), level="FULL")
    email, _ = await scene.view(team.bob_token, "emails")
    assert (before, email["visibility"], email["text"]) == ("METADATA", "FULL", scene.full["text"])
    # Only a member whose mailbox holds the thread may share it.
    share = await scene.api.data(
        team.bob_token, SHARE, {"thread": scene.ids["thread"], "level": "FULL", "members": None}
    )
    assert share["shareThread"]["__typename"] == "Forbidden"


async def test_unsharing_takes_the_share_back(scene: Scene) -> None:
    team = scene.team
    bob = [str(team.bob.id)]
    await scene.mutate(
        team.alice_token, SHARE, thread=scene.ids["thread"], level="FULL", members=bob
    )
    assert (await scene.view(team.bob_token, "thread"))[0]["visibility"] == "FULL"
    unshare = "mutation($thread: ID!, $members: [ID!]) { unshareThread(thread: $thread, members: $members) { __typename } }"
    await scene.mutate(team.alice_token, unshare, thread=scene.ids["thread"], members=bob)
    assert (await scene.view(team.bob_token, "thread"))[0]["visibility"] == "METADATA"
