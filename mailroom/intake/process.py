"""Processing: stored bytes become messages, copies, threads, participants and records.

A batch is normalized (on the worker pool, each message within its time budget) and then
committed in one transaction that also deletes its pending rows. A message is keyed by its
Message-ID (or, when it has none, what makes the message itself) together with a digest of
what it shows (subject, bodies, attachments): the same message seen again, by another mailbox
or in a retry, adds a copy and nothing else, and a copy always shows its mailbox's owner what
their own bytes hold, never another message that claims the same id.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from tortoise.transactions import in_transaction
from uuid_utils.compat import uuid7

from mailroom.envelope import DateSource, Envelope
from mailroom.intake.events import CalendarRules
from mailroom.intake.invitations import Mailed, apply_invitations
from mailroom.intake.locks import workspace_write_lock
from mailroom.intake.port import IngestReport, Outcome, Pending, SourceFacts
from mailroom.intake.rows import (
    attachment_rows,
    envelope_content_digest,
    message_row,
    participant_rows,
)
from mailroom.intake.statistics import Growth
from mailroom.intake.tally import Tally
from mailroom.intake.threading import Threadable, assign_threads
from mailroom.intake.workers import NormalizePool, read_many
from mailroom.models import (
    Attachment,
    Direction,
    Mailbox,
    Member,
    Message,
    MessageCopy,
    Participant,
    PendingIngest,
    ProviderItem,
)
from mailroom.models.bulk import insert_rows
from mailroom.parsing.limits import DEFAULT_LIMITS, Limits
from mailroom.resolver import Sighting, WorkspaceRules, resolve
from mailroom.resolver.figures import settle
from mailroom.resolver.history import stored_mail
from mailroom.resolver.interactions import Mail, link_history, mail_rows, record, relink


@dataclass(slots=True)
class Prepared:
    """A pending message, normalized and ready to be committed."""

    pending: Pending
    envelope: Envelope
    dedupe_key: str
    forwarded: bool = False  # the envelope is the original of a message a member forwarded
    message_id: UUID | None = None
    outcome: Outcome = Outcome.UNCHANGED
    row: dict[str, Any] | None = None  # a new message's stored values
    mail: Mail | None = None  # what interactions are made from, once a new message is stored


class Processor:
    """Processing for one process; safe to share between the tasks of one event loop."""

    def __init__(
        self,
        limits: Limits = DEFAULT_LIMITS,
        pool: NormalizePool | None = None,
        calendar: CalendarRules | None = None,
        *,
        figures: bool = True,
    ) -> None:
        self.limits = limits
        self.pool = pool
        self.calendar = calendar or CalendarRules()
        # False: no interactions or relationship figures are kept (a bulk import does without
        # them, and `mailroom intelligence rebuild` makes them once at the end).
        self.figures = figures
        # None leaves the planner's statistics to the database (a benchmark's baseline).
        self.growth: Growth | None = Growth()
        self._owners: dict[UUID, frozenset[str]] = {}
        self._members: dict[UUID, UUID] = {}
        self.tally = Tally()

    async def prepare(self, pending: Sequence[Pending]) -> list[Prepared]:
        """Normalize stored bytes (on the worker pool when there is one); no I/O."""
        now = datetime.now(UTC)
        jobs = [(p.raw, p.facts.received_at or now, p.facts.unwrap) for p in pending]
        if self.pool is not None:
            # Even one message: the pool bounds its time, and keeps it off the event loop.
            readings = await self.pool.read(jobs, self.limits)
        else:
            readings = read_many(jobs, self.limits)
        envelopes = [
            _truncated(r.envelope, p.facts) for p, r in zip(pending, readings, strict=True)
        ]
        return [
            Prepared(p, e, dedupe_key(e), forwarded=r.forwarded)
            for p, r, e in zip(pending, readings, envelopes, strict=True)
        ]

    async def commit(self, items: list[Prepared]) -> IngestReport:
        """Store prepared messages in one transaction, and drop their pending rows in it."""
        report = IngestReport()
        if not items:
            return report
        workspace_id = items[0].pending.workspace_id
        async with in_transaction() as connection:
            await workspace_write_lock(connection, workspace_id)
            # Another process may have processed some of them while this one read them (a
            # job worker taking up what a receiver left, beside the receiver): whatever it did
            # was committed under the same lock and took their pending rows with it.
            waiting = set(
                await PendingIngest.filter(id__in=[i.pending.id for i in items]).values_list(
                    "id", flat=True
                )
            )
            items = [i for i in items if i.pending.id in waiting]
            if not items:
                return report
            rules = await WorkspaceRules.load(workspace_id)
            await self.tally.learn(i.pending.mailbox_id for i in items)
            new_messages = await self._messages(workspace_id, items)
            copies = await self._copies(items, rules)
            await self._provider_items(items)
            companies = await self._records(rules, new_messages, report)
            if self.figures:
                await self._interactions(rules, items, copies, companies)
            await apply_invitations(
                [
                    Mailed(i.pending.mailbox_id, workspace_id, i.envelope)
                    for i in items
                    if i.outcome in (Outcome.NEW, Outcome.DUPLICATE) and i.envelope.calendar
                ],
                self.calendar,
                rules,
            )
            await PendingIngest.filter(id__in=[i.pending.id for i in items]).delete()
        if self.growth is not None:
            await self.growth.stored(sum(i.outcome is Outcome.NEW for i in items))
        self.tally.count((i.pending.mailbox_id, i.outcome) for i in items)
        for item in items:
            report.count(item.outcome, item.message_id)
            if item.outcome is Outcome.NEW and item.envelope.defects:
                report.defective += 1
        return report

    async def _messages(self, workspace_id: UUID, items: list[Prepared]) -> dict[UUID, Prepared]:
        """Find or create each item's message; returns the new ones by id."""
        keys = sorted({i.dedupe_key for i in items})
        existing = dict(
            await Message.filter(workspace_id=workspace_id, dedupe_key__in=keys).values_list(
                "dedupe_key", "id"
            )
        )
        new: dict[UUID, Prepared] = {}
        rows: dict[UUID, dict[str, Any]] = {}
        for item in items:
            if item.dedupe_key in existing:
                item.message_id = existing[item.dedupe_key]
                item.outcome = Outcome.DUPLICATE
                continue
            row = message_row(
                workspace_id, item.pending.raw_message_id, item.dedupe_key, item.envelope
            )
            existing[item.dedupe_key] = item.message_id = row["id"]
            item.row = row
            item.outcome = Outcome.NEW
            new[row["id"]], rows[row["id"]] = item, row
        threadables = {
            m: Threadable(i.envelope, i.pending.mailbox_id, i.pending.facts.provider_thread_id)
            for m, i in new.items()
        }
        await assign_threads(workspace_id, list(threadables.values()))
        for message_id, threadable in threadables.items():
            rows[message_id]["thread_id"] = threadable.thread_id
        await insert_rows(Message, list(rows.values()))
        return new

    async def _copies(self, items: list[Prepared], rules: WorkspaceRules) -> list[dict[str, Any]]:
        """One copy per mailbox and message; an item whose copy exists changes nothing.
        Returns the new copies."""
        have = set(
            await MessageCopy.filter(
                mailbox_id__in=sorted({i.pending.mailbox_id for i in items}),
                message_id__in=sorted({i.message_id for i in items if i.message_id}),
            ).values_list("mailbox_id", "message_id")
        )
        copies = []
        for item in items:
            key = (item.pending.mailbox_id, item.message_id)
            if key in have:
                if item.outcome is not Outcome.NEW:
                    item.outcome = Outcome.UNCHANGED
                continue
            have.add(key)
            copies.append(await self._copy(item, rules))
        await insert_rows(MessageCopy, copies)
        return copies

    async def _provider_items(self, items: list[Prepared]) -> None:
        rows = {
            (i.pending.mailbox_id, i.pending.facts.item): {
                "id": uuid7(),
                "mailbox_id": i.pending.mailbox_id,
                "item": i.pending.facts.item[:600],
                "folder": i.pending.facts.folder,
                "uidvalidity": i.pending.facts.uidvalidity,
                "uid": i.pending.facts.uid,
                "message_id": i.message_id,
            }
            for i in items
            if i.pending.facts.item
        }
        await insert_rows(ProviderItem, list(rows.values()), ignore_conflicts=True)

    async def _copy(self, item: Prepared, rules: WorkspaceRules) -> dict[str, Any]:
        facts = item.pending.facts
        sender = item.envelope.from_[0].address if item.envelope.from_ else None
        outbound = facts.outbound
        if item.forwarded:
            # A member passed this on: it was sent by the team only if a member wrote it.
            outbound = sender is not None and rules.is_member(sender)
        elif outbound is None:
            outbound = sender in await self._owner_addresses(item.pending.mailbox_id)
        return {
            "id": uuid7(),
            "workspace_id": item.pending.workspace_id,
            "message_id": item.message_id,
            "mailbox_id": item.pending.mailbox_id,
            "raw_message_id": item.pending.raw_message_id,
            "direction": Direction.OUTBOUND if outbound else Direction.INBOUND,
            "provider_id": facts.provider_id[:512] if facts.provider_id else None,
            "provider_thread_id": facts.provider_thread_id,
            "folder": facts.folder,
            "labels": list(facts.labels),
        }

    async def _owner_addresses(self, mailbox_id: UUID) -> frozenset[str]:
        if mailbox_id not in self._owners:
            mailbox = await Mailbox.get(id=mailbox_id)
            owner = await Member.get(id=mailbox.owner_id)
            self._owners[mailbox_id] = frozenset(owner.addresses)
        return self._owners[mailbox_id]

    async def _records(
        self, rules: WorkspaceRules, new: dict[UUID, Prepared], report: IngestReport
    ) -> dict[UUID, UUID | None]:
        """Resolve people and companies; store participants and attachments. Returns the
        company of each person the batch names."""
        sightings = [
            Sighting(m, i.envelope, i.pending.mailbox_id, i.envelope.date) for m, i in new.items()
        ]
        resolution = await resolve(rules, sightings)
        report.people_created += len(resolution.new_people)
        report.companies_created += resolution.companies_created
        participants: list[dict[str, Any]] = []
        attachments: list[dict[str, Any]] = []
        for message_id, item in new.items():
            rows = participant_rows(rules.workspace_id, message_id, item.envelope)
            for row in rows:
                row["person_id"] = resolution.person_of.get(row["address"])
            participants += rows
            attachments += attachment_rows(message_id, item.envelope)
            assert item.row is not None
            item.mail = Mail.of(item.row, rows)
        await insert_rows(Participant, participants)
        await insert_rows(Attachment, attachments)
        if self.figures:
            await link_history(rules.workspace_id, resolution.new_people)
            await relink(
                rules.workspace_id, domains=resolution.new_domains, people=resolution.linked
            )
        else:
            await link_history(rules.workspace_id, resolution.new_people, interactions=False)
        return resolution.company_of

    async def _interactions(
        self,
        rules: WorkspaceRules,
        items: list[Prepared],
        copies: list[dict[str, Any]],
        companies: dict[UUID, UUID | None],
    ) -> None:
        """The interactions the new copies give their owners, and those whose time came."""
        holders: dict[UUID, set[tuple[UUID, bool]]] = {}
        for copy in copies:
            member = await self._member(copy["mailbox_id"])
            outbound = copy["direction"] is Direction.OUTBOUND
            holders.setdefault(copy["message_id"], set()).add((member, outbound))
        mails = {i.mail.id: i.mail for i in items if i.mail is not None}
        old = await stored_mail([m for m in holders if m not in mails])
        mails |= old
        now = datetime.now(UTC)
        rows = [
            row
            for message_id, held in holders.items()
            for row in mail_rows(mails[message_id], held, rules, now)
        ]
        await record(rules.workspace_id, rows, new=mails.keys() - old, companies=companies)
        await settle(rules.workspace_id, now)

    async def _member(self, mailbox_id: UUID) -> UUID:
        if mailbox_id not in self._members:
            mailbox = await Mailbox.get(id=mailbox_id)
            self._members[mailbox_id] = mailbox.owner_id
        return self._members[mailbox_id]


