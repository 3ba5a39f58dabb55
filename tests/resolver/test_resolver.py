"""The resolver: which participants become people and companies under each record creation
mode, what never does, names, links to earlier messages, and merging."""

from __future__ import annotations

import asyncio

from mailroom.models import (
    BlockKind,
    BlocklistEntry,
    Company,
    CompanyDomain,
    Interaction,
    NameSource,
    Origin,
    Participant,
    Person,
    PersonEmail,
    RecordCreationMode,
)
from mailroom.resolver.merge import add_email, merge_people
from mailroom.resolver.rules import Rule
from mailroom.settings import Settings
from tests.helpers import ingest, later, message, team


async def _people() -> dict[str, Person]:
    emails = await PersonEmail.all().prefetch_related("person")
    return {e.address: e.person for e in emails}


async def _company_domains() -> set[str]:
    return set(await CompanyDomain.all().values_list("domain", flat=True))


OUTBOUND = dict(
    sender="Alice <alice@acme.com>",
    to="Jane Doe <jane@globex.com>, Carol <carol@gmail.com>",
    cc="bob@acme.com, dave@acme.com, support@vendor.io, Noreply <no-reply@globex.com>",
    message_id="<out@acme.com>",
)


async def test_selective_creates_people_a_member_wrote_to(db: Settings) -> None:
    t = await team(RecordCreationMode.SELECTIVE)
    report = await ingest(t.alice_box, message(**OUTBOUND))
    people = await _people()
    # Not bob (member), dave (member domain), support@ (role), no-reply@ (automated).
    assert set(people) == {"jane@globex.com", "carol@gmail.com"}
    assert report.people_created == 2
    # gmail.com is free mail: a person, no company.
    assert await _company_domains() == {"globex.com"}
    company = await Company.get()
    assert company.name == "Globex"
    assert people["jane@globex.com"].company_id == company.id
    assert people["carol@gmail.com"].company_id is None


async def test_selective_inbound_only_senders_create_nothing(db: Settings) -> None:
    t = await team(RecordCreationMode.SELECTIVE)
    await ingest(t.alice_box, message(cc="Frank <frank@hooli.com>"))
    assert await Person.all().count() == 0 and await Company.all().count() == 0


async def test_selective_counts_aliases_and_other_members_as_senders(db: Settings) -> None:
    t = await team(RecordCreationMode.SELECTIVE)
    from_alias = message(sender="alice@acme.io", to="jane@globex.com", message_id="<a1@x>")
    # Bob's outbound message seen in Alice's mailbox (she was in Cc).
    from_bob = message(
        sender="bob@acme.com", to="lee@hooli.com", cc="alice@acme.com", message_id="<b1@x>"
    )
    await ingest(t.alice_box, from_alias, from_bob)
    assert set(await _people()) == {"jane@globex.com", "lee@hooli.com"}


async def test_all_creates_senders_too(db: Settings) -> None:
    t = await team(RecordCreationMode.ALL)
    await ingest(t.alice_box, message(cc="Frank <frank@hooli.com>"))
    assert set(await _people()) == {"jane@globex.com", "frank@hooli.com"}
    assert await _company_domains() == {"globex.com", "hooli.com"}


async def test_none_creates_nothing_but_links_hand_made_people(db: Settings) -> None:
    t = await team(RecordCreationMode.NONE)
    person = await Person.create(workspace=t.workspace, name="Jane", name_source=NameSource.HAND)
    await add_email(person, "jane@globex.com")
    await ingest(t.alice_box, message(**OUTBOUND))
    assert set(await _people()) == {"jane@globex.com"}
    assert await Company.all().count() == 0
    linked = await Participant.filter(person_id=person.id).count()
    assert linked == 1
    await person.refresh_from_db()
    assert person.last_email_at is not None


