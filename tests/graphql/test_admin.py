"""An admin's verbs over HTTP: the sender policy, members added and removed, API tokens made
(shown once), listed and revoked; what members may not do; blocklist entries checked as the
command line checks them; another workspace's ids answered as ids that do not exist."""

from __future__ import annotations

import uuid
from typing import Any

from mailroom.intake import Intake
from mailroom.intake.port import Incoming
from mailroom.models import ApiToken, Member, Message, Person, RecordCreationMode
from tests.graphql.conftest import Api, Team, make_team
from tests.helpers import message

POLICY = "mutation($p: SenderPolicy!) { setSenderPolicy(policy: $p) { __typename ... on Workspace { senderPolicy } ... on Forbidden { message } } }"
ADD = 'mutation($e: String!, $admin: Boolean! = false) { addMember(input: {email: $e, admin: $admin, name: "Dave", aliases: ["d@acme.io"]}) { __typename ... on Member { id email role aliases } ... on InvalidInput { message } ... on Conflict { message } } }'
REMOVE = "mutation($m: ID!) { removeMember(member: $m) { __typename ... on RemovedMember { email mailboxesRemoved messagesRemoved } ... on Conflict { message } } }"
CREATE = "mutation($m: ID!) { createApiToken(member: $m) { __typename ... on CreatedApiToken { token apiToken { id prefix lastUsedAt member { email } } } } }"
REVOKE = "mutation($t: ID!) { revokeApiToken(id: $t) { __typename ... on ApiToken { id member { email } } ... on Forbidden { message } } }"
TOKENS = "{ workspace { apiTokens { id prefix createdAt lastUsedAt member { email } } } }"
ME = "{ me { email } }"


async def _result(api: Api, token: str, query: str, **variables: Any) -> dict[str, Any]:
    data = await api.data(token, query, variables)
    [answer] = data.values()
    result: dict[str, Any] = answer
    return result


async def test_the_sender_policy_is_an_admins_to_set(api: Api, team: Team) -> None:
    refused = await _result(api, team.bob_token, POLICY, p="ADDRESS_ONLY")
    assert refused["__typename"] == "Forbidden" and "admin" in refused["message"]
    changed = await _result(api, team.alice_token, POLICY, p="ADDRESS_ONLY")
    assert changed == {"__typename": "Workspace", "senderPolicy": "ADDRESS_ONLY"}
    seen = await api.data(team.bob_token, "{ workspace { senderPolicy } }")
    assert seen["workspace"]["senderPolicy"] == "ADDRESS_ONLY"


async def test_admins_add_members_and_make_them_a_token_shown_once(api: Api, team: Team) -> None:
    assert (await _result(api, team.bob_token, ADD, e="dave@acme.com"))["__typename"] == (
        "Forbidden"
    )
    dave = await _result(api, team.alice_token, ADD, e="Dave@Acme.com")
    assert (dave["__typename"], dave["email"], dave["role"], dave["aliases"]) == (
        "Member",
        "dave@acme.com",
        "MEMBER",
        ["d@acme.io"],
    )
    again = await _result(api, team.alice_token, ADD, e="bob@acme.com")
    assert again["__typename"] == "Conflict" and "already belongs" in again["message"]
    bad = await _result(api, team.alice_token, ADD, e="not an address")
    assert bad["__typename"] == "InvalidInput"

    assert (await _result(api, team.bob_token, CREATE, m=dave["id"]))["__typename"] == "Forbidden"
    made = await _result(api, team.alice_token, CREATE, m=dave["id"])
    token = made["token"]
    assert made["apiToken"]["prefix"] == token[:10]
    assert made["apiToken"]["member"] == {"email": "dave@acme.com"}
    assert made["apiToken"]["lastUsedAt"] is None
    assert (await api.data(token, ME))["me"]["email"] == "dave@acme.com"
    # The token is stored as its hash only, and no list shows it again.
    listed = await api.query(team.alice_token, TOKENS)
    assert token not in str(listed) and token not in str(await ApiToken.all().values())
    rows = listed["data"]["workspace"]["apiTokens"]
    assert [r["member"]["email"] for r in rows] == [
        "alice@acme.com",
        "bob@acme.com",
        "carol@acme.com",
        "dave@acme.com",
    ]
    # Each token that made a request says so; Carol's has made none.
    used = {r["member"]["email"]: r["lastUsedAt"] for r in rows}
    assert used["dave@acme.com"] and used["alice@acme.com"] and used["carol@acme.com"] is None


async def test_only_admins_list_tokens(api: Api, team: Team) -> None:
    body = await api.query(team.bob_token, TOKENS)
    assert body["data"]["workspace"]["apiTokens"] is None
    assert "admins" in body["errors"][0]["message"]


async def test_a_revoked_token_is_refused_at_once(api: Api, team: Team) -> None:
    rows = (await api.data(team.alice_token, TOKENS))["workspace"]["apiTokens"]
    ids = {r["member"]["email"]: r["id"] for r in rows}
    # A member may revoke their own token, not another's.
    refused = await _result(api, team.bob_token, REVOKE, t=ids["carol@acme.com"])
    assert refused["__typename"] == "Forbidden"
    assert (await api.data(team.carol_token, ME))["me"]["email"] == "carol@acme.com"
    own = await _result(api, team.bob_token, REVOKE, t=ids["bob@acme.com"])
    assert own == {
        "__typename": "ApiToken",
        "id": ids["bob@acme.com"],
        "member": {"email": "bob@acme.com"},
    }
    assert (await api.post(team.bob_token, {"query": ME})).status_code == 401
    revoked = await _result(api, team.alice_token, REVOKE, t=ids["carol@acme.com"])
    assert revoked["__typename"] == "ApiToken"
    assert (await api.post(team.carol_token, {"query": ME})).status_code == 401
    again = await _result(api, team.alice_token, REVOKE, t=ids["carol@acme.com"])
    assert again["__typename"] == "NotFound"
    remaining = (await api.data(team.alice_token, TOKENS))["workspace"]["apiTokens"]
    assert [r["member"]["email"] for r in remaining] == ["alice@acme.com"]


