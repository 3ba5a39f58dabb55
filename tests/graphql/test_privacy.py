"""A teammate who wants to read mail shared as METADATA only, attacking through the ways mail
comes in (the command line's import, the SMTP gateway) and the API: a borrowed Message-ID, a
thread joined by reference and then shared, and the fields derived from a thread's emails.

Alice's mailbox shares METADATA (the default). Whatever Bob does, he must never read her
subject, body or attachments."""

from __future__ import annotations

import asyncio
import os
import smtplib
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from mailroom.bootstrap import running
from mailroom.graphql.endpoint import GraphQLEndpoint
from mailroom.intake import Intake
from mailroom.intake.port import Incoming
from mailroom.models import Mailbox, Message, SenderPolicy
from mailroom.settings import Settings
from mailroom.workspace import update_workspace
from tests.graphql.conftest import Api, Team, make_team
from tests.graphql.test_visibility import quarterly_numbers
from tests.helpers import later, message

SECRETS = ("Quarterly numbers", "numbers are attached", "numbers.pdf")
SEEN = """{ emails(first: 50) { nodes { id visibility subject snippet text html
  attachments { filename } participants { address } thread { id } } } }"""
THREAD = """query($id: ID!) {
  thread(id: $id) { subject messageCount firstMessageAt lastMessageAt }
  emails(filter: {thread: $id}) { nodes { subject visibility text } } }"""
PAGE = """query($id: ID!) { thread(id: $id) {
  emails(first: 1) { nodes { id } pageInfo { hasNextPage } } } }"""
SHARE = """mutation($thread: ID!, $level: SharingLevel!, $members: [ID!]) {
  shareThread(thread: $thread, level: $level, members: $members) { __typename } }"""
UNSHARE = """mutation($thread: ID!, $members: [ID!]) {
  unshareThread(thread: $thread, members: $members) { __typename } }"""


def forged(**values: Any) -> bytes:
    """Bob's own mail, written with the Message-ID of Alice's."""
    fields: dict[str, Any] = {
        "sender": "Bob <bob@acme.com>",
        "to": "Jane Doe <jane@globex.com>",
        "subject": "Lunch?",
        "message_id": "<numbers@acme.com>",
        "body": "Shall we have lunch on Friday?\n",
    }
    return message(**(fields | values))