async def test_bulk_and_automated_mail_make_no_records(db: Settings) -> None:
    t = await team(RecordCreationMode.ALL)
    newsletter = message(
        sender="News <news@hooli.com>",
        message_id="<nl@x>",
        headers={"List-Unsubscribe": "<mailto:unsub@hooli.com>", "Precedence": "bulk"},
    )
    auto = message(
        sender="Zed <zed@initech.com>",
        message_id="<auto@x>",
        headers={"Auto-Submitted": "auto-replied"},
    )
    await ingest(t.alice_box, newsletter, auto)
    assert await Person.all().count() == 0


async def test_blocklisted_addresses_and_domains_make_no_records(db: Settings) -> None:
    t = await team(RecordCreationMode.ALL)
    await BlocklistEntry.create(
        workspace=t.workspace, kind=BlockKind.ADDRESS, value="jane@globex.com"
    )
    await BlocklistEntry.create(workspace=t.workspace, kind=BlockKind.DOMAIN, value="hooli.com")
    raw = message(cc="a@eu.hooli.com, b@hooli.com, c@nothooli.com")
    await ingest(t.alice_box, raw)
    assert set(await _people()) == {"c@nothooli.com"}
    assert await _company_domains() == {"nothooli.com"}


async def test_provenance_says_why(db: Settings) -> None:
    t = await team(RecordCreationMode.SELECTIVE)
    await ingest(t.alice_box, message(**OUTBOUND))
    person = (await _people())["jane@globex.com"]
    company = await Company.get()
    assert person.origin is Origin.RESOLVER
    assert person.origin_rule == Rule.SELECTIVE
    assert person.origin_mailbox_id == t.alice_box.id
    stored_id = (await Participant.get(address="jane@globex.com")).message_id
    assert person.origin_message_id == stored_id
    assert company.origin_rule == Rule.COMPANY and company.origin_message_id == stored_id


async def test_names_from_display_names_or_derived_and_replaced(db: Settings) -> None:
    t = await team(RecordCreationMode.ALL)
    await ingest(
        t.alice_box,
        message(
            sender="jane.doe@globex.com",
            message_id="<n1@x>",
            cc='"frank@hooli.com" <frank@hooli.com>',
        ),
    )
    people = await _people()
    assert (people["jane.doe@globex.com"].name, people["jane.doe@globex.com"].name_source) == (
        "Jane Doe",
        NameSource.DERIVED,
    )
    # A display name that is an address is not a name.
    assert people["frank@hooli.com"].name_source is NameSource.DERIVED
    await ingest(
        t.alice_box,
        message(sender='"Doe, Janet" <jane.doe@globex.com>', message_id="<n2@x>", date=later(1)),
    )
    person = (await _people())["jane.doe@globex.com"]
    assert (person.name, person.name_source) == ("Janet Doe", NameSource.DISPLAY)
    person.name, person.name_source = "J. Doe (CEO)", NameSource.HAND
    await person.save()
    await ingest(
        t.alice_box,
        message(sender="Someone Else <jane.doe@globex.com>", message_id="<n3@x>", date=later(2)),
    )
    await person.refresh_from_db()
    assert person.name == "J. Doe (CEO)"


async def test_a_person_made_later_gets_their_earlier_messages(db: Settings) -> None:
    t = await team(RecordCreationMode.SELECTIVE)
    first = message(sender="Jane <jane@globex.com>", message_id="<in1@x>", date=later(0))
    second = message(sender="Jane <jane@globex.com>", message_id="<in2@x>", date=later(1))
    await ingest(t.alice_box, first, second)
    assert await Person.all().count() == 0
    reply = message(
        sender="alice@acme.com",
        to="jane@globex.com",
        message_id="<out1@x>",
        in_reply_to="<in2@x>",
        date=later(2),
    )
    await ingest(t.alice_box, reply)
    person = (await _people())["jane@globex.com"]
    assert await Participant.filter(person_id=person.id).count() == 3
    # Alice's copies: the two Jane wrote, the one she answered, and her reply.
    found = await Interaction.filter(person_id=person.id).values_list(
        "message__internet_message_id", "exchange"
    )
    assert sorted((m, str(e)) for m, e in found) == [
        ("in1@x", "RECEIVED"),
        ("in2@x", "ANSWERED"),
        ("in2@x", "RECEIVED"),
        ("out1@x", "SENT"),
    ]
    assert person.first_email_at == later(0) and person.last_email_at == later(2)
    company = await Company.get()
    assert company.first_email_at == later(0) and company.last_email_at == later(2)


