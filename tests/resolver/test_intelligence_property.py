"""The figures kept incrementally equal the figures rebuilt from scratch, after long random
sequences of what happens to a workspace: mail in any order (replies before what they answer,
one message in two members' mailboxes, bulk mail, mail dated ahead), copies deleted at the
server, mailboxes removed, people merged and given addresses and companies, the blocklist and
the members changing, and meetings made, moved, declined, cancelled and deleted."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mailroom.envelope import Attendee, AttendeeKind, CalendarEvent, Response
from mailroom.intake.events import EventItem, apply_events
from mailroom.intake.intelligence import rebuild_figures
from mailroom.intake.port import SourceFacts
from mailroom.intake.removal import remove_items
from mailroom.models import (
    BlocklistEntry,
    Company,
    Connection,
    Interaction,
    Mailbox,
    Person,
    RecordCreationMode,
)
from mailroom.resolver.rules import WorkspaceRules
from mailroom.settings import Settings
from mailroom.workspace import (
    add_blocklist_entry,
    add_member,
    contact_people,
    create_company,
    import_mailbox,
    merge_people,
    remove_blocklist_entry,
    remove_mailbox,
    remove_member,
    update_person,
)
from mailroom.workspace.actors import Actor
from mailroom.workspace.records import PersonChange
from tests.helpers import BASE_DATE, ingest, message, team

CONTACTS = [
    "jane@globex.com",
    "joe@globex.com",
    "sales@globex.com",
    "kim@hooli.com",
    "lee@initech.com",
    "pat@gmail.com",
    "ann@sub.hooli.com",
]
MEMBERS = ["alice@acme.com", "alice@acme.io", "bob@acme.com"]
START = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)


class World:
    """A workspace and what the sequence has done to it so far."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.sent: list[str] = []  # Message-IDs written so far, for replies
        self.items: dict[int, list[str]] = {}  # mailbox -> provider items it holds
        self.boxes: list[Mailbox] = []
        self.events: list[str] = []
        self.serial = 0

    def next(self) -> int:
        self.serial += 1
        return self.serial


async def _ingest(world: World, crew: Any) -> None:
    rng = world.rng
    everyone = CONTACTS + MEMBERS
    sender = rng.choice(everyone)
    recipients = rng.sample([a for a in everyone if a != sender], rng.randint(1, 3))
    n = world.next()
    message_id = f"<m{n}@test>"
    reply = rng.choice(world.sent) if world.sent and rng.random() < 0.4 else None
    ahead = rng.random() < 0.05
    date = (
        (datetime.now(UTC) + timedelta(days=30))
        if ahead
        else BASE_DATE + timedelta(days=rng.uniform(-300, 200))
    )
    headers = {"List-Id": "<news.globex.com>"} if rng.random() < 0.05 else None
    raw = message(
        sender=sender,
        to=", ".join(recipients[:2]),
        cc=", ".join(recipients[2:]) or None,
        message_id=message_id,
        in_reply_to=reply,
        date=date,
        headers=headers,
    )
    world.sent.append(message_id)
    boxes = [b for b in world.boxes if rng.random() < 0.6] or [rng.choice(world.boxes)]
    for box in boxes:
        item = f"i{n}"
        world.items.setdefault(box.id.int, []).append(item)
        await ingest(box, raw, facts=SourceFacts(item=item))


async def _remove_item(world: World, crew: Any) -> None:
    box = world.rng.choice(world.boxes)
    held = world.items.get(box.id.int, [])
    if held:
        item = held.pop(world.rng.randrange(len(held)))
        await remove_items(crew.workspace.id, box.id, [item])


async def _remove_mailbox(world: World, crew: Any) -> None:
    if len(world.boxes) < 2:
        return
    box = world.boxes.pop(world.rng.randrange(len(world.boxes)))
    from mailroom.workspace.actors import OPERATOR

    await remove_mailbox(OPERATOR, box)
    owner = await box.owner
    if await Mailbox.filter(owner=owner).count() == 0:
        world.boxes.append(await import_mailbox(owner))