def cli_import(settings: Settings, member: str, path: Path) -> None:
    """`mailroom ingest` into the member's import mailbox, as a user runs it."""
    env = {
        **os.environ,
        "MAILROOM_DATABASE_URL": settings.database_url,
        "MAILROOM_DATA_DIR": str(settings.data_dir),
        "MAILROOM_NORMALIZE_WORKERS": "0",
    }
    command = ["ingest", "acme", member, str(path)]
    result = subprocess.run(
        [sys.executable, "-m", "mailroom", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr


async def bob_imports(api: Api, tmp_path: Path, raw: bytes, name: str = "bob.eml") -> None:
    path = tmp_path / name
    path.write_bytes(raw)
    await asyncio.to_thread(cli_import, api.settings, "bob@acme.com", path)


def assert_nothing_of_alices(nodes: list[dict[str, Any]]) -> None:
    text = str(nodes)
    for secret in SECRETS:
        assert secret not in text, nodes


async def emails(api: Api, token: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = (await api.data(token, SEEN))["emails"]["nodes"]
    return nodes


@pytest.mark.parametrize("order", ["alice first", "bob first"])
async def test_a_borrowed_message_id_shows_nothing_of_the_original(
    api: Api, team: Team, tmp_path: Path, order: str
) -> None:
    alice_mail = [Incoming(quarterly_numbers())]
    if order == "alice first":
        await Intake().ingest(team.alice_box, alice_mail)
    await bob_imports(api, tmp_path, forged())
    if order == "bob first":
        await Intake().ingest(team.alice_box, alice_mail)

    seen = await emails(api, team.bob_token)
    assert_nothing_of_alices(seen)
    by_visibility = {n["visibility"]: n for n in seen}
    assert set(by_visibility) == {"FULL", "METADATA"}
    # Bob sees his own bytes, all of them; Alice's message as metadata.
    assert by_visibility["FULL"]["subject"] == "Lunch?"
    assert "lunch on Friday" in by_visibility["FULL"]["text"]
    assert by_visibility["METADATA"]["subject"] is None
    # And Alice still sees her own message, not Bob's.
    mine = [n for n in await emails(api, team.alice_token) if n["visibility"] == "FULL"]
    assert [m["subject"] for m in mine] == ["Quarterly numbers"]
    assert "numbers are attached" in mine[0]["text"]
    assert await Message.filter(internet_message_id="numbers@acme.com").count() == 2


async def test_a_borrowed_message_id_with_the_same_visible_fields_but_no_attachment(
    api: Api, team: Team, tmp_path: Path
) -> None:
    """Knowing the subject and text (say, from a quote) is not enough to see the attachment."""
    await Intake().ingest(team.alice_box, [Incoming(quarterly_numbers())])
    copy = forged(
        sender="Alice <alice@acme.com>",
        subject="Quarterly numbers",
        body="Jane,\nthe numbers are attached.\n",
    )
    await bob_imports(api, tmp_path, copy)
    seen = await emails(api, team.bob_token)
    assert all(n["attachments"] in (None, []) for n in seen), seen


async def test_one_message_however_many_relays_added_headers(api: Api, team: Team) -> None:
    """The same mail in Alice's sent folder (with her Bcc) and in Bob's inbox (with the
    relays' headers) is one message that both own."""
    sent = message(
        sender="Alice <alice@acme.com>",
        to="Jane Doe <jane@globex.com>",
        cc="Bob <bob@acme.com>",
        message_id="<plan@acme.com>",
        headers={"Bcc": "carol@acme.com"},
    )
    received = (
        b"Received: from mx.acme.com by mail.acme.com; Mon, 2 Mar 2026 09:30:02 +0000\r\n"
        b"DKIM-Signature: v=1; a=rsa-sha256; d=acme.com; s=s1; b=abc\r\n"
        + message(
            sender="Alice <alice@acme.com>",
            to="Jane Doe <jane@globex.com>",
            cc="Bob <bob@acme.com>",
            message_id="<plan@acme.com>",
        )
    )
    await Intake().ingest(team.alice_box, [Incoming(sent)])
    await Intake().ingest(team.bob_box, [Incoming(received)])
    assert await Message.filter(internet_message_id="plan@acme.com").count() == 1
    for token in (team.alice_token, team.bob_token):
        [email] = await emails(api, token)
        assert (email["visibility"], email["subject"]) == ("FULL", "Quarterly plan")


@pytest.fixture
async def gateway_api(settings: Settings) -> AsyncIterator[tuple[Api, int]]:
    """`serve`'s services (SMTP gateway and all) and the API on the same database."""
    gateway = settings.model_copy(
        update={"smtp_port": 0, "mail_domain": "in.mailroom.test", "normalize_workers": 0}
    )
    async with running(gateway) as services:
        app = Starlette(routes=[Route("/graphql", GraphQLEndpoint(gateway), methods=["POST"])])
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://m.test") as client:
            yield Api(client, gateway), services.smtp_port
            await services.pipeline.drain()


async def test_a_borrowed_message_id_through_the_gateway(
    gateway_api: tuple[Api, int],
) -> None:
    """Alice BCCs the workspace address; Bob sends his own mail with her Message-ID there."""
    api, port = gateway_api
    team = await make_team()
    await update_workspace(team.workspace, sender_policy=SenderPolicy.ADDRESS_ONLY)

    def send(raw: bytes, sender: str) -> None:
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
            client.sendmail(sender, ["acme@in.mailroom.test"], raw)

    await asyncio.to_thread(send, quarterly_numbers(), "alice@acme.com")
    await asyncio.to_thread(send, forged(), "bob@acme.com")
    for _ in range(200):
        if await Message.filter(internet_message_id="numbers@acme.com").count() == 2:
            break
        await asyncio.sleep(0.05)
    seen = await emails(api, team.bob_token)
    assert_nothing_of_alices(seen)
    assert sorted(n["visibility"] for n in seen) == ["FULL", "METADATA"]


async def _thread_of(api: Api, token: str) -> str:
    [email] = [n for n in await emails(api, token) if n["visibility"] == "FULL"]
    thread: str = email["thread"]["id"]
    return thread


async def test_sharing_a_thread_shares_only_the_sharers_own_mail(
    api: Api, team: Team, tmp_path: Path
) -> None:
    await Intake().ingest(team.alice_box, [Incoming(quarterly_numbers())])
    thread = await _thread_of(api, team.alice_token)
    # Bob joins Alice's thread by naming her message, then shares "the thread" at FULL.
    reply = forged(
        message_id="<lunch@acme.com>", in_reply_to="<numbers@acme.com>",
        references="<numbers@acme.com>", subject="Re: numbers", date=later(1),
    )  # fmt: skip
    await bob_imports(api, tmp_path, reply)
    assert await _thread_of(api, team.bob_token) == thread
    everyone, bob = None, [str(team.bob.id)]
    for members in (everyone, bob):
        shared = await api.data(
            team.bob_token, SHARE, {"thread": thread, "level": "FULL", "members": members}
        )
        assert shared["shareThread"]["__typename"] == "Thread"
    for token in (team.bob_token, team.carol_token):
        view = await api.data(token, THREAD, {"id": thread})
        assert_nothing_of_alices([view])
        by_subject = {e["subject"]: e["visibility"] for e in view["emails"]["nodes"]}
        assert by_subject == {None: "METADATA", "Re: numbers": "FULL"}

    # Alice shares her own with Carol; Bob taking his share back leaves Alice's alone.
    carol = [str(team.carol.id)]
    await api.data(team.alice_token, SHARE, {"thread": thread, "level": "FULL", "members": carol})
    await api.data(team.bob_token, UNSHARE, {"thread": thread, "members": None})
    view = await api.data(team.carol_token, THREAD, {"id": thread})
    by_subject = {e["subject"]: e["visibility"] for e in view["emails"]["nodes"]}
    assert by_subject == {"Quarterly numbers": "FULL", None: "METADATA"}
    # Bob's own share with himself never covered Alice's mail either.
    assert_nothing_of_alices([await api.data(team.bob_token, THREAD, {"id": thread})])


async def test_a_threads_subject_count_and_dates_follow_its_emails(
    api: Api, team: Team, tmp_path: Path
) -> None:
    await Intake().ingest(team.alice_box, [Incoming(quarterly_numbers())])
    thread = await _thread_of(api, team.alice_token)

    # Nobody but Alice may see a subject in it: the thread has none for them either.
    for token in (team.bob_token, team.carol_token):
        view = (await api.data(token, THREAD, {"id": thread}))["thread"]
        assert (view["subject"], view["messageCount"]) == (None, 1)

    reply = forged(
        to="Kim <kim@initech.com>", message_id="<lunch@acme.com>",
        references="<numbers@acme.com>", subject="Re: numbers", date=later(1),
    )  # fmt: skip
    await bob_imports(api, tmp_path, reply)
    subjects = {}
    for name in ("alice", "bob", "carol"):
        view = (await api.data(getattr(team, f"{name}_token"), THREAD, {"id": thread}))["thread"]
        subjects[name] = (view["subject"], view["messageCount"])
    # The earliest email whose subject each may see names it.
    assert subjects == {
        "alice": ("Quarterly numbers", 2),
        "bob": ("Re: numbers", 2),
        "carol": (None, 2),
    }

    # A blocklisted participant hides Alice's email from the others: from the count and the
    # dates too.
    block = "mutation($v: String!) { addBlocklistEntry(value: $v) { __typename } }"
    await api.data(team.alice_token, block, {"v": "globex.com"})
    await api.data(team.alice_token, block, {"v": "kim@initech.com"})
    # Alice's own is hers to see, Bob's reply (to Kim) is hidden from her: one each.
    for name, count in (("alice", 1), ("bob", 1), ("carol", 0)):
        data = await api.data(getattr(team, f"{name}_token"), THREAD, {"id": thread})
        view = data["thread"]
        assert view["messageCount"] == count, (name, view)
        assert len(data["emails"]["nodes"]) == 2  # hidden ones are there, with nothing shown
        if name == "alice":
            assert view["firstMessageAt"] == view["lastMessageAt"] == later(0).isoformat()
        if name == "bob":
            assert view["firstMessageAt"] == view["lastMessageAt"] == later(1).isoformat()
        if name == "carol":
            assert view["firstMessageAt"] is view["lastMessageAt"] is None
            assert view["subject"] is None

    # A thread's emails come in pages, like every list.
    page = (await api.data(team.alice_token, PAGE, {"id": thread}))["thread"]
    assert len(page["emails"]["nodes"]) == 1 and page["emails"]["pageInfo"]["hasNextPage"]


async def test_the_blocklist_and_mailbox_errors_are_for_admins_and_owners(
    api: Api, team: Team
) -> None:
    block = "mutation($v: String!) { addBlocklistEntry(value: $v) { __typename } }"
    await api.data(team.alice_token, block, {"v": "hooli.com"})
    await Mailbox.filter(id=team.alice_box.id).update(last_error="alice@imap.acme.com: refused")
    await Mailbox.filter(id=team.bob_box.id).update(last_error="bob@imap.acme.com: refused")

    body = await api.query(team.bob_token, "{ workspace { slug blocklist { value } } }")
    assert body["data"]["workspace"] == {"slug": "acme", "blocklist": None}
    assert "only the workspace's admins" in body["errors"][0]["message"]
    admin = await api.data(team.alice_token, "{ workspace { blocklist { value } } }")
    assert admin["workspace"]["blocklist"] == [{"value": "hooli.com"}]

    errors = "{ mailboxes { address lastError } }"
    seen = {
        name: {
            m["address"]: m["lastError"]
            for m in (await api.data(getattr(team, f"{name}_token"), errors))["mailboxes"]
        }
        for name in ("alice", "bob", "carol")
    }
    assert seen["alice"] == {
        "alice@acme.com": "alice@imap.acme.com: refused",
        "bob@acme.com": "bob@imap.acme.com: refused",
    }
    assert seen["bob"] == {"alice@acme.com": None, "bob@acme.com": "bob@imap.acme.com: refused"}
    assert seen["carol"] == {"alice@acme.com": None, "bob@acme.com": None}
