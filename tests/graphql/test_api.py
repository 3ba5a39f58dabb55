"""Reading records and emails, and the mutations, through the API."""

from __future__ import annotations

from mailroom.gateway.ingest import Ingestor
from mailroom.gateway.intake import Incoming
from mailroom.models import Mailbox, NameSource, Person, RecordCreationMode
from tests.graphql.conftest import Api, Team
from tests.helpers import message

PEOPLE = """
query($email: String, $domain: String) {
  people(first: 10, filter: {email: $email, domain: $domain}) {
    nodes { id name emails company { id name domains } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def _ingest(box: Mailbox, *raws: bytes) -> None:
    await Ingestor().ingest(box, [Incoming(raw) for raw in raws])


async def test_a_token_is_needed(api: Api, team: Team) -> None:
    for token in (None, "mr_not-a-token"):
        response = await api.post(token, {"query": "{ me { email } }"})
        assert response.status_code == 401
        assert "API token" in response.json()["errors"][0]["message"]


async def test_me_workspace_and_people(api: Api, team: Team) -> None:
    await _ingest(
        team.alice_box,
        message(
            sender="alice@acme.com",
            to="Jane Doe <jane@globex.com>, kim@gmail.com",
            message_id="<p1@acme.com>",
        ),
    )
    data = await api.data(
        team.alice_token,
        "{ me { email role } workspace { slug recordCreationMode members { email } } }",
    )
    assert data["me"] == {"email": "alice@acme.com", "role": "ADMIN"}
    assert data["workspace"]["recordCreationMode"] == "SELECTIVE"
    people = await api.data(team.bob_token, PEOPLE, {"domain": "globex.com"})
    [jane] = people["people"]["nodes"]
    assert jane["name"] == "Jane Doe" and jane["emails"] == ["jane@globex.com"]
    assert jane["company"]["name"] == "Globex" and jane["company"]["domains"] == ["globex.com"]
    by_email = await api.data(team.bob_token, PEOPLE, {"email": "KIM@gmail.com"})
    assert [p["emails"] for p in by_email["people"]["nodes"]] == [["kim@gmail.com"]]
    assert by_email["people"]["nodes"][0]["company"] is None


async def test_pages_are_stable_and_bounded(api: Api, team: Team) -> None:
    await _ingest(
        team.alice_box,
        *[
            message(sender="alice@acme.com", to=f"p{n}@globex.com", message_id=f"<pg{n}@acme.com>")
            for n in range(7)
        ],
    )
    seen: list[str] = []
    after = None
    while True:
        data = await api.data(
            team.alice_token,
            "query($after: String) { people(first: 3, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }",
            {"after": after},
        )
        page = data["people"]
        seen += [n["id"] for n in page["nodes"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(seen) == len(set(seen)) == 7
    too_many = await api.query(team.alice_token, "{ people(first: 101) { nodes { id } } }")
    assert "between 0 and 100" in too_many["errors"][0]["message"]


async def test_record_creation_mode_is_for_admins(api: Api, team: Team) -> None:
    mutation = "mutation($m: RecordCreationMode!) { setRecordCreationMode(mode: $m) { __typename ... on Workspace { recordCreationMode } ... on Forbidden { message } } }"
    refused = await api.data(team.bob_token, mutation, {"m": "ALL"})
    assert refused["setRecordCreationMode"]["__typename"] == "Forbidden"
    done = await api.data(team.alice_token, mutation, {"m": "ALL"})
    assert done["setRecordCreationMode"]["recordCreationMode"] == "ALL"
    await team.workspace.refresh_from_db()
    assert team.workspace.record_creation_mode is RecordCreationMode.ALL


async def test_people_by_hand_keep_their_values(api: Api, team: Team) -> None:
    created = await api.data(
        team.bob_token,
        """
      mutation { createPerson(input: {name: "J. Doe (CEO)", emails: ["jane@globex.com"]}) {
        __typename ... on Person { id name emails } } }""",
    )
    person = created["createPerson"]
    assert person["name"] == "J. Doe (CEO)" and person["emails"] == ["jane@globex.com"]
    await _ingest(
        team.alice_box,
        message(
            sender="alice@acme.com", to="Janet D <jane@globex.com>", message_id="<hand@acme.com>"
        ),
    )
    stored = await Person.get(id=person["id"])
    assert (stored.name, stored.name_source) == ("J. Doe (CEO)", NameSource.HAND)
    merged = await api.data(
        team.bob_token,
        'mutation { createPerson(input: {emails: ["jd@gmail.com"]}) { ... on Person { id } } }',
    )
    other = merged["createPerson"]["id"]
    result = await api.data(
        team.bob_token,
        """
      mutation($keep: ID!, $merge: ID!) { mergePeople(keep: $keep, merge: $merge) {
        ... on Person { emails name } } }""",
        {"keep": person["id"], "merge": other},
    )
    assert sorted(result["mergePeople"]["emails"]) == ["jane@globex.com", "jd@gmail.com"]
    refused = await api.data(
        team.bob_token,
        """
      mutation { createPerson(input: {emails: ["carol@acme.com"]}) { __typename ... on InvalidInput { message } } }""",
    )
    assert refused["createPerson"]["__typename"] == "InvalidInput"


async def test_blocklist_is_for_admins(api: Api, team: Team) -> None:
    add = "mutation($v: String!) { addBlocklistEntry(value: $v) { __typename ... on BlocklistEntry { id kind value } } }"
    assert (await api.data(team.bob_token, add, {"v": "hooli.com"}))["addBlocklistEntry"][
        "__typename"
    ] == "Forbidden"
    entry = (await api.data(team.alice_token, add, {"v": "Hooli.com"}))["addBlocklistEntry"]
    assert (entry["kind"], entry["value"]) == ("DOMAIN", "hooli.com")
    again = await api.data(team.alice_token, add, {"v": "hooli.com"})
    assert again["addBlocklistEntry"]["__typename"] == "Conflict"
    bad = await api.data(team.alice_token, add, {"v": "not a domain"})
    assert bad["addBlocklistEntry"]["__typename"] == "InvalidInput"
    removed = await api.data(
        team.alice_token,
        "mutation($id: ID!) { removeBlocklistEntry(id: $id) { __typename } }",
        {"id": entry["id"]},
    )
    assert removed["removeBlocklistEntry"]["__typename"] == "BlocklistEntry"


async def test_removing_a_mailbox_keeps_shared_mail_and_records(api: Api, team: Team) -> None:
    shared = message(
        sender="jane@globex.com", to="alice@acme.com, bob@acme.com", message_id="<shared@x>"
    )
    only = message(sender="alice@acme.com", to="lee@hooli.com", message_id="<only@x>")
    await _ingest(team.alice_box, shared, only)
    await _ingest(team.bob_box, shared)
    forbidden = await api.data(
        team.carol_token,
        "mutation($m: ID!) { removeMailbox(mailbox: $m) { __typename } }",
        {"m": str(team.alice_box.id)},
    )
    assert forbidden["removeMailbox"]["__typename"] == "Forbidden"
    removed = await api.data(
        team.alice_token,
        "mutation($m: ID!) { removeMailbox(mailbox: $m) { ... on RemovedMailbox { messagesRemoved } } }",
        {"m": str(team.alice_box.id)},
    )
    assert removed["removeMailbox"]["messagesRemoved"] == 1
    emails = await api.data(team.bob_token, "{ emails(first: 10) { nodes { id } } }")
    assert len(emails["emails"]["nodes"]) == 1
    people = await api.data(team.bob_token, PEOPLE, {"email": "lee@hooli.com"})
    assert len(people["people"]["nodes"]) == 1  # the person made from the removed mail stays