async def _merge(world: World, crew: Any) -> None:
    people = await _contacts(crew)
    if len(people) >= 2:
        keep, other = world.rng.sample(people, 2)
        await merge_people(crew.workspace, await _rules(crew), keep, other)


async def _give_address(world: World, crew: Any) -> None:
    people = await _contacts(crew)
    if people:
        change = PersonChange(emails=[world.rng.choice(CONTACTS)])
        try:
            await update_person(
                crew.workspace, await _rules(crew), world.rng.choice(people), change
            )
        except Exception as error:  # noqa: BLE001 - a refused change changes nothing
            assert "team" in str(error) or "address" in str(error), error


async def _set_company(world: World, crew: Any) -> None:
    people = await _contacts(crew)
    companies = list(
        await Company.filter(workspace_id=crew.workspace.id).values_list("id", flat=True)
    )
    if not companies or world.rng.random() < 0.3:
        name = f"Made {world.next()}"
        domain = world.rng.choice(["initech.com", "gmail-not.com", "hooli.com"])
        try:
            made = await create_company(crew.workspace, await _rules(crew), name, [domain])
            companies.append(made.id)
        except Exception as error:  # noqa: BLE001 - the domain is another company's
            assert "belongs to another company" in str(error), error
    if people and companies:
        change = PersonChange(company=world.rng.choice(companies))
        await update_person(crew.workspace, await _rules(crew), world.rng.choice(people), change)


async def _blocklist(world: World, crew: Any) -> None:
    entries = await BlocklistEntry.filter(workspace_id=crew.workspace.id)
    admin = Actor(crew.alice)
    if entries and world.rng.random() < 0.5:
        await remove_blocklist_entry(admin, crew.workspace, world.rng.choice(entries).id)
        return
    value = world.rng.choice([*CONTACTS, "hooli.com", "globex.com"])
    if value not in {e.value for e in entries}:
        await add_blocklist_entry(admin, crew.workspace, value)


async def _members(world: World, crew: Any) -> None:
    carol = await crew.workspace.members.filter(email="lee@initech.com").first()
    if carol is None:
        member = await add_member(crew.workspace, "lee@initech.com")
        world.boxes.append(await import_mailbox(member))
    else:
        world.boxes = [b for b in world.boxes if b.owner_id != carol.id]
        await remove_member(Actor(crew.alice), crew.workspace, carol)


async def _meeting(world: World, crew: Any) -> None:
    rng = world.rng
    if world.events and rng.random() < 0.4:
        uid = rng.choice(world.events)
    else:
        uid = f"e{world.next()}@test"
        world.events.append(uid)
    box = rng.choice(world.boxes)
    if rng.random() < 0.15:
        await apply_events(box, "primary", [EventItem(uid, None)])
        return
    people = rng.sample(CONTACTS + MEMBERS, rng.randint(1, 5))
    attendees = tuple(
        Attendee(a, None, rng.choice(list(Response)), AttendeeKind.PERSON) for a in people
    ) + (Attendee("room@globex.com", None, Response.ACCEPTED, AttendeeKind.ROOM),)
    owner = (await box.owner).email
    attendees += (Attendee(owner, None, rng.choice(list(Response))),)
    ahead = rng.random() < 0.2
    start = (
        datetime.now(UTC) + timedelta(days=20)
        if ahead
        else START - timedelta(days=rng.randint(0, 300))
    )
    event = CalendarEvent(
        uid=uid,
        recurrence_id=None,
        start=start,
        end=start + timedelta(hours=1),
        summary="Meeting",
        organizer=Attendee(rng.choice(people), None, Response.ACCEPTED),
        attendees=attendees,
        sequence=world.next(),
        updated=datetime(2026, 3, 1, tzinfo=UTC) + timedelta(minutes=world.serial),
    )
    if rng.random() < 0.1:
        from mailroom.envelope import EventStatus

        event = replace(event, status=EventStatus.CANCELLED)
    await apply_events(box, "primary", [EventItem(uid, event)])