async def test_removing_a_member_takes_their_mailboxes_and_only_their_mail(
    api: Api, team: Team
) -> None:
    team.workspace.record_creation_mode = RecordCreationMode.ALL
    await team.workspace.save()
    both = message(sender="jane@globex.com", to="alice@acme.com, bob@acme.com")
    only_bob = message(sender="pat@initech.com", to="bob@acme.com", message_id="<bob@x>")
    await Intake().ingest(team.alice_box, [Incoming(both)])
    await Intake().ingest(team.bob_box, [Incoming(both), Incoming(only_bob)])
    people = await Person.all().count()
    assert people > 0

    assert (await _result(api, team.carol_token, REMOVE, m=str(team.bob.id)))["__typename"] == (
        "Forbidden"
    )
    removed = await _result(api, team.alice_token, REMOVE, m=str(team.bob.id))
    assert removed == {
        "__typename": "RemovedMember",
        "email": "bob@acme.com",
        "mailboxesRemoved": 1,
        "messagesRemoved": 1,
    }
    assert (await api.post(team.bob_token, {"query": ME})).status_code == 401
    assert await Message.all().count() == 1
    assert await Person.all().count() == people
    members = (await api.data(team.alice_token, "{ workspace { members { email } } }"))[
        "workspace"
    ]["members"]
    assert [m["email"] for m in members] == ["alice@acme.com", "carol@acme.com"]
    # The last admin stays, whoever asks.
    last = await _result(api, team.alice_token, REMOVE, m=str(team.alice.id))
    assert last["__typename"] == "Conflict" and "last admin" in last["message"]
    assert (await _result(api, team.alice_token, REMOVE, m=str(team.bob.id)))["__typename"] == (
        "NotFound"
    )


async def test_an_admin_may_remove_another_admin_and_then_is_the_last(api: Api, team: Team) -> None:
    dave = await _result(api, team.alice_token, ADD, e="dave@acme.com", admin=True)
    made = await _result(api, team.alice_token, CREATE, m=dave["id"])
    gone = await _result(api, made["token"], REMOVE, m=str(team.alice.id))
    assert gone["__typename"] == "RemovedMember"
    assert not await Member.filter(id=team.alice.id).exists()
    last = await _result(api, made["token"], REMOVE, m=dave["id"])
    assert last["__typename"] == "Conflict"


async def test_blocklist_entries_are_checked_at_the_edge(api: Api, team: Team) -> None:
    add = "mutation($v: String!) { addBlocklistEntry(value: $v) { __typename ... on BlocklistEntry { kind value } ... on InvalidInput { message } ... on Conflict { message } } }"
    for value, kind, stored in (
        ("https://spam.com/unsubscribe", "DOMAIN", "spam.com"),
        ("@hooli.com", "DOMAIN", "hooli.com"),
        ("Sales@Initech.com", "ADDRESS", "sales@initech.com"),
    ):
        entry = await _result(api, team.alice_token, add, v=value)
        assert (entry["__typename"], entry["kind"], entry["value"]) == (
            "BlocklistEntry",
            kind,
            stored,
        )
    for value, reason in (
        ("*@spam.example", "is a pattern"),
        ("http:///nohost", "without a host name"),
        ("spam.com/path", "neither an email address nor a domain"),
        ("co.uk", "not a domain an organisation holds"),
        ("192.0.2.1", "IP address"),
    ):
        refused = await _result(api, team.alice_token, add, v=value)
        assert refused["__typename"] == "InvalidInput" and reason in refused["message"], value
    taken = await _result(api, team.alice_token, add, v="@spam.com")
    assert taken["__typename"] == "Conflict"
    listed = await api.data(team.alice_token, "{ workspace { blocklist { value } } }")
    assert [e["value"] for e in listed["workspace"]["blocklist"]] == [
        "spam.com",
        "hooli.com",
        "sales@initech.com",
    ]


async def test_another_workspaces_members_and_tokens_are_ids_that_do_not_exist(
    api: Api, team: Team
) -> None:
    other = await make_team("initech")
    theirs = (await api.data(other.alice_token, TOKENS))["workspace"]["apiTokens"]
    member, token = str(other.bob.id), theirs[1]["id"]
    for query, variables in (
        (REMOVE, {"m": member}),
        (CREATE, {"m": member}),
        (REVOKE, {"t": token}),
    ):
        foreign = await api.query(team.alice_token, query, variables)
        absent = await api.query(team.alice_token, query, {k: str(uuid.uuid4()) for k in variables})
        assert (
            foreign == absent == {"data": {next(iter(foreign["data"])): {"__typename": "NotFound"}}}
        )
    assert await Member.filter(id=other.bob.id).exists()
    assert (await api.data(other.bob_token, ME))["me"]["email"] == "bob@initech.com"
    assert await ApiToken.filter(member_id=other.bob.id).count() == 1
