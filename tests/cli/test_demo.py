"""`mailroom demo`, run as a person runs it, and README.md followed as written: the queries sent
and the answers expected are read from the README ("Try it", "Query the API"), so that these
tests fail when the README stops telling the truth about the demo's data."""

from __future__ import annotations

import asyncio
import email.policy
import json
import mailbox
import re
import shlex
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from mailroom.bootstrap import running
from mailroom.db import close_database, database, open_database
from mailroom.envelope import Role
from mailroom.graphql.endpoint import GraphQLEndpoint
from mailroom.models import (
    Direction,
    Mailbox,
    Member,
    Message,
    MessageCopy,
    Participant,
    Person,
    PersonEmail,
    Provider,
)
from mailroom.parsing.addresses.owners import is_free_mail
from mailroom.settings import Settings
from mailroom.workspace import token_holder
from tests.cli.runner import mailroom_in, one_line

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
SAMPLE = REPO / "mailroom" / "demo" / "alice.mbox"
# A member's address and an API token, as the demo prints them.
TOKEN_LINE = re.compile(r"^\s+(\S+@\S+)\s+(mr_\S+)\s*$", re.MULTILINE)
FENCED = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Demo:
    output: str
    tokens: dict[str, str]  # member address -> token

    def token(self, variable: str) -> str:
        """The token a README variable holds: `$BOB_TOKEN` is the one printed for bob@..."""
        local = variable.removesuffix("_TOKEN").lower()
        [token] = [t for address, t in self.tokens.items() if address.startswith(f"{local}@")]
        return token


@dataclass(frozen=True)
class Example:
    """A query the README sends with curl, the token it sends it with, the answer it shows."""

    token_variable: str
    body: dict[str, Any]
    answer: dict[str, Any]


def _env(settings: Settings) -> dict[str, str]:
    return {
        "MAILROOM_DATABASE_URL": settings.database_url,
        "MAILROOM_DATA_DIR": str(settings.data_dir),
    }


def run_demo(settings: Settings, folder: Path) -> subprocess.CompletedProcess[str]:
    return mailroom_in(folder, "demo", "--no-serve", env=_env(settings))


def demo_in(settings: Settings, folder: Path) -> Demo:
    result = run_demo(settings, folder)
    assert result.returncode == 0, result.stderr
    return Demo(result.stdout, dict(TOKEN_LINE.findall(result.stdout)))


@pytest.fixture
def demo(settings: Settings, tmp_path: Path) -> Demo:
    return demo_in(settings, tmp_path)


@pytest.fixture
async def opened(demo: Demo, settings: Settings) -> AsyncIterator[Demo]:
    """The demo's database, open in the test's loop once the command has filled it."""
    await open_database(settings)
    try:
        yield demo
    finally:
        await close_database()