async def _contacts(crew: Any) -> list[Any]:
    """The people a member may edit: not the team's own."""
    return list(await contact_people(await _rules(crew)).values_list("id", flat=True))


async def _rules(crew: Any) -> WorkspaceRules:
    return await WorkspaceRules.load(crew.workspace.id)


STEPS = [
    (_ingest, 10),
    (_remove_item, 2),
    (_remove_mailbox, 0.5),
    (_merge, 1),
    (_give_address, 1),
    (_set_company, 1),
    (_blocklist, 1),
    (_members, 0.5),
    (_meeting, 3),
]


async def _state(workspace_id: Any) -> dict[str, Any]:
    interactions = sorted(
        (str(r[0]), r[1], str(r[2]), str(r[3]), str(r[4]), str(r[5]), str(r[6]), r[7], r[8])
        for r in await Interaction.filter(workspace_id=workspace_id).values_list(
            "member_id",
            "address",
            "message_id",
            "event_id",
            "exchange",
            "person_id",
            "company_id",
            "counted",
            "value",
        )
    )
    connections = {
        (str(m), str(p), str(c)): (s, n)
        for m, p, c, s, n in await Connection.filter(workspace_id=workspace_id).values_list(
            "member_id", "person_id", "company_id", "score", "interactions"
        )
    }
    figures = {}
    for model in (Person, Company):
        for row in await model.filter(workspace_id=workspace_id).values(
            "id",
            "first_interaction_at",
            "last_interaction_at",
            "first_email_at",
            "last_email_at",
            "first_meeting_at",
            "last_meeting_at",
            "strength",
            "strongest_member_id",
        ):
            figures[str(row.pop("id"))] = row
    return {"interactions": interactions, "connections": connections, "figures": figures}


def _same(kept: dict[str, Any], rebuilt: dict[str, Any]) -> None:
    def rows(state: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [r[:-1] for r in state["interactions"]]

    assert rows(kept) == rows(rebuilt)
    for a, b in zip(kept["interactions"], rebuilt["interactions"], strict=True):
        assert a[-1] == pytest.approx(b[-1], rel=1e-9)
    assert kept["connections"].keys() == rebuilt["connections"].keys()
    for key, (score, count) in kept["connections"].items():
        assert count == rebuilt["connections"][key][1], key
        assert score == pytest.approx(rebuilt["connections"][key][0], rel=1e-9), key
    assert kept["figures"].keys() == rebuilt["figures"].keys()
    for key, row in kept["figures"].items():
        other = rebuilt["figures"][key]
        assert row["strength"] == pytest.approx(other["strength"], rel=1e-9), key
        if row["strength"] != pytest.approx(other["strength"], rel=1e-12):
            row, other = dict(row, strongest_member_id=None), dict(other, strongest_member_id=None)
        assert dict(row, strength=0) == dict(other, strength=0), key


# Seed 15 once found a person named by two addresses whose company, given in the batch, was
# read from the other address's entry (None).
@pytest.mark.parametrize("seed", [1, 2, 3, 15])
async def test_kept_figures_equal_rebuilt_ones(db: Settings, seed: int) -> None:
    rng = random.Random(seed)
    crew = await team(rng.choice([RecordCreationMode.ALL, RecordCreationMode.SELECTIVE]))
    world = World(rng)
    world.boxes = [crew.alice_box, crew.bob_box]
    steps, weights = zip(*STEPS, strict=True)
    done: list[str] = []
    for number in range(1, 61):
        step = rng.choices(steps, weights)[0]
        await step(world, crew)
        done.append(step.__name__)
        if number % 15 == 0:
            # Compared every few steps: a difference is found near the step that made it,
            # and the rebuilt figures are where the sequence goes on from.
            kept = await _state(crew.workspace.id)
            await rebuild_figures(crew.workspace.id)
            try:
                _same(kept, await _state(crew.workspace.id))
            except AssertionError as error:
                raise AssertionError(f"after {done[-15:]}: {error}") from error
    assert await Interaction.filter(workspace_id=crew.workspace.id, counted=True).exists()
    assert await Connection.filter(workspace_id=crew.workspace.id).exists()