async def test_changing_the_mode_is_not_retroactive(db: Settings) -> None:
    t = await team(RecordCreationMode.SELECTIVE)
    await ingest(t.alice_box, message(message_id="<old@x>"))
    t.workspace.record_creation_mode = RecordCreationMode.ALL
    await t.workspace.save()
    assert await Person.all().count() == 0
    await ingest(t.alice_box, message(sender="lee@hooli.com", message_id="<new@x>"))
    assert set(await _people()) == {"lee@hooli.com"}
    t.workspace.record_creation_mode = RecordCreationMode.NONE
    await t.workspace.save()
    await ingest(t.alice_box, message(sender="kim@umbrella.com", message_id="<none@x>"))
    assert set(await _people()) == {"lee@hooli.com"}


async def test_hand_made_person_is_linked_to_a_new_company(db: Settings) -> None:
    t = await team(RecordCreationMode.ALL)
    person = await Person.create(workspace=t.workspace, name="Kim", name_source=NameSource.HAND)
    await add_email(person, "kim@umbrella.com")
    await ingest(t.alice_box, message(sender="lee@umbrella.com"))
    await person.refresh_from_db()
    company = await Company.get()
    assert person.company_id == company.id


async def test_adding_an_address_another_person_holds_merges_them(db: Settings) -> None:
    t = await team(RecordCreationMode.ALL)
    await ingest(
        t.alice_box,
        message(sender="Jane Doe <jane@globex.com>", message_id="<j1@x>"),
        message(sender="jdoe@gmail.com", message_id="<j2@x>", date=later(5)),
    )
    people = await _people()
    work, personal = people["jane@globex.com"], people["jdoe@gmail.com"]
    personal.name, personal.name_source = "Jane (personal)", NameSource.HAND
    await personal.save()
    merged = await add_email(work, "JDoe@Gmail.com")
    assert merged.id == work.id
    assert await Person.all().count() == 1
    assert set(await PersonEmail.filter(person_id=work.id).values_list("address", flat=True)) == {
        "jane@globex.com",
        "jdoe@gmail.com",
    }
    assert await Participant.filter(person_id=work.id).count() == 2
    assert await Interaction.filter(person_id=work.id).count() == 2
    assert merged.name == "Jane (personal)"  # hand-set wins
    assert merged.last_email_at == later(5)
    assert merged.company_id is not None


async def test_merging_people_with_shared_messages_keeps_one_interaction(db: Settings) -> None:
    t = await team(RecordCreationMode.ALL)
    await ingest(t.alice_box, message(sender="jane@globex.com", cc="jane.doe@gmail.com"))
    people = await _people()
    merged = await merge_people(people["jane@globex.com"], people["jane.doe@gmail.com"])
    assert await Interaction.filter(person_id=merged.id).count() == 1


async def test_concurrent_ingest_is_idempotent(db: Settings) -> None:
    t = await team(RecordCreationMode.ALL)
    raws = [message(sender=f"p{i}@hooli.com", message_id=f"<c{i}@x>") for i in range(30)]
    await asyncio.gather(
        ingest(t.alice_box, *raws),
        ingest(t.bob_box, *reversed(raws)),
        ingest(t.alice_box, *raws[::2]),
    )
    assert await PersonEmail.all().count() == 30
    assert await Person.all().count() == 30
    assert await Company.all().count() == 1
    from mailroom.models import Message, MessageCopy

    assert await Message.all().count() == 30
    assert await MessageCopy.all().count() == 60
