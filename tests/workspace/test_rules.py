"""The service layer's rules, called as the command line calls them (the operator) and as the
API does (a member): who may, what a plan allows, what is found, and what a unique index's
refusal becomes."""

from __future__ import annotations

import re
import uuid

import pytest

from mailroom.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from mailroom.models import (
    BlockKind,
    Mailbox,
    MailboxStatus,
    Message,
    Plan,
    Provider,
    RecordCreationMode,
    Sharing,
    Workspace,
)
from mailroom.settings import Settings
from mailroom.sources.mailboxes import forwarding_mailbox
from mailroom.workspace import (
    MAILBOXES_PER_MEMBER,
    OPERATOR,
    Actor,
    add_blocklist_entry,
    add_member,
    blocklist_of,
    check_room_for_mailbox,
    create_workspace,
    get_workspace,
    import_mailbox,
    mailbox_by_id,
    remove_blocklist_entry,
    remove_mailbox,
    set_mailbox_sharing,
    set_record_creation_mode,
    share_thread,
    unshare_thread,
)
from mailroom.workspace.blocklist import blocklist_value
from mailroom.workspace.store import conflict_if_taken
from tests.helpers import Team, ingest, message, team


async def _connected(team: Team, n: int) -> None:
    """`n` connected mailboxes for Bob, stored as `add-imap` stores them."""
    for i in range(n):
        await Mailbox.create(
            workspace=team.workspace,
            owner=team.bob,
            provider=Provider.IMAP,
            address=f"bob{i}@example.org",
            status=MailboxStatus.PENDING,
        )


def test_a_blocklist_value_is_an_address_or_a_registrable_domain() -> None:
    assert blocklist_value(" Spam@Hooli.com ") == (BlockKind.ADDRESS, "spam@hooli.com")
    assert blocklist_value("<spam@hooli.com>") == (BlockKind.ADDRESS, "spam@hooli.com")
    for domain in (".Mail.Hooli.com", "@mail.hooli.com", "mail.hooli.com."):
        assert blocklist_value(domain) == (BlockKind.DOMAIN, "mail.hooli.com"), domain
    for url in ("https://Mail.Hooli.com/x?y=1", "http://user:pw@mail.hooli.com:8080"):
        assert blocklist_value(url) == (BlockKind.DOMAIN, "mail.hooli.com")
    assert blocklist_value("bücher.de") == blocklist_value("xn--bcher-kva.de")
    for bad, reason in (
        ("hooli", "not a domain an organisation holds"),
        ("co.uk", "not a domain an organisation holds"),
        ("spam@", "not a valid email address"),
        ("Spam <spam@hooli.com>", "not a valid email address"),
        ("@@hooli.com x", "neither an email address nor a domain"),
        ("hooli.com/offers", "neither an email address nor a domain"),
        ("*@hooli.com", "is a pattern"),
        ("https://", "without a host name"),
        ("[192.0.2.1]", "IP address"),
        ("  ", "cannot be empty"),
    ):
        with pytest.raises(InvalidInputError, match=re.escape(reason)):
            blocklist_value(bad)


async def test_settings_and_blocklist_are_for_admins_and_the_operator(db: Settings) -> None:
    acme = await team()
    alice, bob = Actor(acme.alice), Actor(acme.bob)
    with pytest.raises(ForbiddenError, match="only an admin"):
        await set_record_creation_mode(bob, acme.workspace, RecordCreationMode.ALL)
    with pytest.raises(ForbiddenError, match="only an admin"):
        await add_blocklist_entry(bob, acme.workspace, "spam@hooli.com")
    await set_record_creation_mode(alice, acme.workspace, RecordCreationMode.ALL)
    assert (await get_workspace("acme")).record_creation_mode is RecordCreationMode.ALL
    by_admin = await add_blocklist_entry(alice, acme.workspace, "spam@hooli.com")
    by_operator = await add_blocklist_entry(OPERATOR, acme.workspace, "hooli.com")
    assert (by_admin.created_by_id, by_operator.created_by_id) == (acme.alice.id, None)
    with pytest.raises(ConflictError, match="already blocklisted"):
        await add_blocklist_entry(alice, acme.workspace, "SPAM@hooli.com")
    with pytest.raises(ForbiddenError):
        await remove_blocklist_entry(bob, acme.workspace, by_admin.id)
    with pytest.raises(NotFoundError):
        await remove_blocklist_entry(alice, acme.workspace, uuid.uuid4())
    await remove_blocklist_entry(alice, acme.workspace, by_admin.id)
    assert [e.value for e in await blocklist_of(acme.workspace.id)] == ["hooli.com"]


