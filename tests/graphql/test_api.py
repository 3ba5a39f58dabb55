"""Reading records and emails, and the mutations, through the API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from mailroom.intake import Intake
from mailroom.intake.port import Incoming
from mailroom.models import Mailbox, NameSource, Person, PersonEmail, RecordCreationMode
from mailroom.workspace import add_member
from tests.graphql.conftest import Api, Team
from tests.helpers import BASE_DATE, message

PEOPLE = """
query($email: String, $domain: String) {
  people(first: 10, filter: {email: $email, domain: $domain}) {
    nodes { id name emails company { id name domains } }
    pageInfo { hasNextPage endCursor }
  }
}
"""


async def _ingest(box: Mailbox, *raws: bytes) -> None:
    await Intake().ingest(box, [Incoming(raw) for raw in raws])


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
    subdomain = await api.data(team.bob_token, PEOPLE, {"domain": "Mail.Globex.com"})
    assert subdomain["people"]["nodes"] == people["people"]["nodes"]
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


async def test_email_filters(api: Api, team: Team) -> None:
    first = message(
        sender="alice@acme.com", to="jane@globex.com", message_id="<f1@acme.com>", date=BASE_DATE
    )
    reply = message(
        sender="jane@globex.com",
        to="alice@acme.com",
        message_id="<f2@globex.com>",
        in_reply_to="<f1@acme.com>",
        references="<f1@acme.com>",
        date=BASE_DATE + timedelta(days=1),
    )
    other = message(
        sender="bob@acme.com",
        to="lee@hooli.com",
        cc="kim@hooli.com",
        message_id="<f3@acme.com>",
        date=BASE_DATE + timedelta(days=2),
    )
    await _ingest(team.alice_box, first, reply)
    await _ingest(team.bob_box, other)
    ids = await api.data(
        team.alice_token,
        """{ emails { nodes { id thread { id } participants { address person { id company { id } } } } } }""",
    )
    [newest, middle, oldest] = ids["emails"]["nodes"]
    # Participants in the order of the headers, as a mail client shows them.
    assert [p["address"] for p in newest["participants"]] == [
        "bob@acme.com",
        "lee@hooli.com",
        "kim@hooli.com",
    ]
    jane = next(p["person"] for p in oldest["participants"] if p["address"] == "jane@globex.com")
    query = "query($f: EmailFilter) { emails(filter: $f) { nodes { id } } }"

    async def found(**where: str) -> list[str]:
        data = await api.data(team.carol_token, query, {"f": where})
        return [n["id"] for n in data["emails"]["nodes"]]

    assert await found() == [newest["id"], middle["id"], oldest["id"]]  # newest first
    assert await found(person=jane["id"]) == [middle["id"], oldest["id"]]
    assert await found(company=jane["company"]["id"]) == [middle["id"], oldest["id"]]
    assert await found(thread=oldest["thread"]["id"]) == [middle["id"], oldest["id"]]
    assert await found(mailbox=str(team.bob_box.id)) == [newest["id"]]
    day = BASE_DATE + timedelta(days=1)
    assert await found(sentAfter=day.isoformat()) == [newest["id"], middle["id"]]
    assert await found(sentBefore=day.isoformat()) == [oldest["id"]]
    assert await found(person="not-an-id") == []


async def test_a_company_shows_its_domains_mail_without_person_records(
    api: Api, team: Team
) -> None:
    mode = "mutation { setRecordCreationMode(mode: NONE) { __typename } }"
    await api.data(team.alice_token, mode)
    made = await api.data(
        team.bob_token,
        'mutation { createCompany(input: {name: "Globex", domains: ["globex.com"]}) { ... on Company { id } } }',
    )
    company = made["createCompany"]["id"]
    await _ingest(
        team.alice_box,
        message(sender="jane@globex.com", to="alice@acme.com", message_id="<none1@globex.com>"),
        message(sender="lee@hooli.com", to="alice@acme.com", message_id="<none2@hooli.com>"),
    )
    data = await api.data(
        team.bob_token,
        "query($c: ID!) { company(id: $c) { name domains people { nodes { id } } emails { nodes { participants { address person { id } } } } } }",
        {"c": company},
    )
    page = data["company"]
    assert (page["name"], page["domains"], page["people"]["nodes"]) == (
        "Globex",
        ["globex.com"],
        [],
    )
    [email] = page["emails"]["nodes"]
    assert {"address": "jane@globex.com", "person": None} in email["participants"]
    assert (await api.data(team.bob_token, PEOPLE, {}))["people"]["nodes"] == []


async def test_the_team_is_not_shown_as_contacts(api: Api, team: Team) -> None:
    await _ingest(
        team.alice_box,
        message(sender="alice@acme.com", to="Dan <dan@initech.com>", message_id="<team@acme.com>"),
    )
    data = await api.data(
        team.bob_token,
        '{ people(filter: {domain: "initech.com"}) { nodes { id company { id } } } }',
    )
    [dan] = data["people"]["nodes"]
    # Dan joins the team: his record, and his company's, stop being contacts.
    await add_member(team.workspace, "dan@initech.com")
    lookups = await api.data(
        team.bob_token,
        "query($p: ID!, $c: ID!) { person(id: $p) { id } company(id: $c) { id } people { nodes { id } } companies { nodes { id } } }",
        {"p": dan["id"], "c": dan["company"]["id"]},
    )
    assert lookups == {
        "person": None,
        "company": None,
        "people": {"nodes": []},
        "companies": {"nodes": []},
    }
    refused = await api.data(
        team.bob_token,
        'mutation { createPerson(input: {emails: ["ops@initech.com"]}) { __typename ... on InvalidInput { message } } }',
    )
    assert refused["createPerson"]["__typename"] == "InvalidInput"
    assert await Person.filter(workspace=team.workspace).count() == 1  # nothing half-made


async def test_timelines_page_through_ties(api: Api, team: Team) -> None:
    """Pages of a person's and a company's mail: newest first, each email once, even when
    several share a sending time."""
    raws = [
        message(
            sender="alice@acme.com",
            to="Jane Doe <jane@globex.com>",
            cc="raj@globex.com" if n % 2 else None,
            message_id=f"<tie{n}@acme.com>",
            date=BASE_DATE + timedelta(hours=n // 3),  # three at each time
        )
        for n in range(8)
    ]
    await _ingest(team.alice_box, *raws)
    people = await api.data(team.alice_token, PEOPLE, {"email": "jane@globex.com"})
    [jane] = people["people"]["nodes"]
    documents = {
        "person": "query($id: ID!, $after: String) { node: person(id: $id) { page: messages(first: 3, after: $after) { nodes { id sentAt } pageInfo { hasNextPage endCursor } } } }",
        "company": "query($id: ID!, $after: String) { node: company(id: $id) { page: emails(first: 3, after: $after) { nodes { id sentAt } pageInfo { hasNextPage endCursor } } } }",
        "filter": "query($id: ID!, $after: String) { page: emails(first: 3, after: $after, filter: {company: $id}) { nodes { id sentAt } pageInfo { hasNextPage endCursor } } }",
    }
    ids = {"person": jane["id"], "company": jane["company"]["id"], "filter": jane["company"]["id"]}
    orders = []
    for name, document in documents.items():
        seen: list[tuple[str, str]] = []
        after = None
        while True:
            data = await api.data(team.alice_token, document, {"id": ids[name], "after": after})
            page = data["page"] if name == "filter" else data["node"]["page"]
            seen += [(n["sentAt"], n["id"]) for n in page["nodes"]]
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
        assert len(seen) == len(set(seen)) == 8, name
        assert seen == sorted(seen, reverse=True), name
        orders.append(seen)
    assert orders[0] == orders[1] == orders[2]


async def test_mail_from_other_time_zones_is_in_order_of_the_instant(api: Api, team: Team) -> None:
    """A reply written at 08:40 in New York (13:40 UTC) is newer than a message of 10:12 in
    London, and its sender's offset changes nothing: pages, filters and figures compare
    instants."""
    london = datetime(2026, 3, 2, 10, 12, tzinfo=UTC)
    new_york = datetime(2026, 3, 2, 8, 40, tzinfo=timezone(timedelta(hours=-5)))
    berlin = datetime(2026, 3, 2, 12, 0, tzinfo=timezone(timedelta(hours=1)))  # 11:00 UTC
    for number, (sender, to, date) in enumerate(
        [
            ("jane@globex.com", "alice@acme.com", london),
            ("alice@acme.com", "jane@globex.com", new_york),
            ("jane@globex.com", "alice@acme.com", berlin),
        ]
    ):
        await _ingest(
            team.alice_box, message(sender=sender, to=to, date=date, message_id=f"<z{number}@x>")
        )
    query = """query($f: EmailFilter) { emails(filter: $f) { nodes { sentAt } } }"""

    async def sent(**where: str) -> list[datetime]:
        data = await api.data(team.alice_token, query, {"f": where})
        return [datetime.fromisoformat(n["sentAt"]) for n in data["emails"]["nodes"]]

    assert await sent() == [new_york, berlin, london]
    after = datetime(2026, 3, 2, 6, 0, tzinfo=timezone(timedelta(hours=-5)))  # 11:00 UTC
    assert await sent(sentAfter=after.isoformat()) == [new_york, berlin]
    people = await api.data(
        team.alice_token,
        '{ people(filter: {email: "jane@globex.com"}) { nodes { messages(first: 3) { nodes { sentAt } } } } }',
    )
    [jane] = people["people"]["nodes"]
    times = [datetime.fromisoformat(n["sentAt"]) for n in jane["messages"]["nodes"]]
    assert times == [new_york, berlin, london]
    address = await PersonEmail.get(workspace_id=team.workspace.id, address="jane@globex.com")
    person = await Person.get(id=address.person_id)
    assert (person.first_email_at, person.last_email_at) == (london, new_york)