def _truncated(envelope: Envelope, facts: SourceFacts) -> Envelope:
    """A message the source fetched only the header block of: its size is the whole's, and a
    defect says that the rest was not fetched."""
    if facts.truncated_from is None:
        return envelope
    defect = (
        f"message of {facts.truncated_from} bytes, over the size limit: only its header "
        "block was fetched"
    )
    return dataclasses.replace(
        envelope, size=facts.truncated_from, defects=(*envelope.defects, defect)
    )


def dedupe_key(envelope: Envelope) -> str:
    """What makes two sightings one message: its Message-ID, or when it has none what makes
    the message itself (not its bytes: relays add headers, so two mailboxes' copies differ byte
    for byte); in both cases together with the digest of its content (`content_digest`).

    `m:` or `c:`, then a digest of `identity:content`."""
    content = envelope_content_digest(envelope)
    if envelope.message_id:
        identity = hashlib.sha256(envelope.message_id.encode("utf-8", "replace")).hexdigest()
        return "m:" + _keyed(identity, content)
    # A date that is only the arrival time differs on every sighting, so it cannot be part.
    arrived = envelope.date_source is DateSource.ARRIVAL
    parts = [
        "" if arrived else envelope.date.isoformat(),
        ",".join(a.address for a in envelope.from_),
        ",".join(a.address for a in envelope.to + envelope.cc),
        envelope.subject or "",
        envelope.text or envelope.html or "",
    ]
    identity = hashlib.sha256("\x1f".join(parts).encode("utf-8", "replace")).hexdigest()
    return "c:" + _keyed(identity, content)


def _keyed(identity: str, content: str) -> str:
    return hashlib.sha256(f"{identity}:{content}".encode()).hexdigest()