@pytest.mark.parametrize("plan", list(Plan))
async def test_a_plan_limits_connected_mailboxes_only(db: Settings, plan: Plan) -> None:
    acme = await team()
    acme.workspace.plan = plan
    await acme.workspace.save()
    await forwarding_mailbox(acme.bob)  # forwarding and import mailboxes do not count
    limit = MAILBOXES_PER_MEMBER[plan]
    await _connected(acme, limit if limit is not None else 5)
    if limit is None:
        await check_room_for_mailbox(acme.workspace, acme.bob)
    else:
        with pytest.raises(ConflictError, match=f"the most the {plan} plan allows"):
            await check_room_for_mailbox(acme.workspace, acme.bob)
    await check_room_for_mailbox(acme.workspace, acme.alice)  # per member


async def test_a_mailbox_is_managed_by_its_owner_and_admins(db: Settings) -> None:
    acme = await team()
    carol = await add_member(acme.workspace, "carol@acme.com")
    bob_box = acme.bob_box
    with pytest.raises(ForbiddenError, match="only the mailbox's owner may change its sharing"):
        await set_mailbox_sharing(Actor(acme.alice), bob_box, Sharing.FULL)  # an admin, not owner
    changed = await set_mailbox_sharing(Actor(acme.bob), bob_box, Sharing.SUBJECT)
    assert (await Mailbox.get(id=changed.id)).default_sharing is Sharing.SUBJECT
    with pytest.raises(ForbiddenError, match="owner or an admin may remove it"):
        await remove_mailbox(Actor(carol), bob_box)
    await ingest(bob_box, message(sender="bob@acme.com", to="jane@globex.com"))
    assert await remove_mailbox(Actor(acme.alice), bob_box) == 1
    assert not await Mailbox.filter(id=bob_box.id).exists()
    assert await remove_mailbox(OPERATOR, await import_mailbox(carol)) == 0


async def test_rows_are_found_only_in_their_own_workspace(db: Settings) -> None:
    acme, initech = await team(), await team(slug="initech")
    found = await mailbox_by_id(acme.workspace, acme.alice_box.id)
    assert found.id == acme.alice_box.id
    for workspace, mailbox_id, provider in (
        (initech.workspace, acme.alice_box.id, None),
        (acme.workspace, uuid.uuid4(), None),
        (acme.workspace, acme.alice_box.id, Provider.IMAP),
    ):
        with pytest.raises(NotFoundError) as refused:
            await mailbox_by_id(workspace, mailbox_id, provider)
        # The same words either way: nothing tells "not yours" from "none".
        assert str(refused.value) == "Not found"


async def test_a_thread_is_shared_by_members_who_hold_it(db: Settings) -> None:
    acme = await team()
    carol = await add_member(acme.workspace, "carol@acme.com")
    await ingest(acme.alice_box, message(sender="alice@acme.com", to="jane@globex.com"))
    thread = (await Message.get(internet_message_id="m1@client.example")).thread_id
    assert thread is not None
    with pytest.raises(ForbiddenError, match="whose mailbox holds the thread"):
        await share_thread(acme.bob, acme.workspace, thread, Sharing.FULL)
    with pytest.raises(NotFoundError):
        await share_thread(acme.alice, acme.workspace, uuid.uuid4(), Sharing.FULL)
    with pytest.raises(InvalidInputError, match="to share with is not in this workspace"):
        await share_thread(acme.alice, acme.workspace, thread, Sharing.FULL, [uuid.uuid4()])
    shared = await share_thread(acme.alice, acme.workspace, thread, Sharing.FULL, [carol.id])
    assert shared.id == thread
    with pytest.raises(InvalidInputError, match="a member is not in this workspace"):
        await unshare_thread(acme.alice, acme.workspace, thread, [uuid.uuid4()])
    await unshare_thread(acme.alice, acme.workspace, thread, [carol.id])


async def test_a_unique_index_refusal_is_a_conflict(db: Settings) -> None:
    await create_workspace("acme")
    with pytest.raises(ConflictError, match="taken") as refused:
        with conflict_if_taken("taken", workspace="acme"):
            await Workspace.create(slug="acme", name="again")
    assert refused.value.context == {"workspace": "acme"}
    with pytest.raises(ConflictError, match="already exists"):
        await create_workspace("acme")