@pytest.fixture
async def api(opened: Demo, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with _client(settings) as client:
        yield client


@asynccontextmanager
async def _client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The GraphQL endpoint over ASGI, on the database already open."""
    endpoint = GraphQLEndpoint(settings.model_copy(update={"normalize_workers": 0}))
    app = Starlette(routes=[Route("/graphql", endpoint, methods=["POST"])])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as client:
        yield client


async def _ask(client: httpx.AsyncClient, token: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(
        "/graphql", json=body, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


# README.md, read as a person reads it.


def _section(title: str) -> str:
    text = README.read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def _blocks(section: str) -> list[tuple[str, str]]:
    """The fenced code blocks, in order: (language, text)."""
    return [(language, body) for language, body in FENCED.findall(section)]


def _examples(section: str) -> list[Example]:
    """Each curl of the section with the JSON block that follows it."""
    found = []
    blocks = _blocks(section)
    for (language, text), (next_language, answer) in zip(blocks, blocks[1:], strict=False):
        if language == "sh" and "curl " in text and next_language == "json":
            [variable] = re.findall(r"Bearer \$(\w+)", text)
            found.append(Example(variable, _curl_body(text), json.loads(answer)))
    return found


def _curl_body(text: str) -> dict[str, Any]:
    """The request body, from a here-document or from `-d '...'`."""
    if "<<'JSON'\n" in text:
        body = text.split("<<'JSON'\n", 1)[1].split("\nJSON", 1)[0]
    else:
        words = shlex.split(text.replace("\\\n", " "), comments=True)
        body = words[words.index("-d") + 1]
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def _forwarding_command() -> list[str]:
    """The README's command that sends mail to the demo's SMTP gateway."""
    [text] = [text for language, text in _blocks(_section("Try it")) if "smtplib" in text]
    return shlex.split(text)


# The sample mail, read with the standard library: what each test expects comes from it.


def _sample() -> Iterator[EmailMessage]:
    box = mailbox.mbox(SAMPLE, create=False)
    parser = BytesParser(policy=email.policy.default)
    try:
        for key in box.keys():
            parsed = parser.parsebytes(box.get_bytes(key))
            assert isinstance(parsed, EmailMessage)
            yield parsed
    finally:
        box.close()


def _message_id(message: EmailMessage) -> str:
    return str(message["Message-ID"]).strip().strip("<>")


def _addresses(message: EmailMessage) -> set[str]:
    fields = [str(message[name]) for name in ("From", "To", "Cc") if message[name]]
    return {address.lower() for _, address in getaddresses(fields)}


async def _team() -> set[str]:
    return {a for member in await Member.all() for a in member.addresses}


# The tests.


async def test_the_readme_query_answers_as_the_readme_shows(
    api: httpx.AsyncClient, opened: Demo
) -> None:
    [example] = _examples(_section("Query the API"))
    answer = await _ask(api, opened.token(example.token_variable), example.body)
    assert answer == example.answer


async def test_the_printed_curl_works(api: httpx.AsyncClient, opened: Demo) -> None:
    [token] = re.findall(r"Bearer (mr_\S+)'", opened.output)
    [curl] = [line for line in opened.output.splitlines() if "-d '" in line]
    answer = await _ask(api, token, json.loads(shlex.split(curl)[-1]))
    assert "errors" not in answer, answer
    names = {p["name"] for p in answer["data"]["people"]["nodes"]}
    assert names == set(await Person.all().values_list("name", flat=True))
    assert token == opened.token("BOB_TOKEN")  # "Ask the API as Bob"


def test_running_it_again_stores_nothing_twice(settings: Settings, tmp_path: Path) -> None:
    first = demo_in(settings, tmp_path)
    before = asyncio.run(_counts(settings))
    second = demo_in(settings, tmp_path)
    assert asyncio.run(_counts(settings)) == before
    assert before["messages"] == len(list(_sample()))
    assert "made by an earlier run" in second.output
    assert first.tokens.keys() == second.tokens.keys()
    assert not set(first.tokens.values()) & set(second.tokens.values())
    # The output says the earlier tokens still work.
    holders = asyncio.run(_holders(settings, [*first.tokens.values(), *second.tokens.values()]))
    assert holders == [*first.tokens, *second.tokens]


async def _counts(settings: Settings) -> dict[str, int]:
    async with database(settings):
        return {
            "messages": await Message.all().count(),
            "copies": await MessageCopy.all().count(),
            "participants": await Participant.all().count(),
            "people": await Person.all().count(),
            "members": await Member.all().count(),
            "mailboxes": await Mailbox.all().count(),
        }


async def _holders(settings: Settings, tokens: list[str]) -> list[str | None]:
    async with database(settings):
        held = [await token_holder(token) for token in tokens]
        return [h[0].email if h else None for h in held]


async def test_bulk_mail_makes_no_records(opened: Demo) -> None:
    # Among them Alice's own post to a mailing list: under SELECTIVE its recipient would become
    # a person, were the mail not bulk.
    bulk = [m for m in _sample() if m["List-Id"]]
    assert bulk, "the sample holds no list or bulk mail"
    team = await _team()
    for source in bulk:
        stored = await Message.get(internet_message_id=_message_id(source))
        assert stored.bulk, stored.bulk_signals
        others = _addresses(source) - team
        assert others
        assert not await PersonEmail.filter(address__in=others).exists(), others


async def test_free_mail_contacts_are_people_without_a_company(opened: Demo) -> None:
    rows = await PersonEmail.all().select_related("person")
    free = [row for row in rows if is_free_mail(row.domain)]
    assert free, "the sample makes no person at a free-mail address"
    assert all(row.person.company_id is None for row in free)
    assert any(row.person.company_id is not None for row in rows)


async def test_the_invitation_keeps_its_calendar_part(opened: Demo) -> None:
    invitations = [
        (message, part)
        for message in _sample()
        for part in message.walk()
        if part.get_content_type() == "text/calendar"
    ]
    assert invitations, "the sample holds no invitation"
    for message, part in invitations:
        stored = await Message.get(internet_message_id=_message_id(message))
        [calendar] = stored.calendar
        assert calendar["method"] == str(part.get_param("method")).upper()
        source = re.sub(r"\r?\n[ \t]", "", part.get_content())  # RFC 5545 3.1: unfolded
        attendees = re.findall(r"^ATTENDEE[^\n]*mailto:(\S+)$", source, re.MULTILINE)
        assert attendees
        for attendee in attendees:
            assert f"mailto:{attendee}" in re.sub(r"\n[ \t]", "", calendar["text"])


def test_a_workspace_made_by_hand_is_not_taken_over(settings: Settings, tmp_path: Path) -> None:
    made = mailroom_in(tmp_path, "workspace", "create", "acme", env=_env(settings))
    assert made.returncode == 0, made.stderr
    refused = run_demo(settings, tmp_path)
    assert refused.returncode == 1
    assert "--slug" in one_line(refused)
    assert asyncio.run(_counts(settings))["messages"] == 0


async def test_forwarding_as_the_readme_says(demo: Demo, settings: Settings) -> None:
    command = _forwarding_command()
    assert Path(command[0]).name.startswith("python") and command[1] == "-c"
    code = command[2]
    default = Settings.model_fields["smtp_port"].default
    # The README names the default port; the gateway here listens on a free one.
    assert f", {default})" in code
    configured = settings.model_copy(update={"smtp_port": 0, "normalize_workers": 0})
    async with running(configured) as services:
        port = services.smtp_port
        sent = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-c", code.replace(f", {default})", f", {port})")],
            cwd=REPO,  # the README's path is relative to the repository
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert sent.returncode == 0, sent.stderr
        await services.pipeline.drain()
        [example] = _examples(_section("Try it"))
        async with _client(configured) as client:
            answer = await _ask(client, demo.token(example.token_variable), example.body)
        assert answer == example.answer
        await _check_unwrapped(code)


async def _check_unwrapped(code: str) -> None:
    """What the forwarding mailbox holds is the original, not Alice's forward of it, as mail
    she received."""
    [forwarder] = re.findall(r'sendmail\("([^"]+)"', code)
    [copy] = await MessageCopy.filter(mailbox__provider=Provider.FORWARDING).select_related(
        "mailbox"
    )
    assert copy.mailbox.address == forwarder
    assert copy.direction is Direction.INBOUND
    sender = await Participant.get(message_id=copy.message_id, role=Role.FROM)
    assert sender.address != forwarder


def test_the_readme_parse_example_prints_what_the_readme_shows() -> None:
    """`mailroom parse --json`, as the README runs it on a file of the repository."""
    blocks = _blocks(_section("Try it"))
    [(command, shown)] = [
        (text, answer)
        for (language, text), (_, answer) in zip(blocks, blocks[1:], strict=False)
        if language == "sh" and " parse --json " in text
    ]
    words = shlex.split(command)
    assert words[:3] == [".venv/bin/mailroom", "parse", "--json"], words
    printed = mailroom_in(REPO, *words[1:])
    assert printed.returncode == 0, printed.stderr
    assert json.loads(printed.stdout) == json.loads(shown)
