"""No workspace sees another's data: every query and mutation given another workspace's ids
answers exactly as it answers an id that does not exist, and changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

from mailroom.intake import Intake
from mailroom.intake.port import Incoming
from mailroom.models import BlocklistEntry, Mailbox, Person, Sharing
from tests.graphql.conftest import Api, Team, make_team
from tests.helpers import message

IDS = """{
  emails(first: 10) { nodes { id thread { id } participants { address person { id } } } }
  companies(first: 10) { nodes { id } }
  workspace { blocklist { id } }
}"""

# (operation, variables: "other" is the id of the other workspace's row of that kind).
CASES: list[tuple[str, dict[str, str]]] = [
    ("query($id: ID!) { person(id: $id) { id name } }", {"id": "person"}),
    ("query($id: ID!) { company(id: $id) { id name } }", {"id": "company"}),
    ("query($id: ID!) { thread(id: $id) { id subject } }", {"id": "thread"}),
    *[
        (
            f"query($id: ID!) {{ emails(first: 10, filter: {{{kind}: $id}}) {{ nodes {{ id }} }} }}",
            {"id": kind},
        )
        for kind in ("person", "company", "thread", "mailbox")
    ],
    (
        "query($id: ID!) { people(first: 10, filter: {company: $id}) { nodes { id } } }",
        {"id": "company"},
    ),
    (
        'mutation($id: ID!) { updatePerson(id: $id, input: {name: "X"}) { __typename ... on NotFound { message } } }',
        {"id": "person"},
    ),
    (
        "mutation($id: ID!, $own: ID!) { mergePeople(keep: $own, merge: $id) { __typename } }",
        {"id": "person", "own": "own-person"},
    ),
    (
        "mutation($id: ID!, $own: ID!) { mergePeople(keep: $id, merge: $own) { __typename } }",
        {"id": "person", "own": "own-person"},
    ),
    (
        'mutation($id: ID!) { updateCompany(id: $id, input: {name: "X"}) { __typename } }',
        {"id": "company"},
    ),
    (
        'mutation($id: ID!) { createPerson(input: {emails: ["new@initech.com"], company: $id}) { __typename ... on NotFound { message } } }',
        {"id": "company"},
    ),
    (
        "mutation($id: ID!) { shareThread(thread: $id, level: FULL) { __typename } }",
        {"id": "thread"},
    ),
    (
        "mutation($id: ID!, $own: ID!) { shareThread(thread: $own, level: FULL, members: [$id]) { __typename ... on InvalidInput { message } } }",
        {"id": "member", "own": "own-thread"},
    ),
    (
        "mutation($id: ID!) { unshareThread(thread: $id) { __typename } }",
        {"id": "thread"},
    ),
    (
        "mutation($id: ID!) { removeBlocklistEntry(id: $id) { __typename } }",
        {"id": "blocklist"},
    ),
    (
        "mutation($id: ID!) { setMailboxSharing(mailbox: $id, level: FULL) { __typename } }",
        {"id": "mailbox"},
    ),
    (
        'mutation($id: ID!) { reconnectMailbox(mailbox: $id, password: "x") { __typename } }',
        {"id": "mailbox"},
    ),
    (
        "mutation($id: ID!) { removeMailbox(mailbox: $id) { __typename } }",
        {"id": "mailbox"},
    ),
]


async def _ids(api: Api, team: Team) -> dict[str, str]:
    data = await api.data(team.alice_token, IDS)
    [email] = data["emails"]["nodes"]
    [jane] = [p for p in email["participants"] if p["address"] == "jane@globex.com"]
    [company] = data["companies"]["nodes"]
    [entry] = data["workspace"]["blocklist"]
    return {
        "person": jane["person"]["id"],
        "company": company["id"],
        "thread": email["thread"]["id"],
        "mailbox": str(team.alice_box.id),
        "member": str(team.bob.id),
        "blocklist": entry["id"],
    }


async def _populate(api: Api, team: Team, slug: str) -> dict[str, str]:
    """The same kind of mail in each workspace: Alice writes to Jane at Globex."""
    raw = message(
        sender=f"alice@{slug}.com", to="Jane Doe <jane@globex.com>", message_id=f"<q@{slug}.com>"
    )
    await Intake().ingest(team.alice_box, [Incoming(raw)])
    block = 'mutation { addBlocklistEntry(value: "spam@hooli.com") { __typename } }'
    await api.data(team.alice_token, block)
    return await _ids(api, team)


async def test_another_workspaces_ids_are_ids_that_do_not_exist(api: Api, team: Team) -> None:
    other = await make_team("initech")
    mine = await _populate(api, team, "acme")
    theirs = await _populate(api, other, "initech")
    assert not set(mine.values()) & set(theirs.values())
    own = {"own-person": mine["person"], "own-thread": mine["thread"]}

    async def answer(variables: dict[str, str], ids: dict[str, str], query: str) -> Any:
        values = {name: own.get(kind) or ids[kind] for name, kind in variables.items()}
        body = await api.query(team.alice_token, query, values)
        return body

    missing = {kind: str(uuid.uuid4()) for kind in theirs}
    for query, variables in CASES:
        foreign = await answer(variables, theirs, query)
        absent = await answer(variables, missing, query)
        assert foreign == absent, query
        assert "errors" not in foreign, (query, foreign)

    # Nothing of theirs changed, and nothing of theirs shows in our lists.
    person = await Person.get(id=theirs["person"])
    assert person.name == "Jane Doe"
    box = await Mailbox.get(id=theirs["mailbox"])
    assert box.default_sharing is Sharing.METADATA
    assert await BlocklistEntry.filter(id=theirs["blocklist"]).exists()
    their_view = await _ids(api, other)
    assert their_view == theirs
    emails = await api.data(team.alice_token, "{ emails(first: 100) { nodes { id } } }")
    people = await api.data(
        team.alice_token, '{ people(filter: {email: "jane@globex.com"}) { nodes { id } } }'
    )
    assert len(emails["emails"]["nodes"]) == 1
    assert people["people"]["nodes"] == [{"id": mine["person"]}]


async def test_a_token_reads_its_own_workspace(api: Api, team: Team) -> None:
    other = await make_team("initech")
    await _populate(api, other, "initech")
    data = await api.data(
        team.alice_token,
        "{ workspace { slug members { email } } mailboxes { address } emails { nodes { id } } people { nodes { id } } companies { nodes { id } } }",
    )
    assert data["workspace"]["slug"] == "acme"
    assert {m["email"] for m in data["workspace"]["members"]} == {
        "alice@acme.com",
        "bob@acme.com",
        "carol@acme.com",
    }
    assert {m["address"] for m in data["mailboxes"]} == {"alice@acme.com", "bob@acme.com"}
    assert data["emails"]["nodes"] == data["people"]["nodes"] == data["companies"]["nodes"] == []
