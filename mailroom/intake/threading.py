"""Thread assignment in the manner of jwz's algorithm, done incrementally against the store.

jwz builds a tree of containers, one per Message-ID, seen or only referenced, and a message
joins the thread of any container it shares. Kept incrementally, that is a table from every
Message-ID ever seen *or referenced* to its thread (`ThreadKey`): a new message's own id and its
References and In-Reply-To ids are looked up together; no match starts a thread, one match joins
it, several matches merge those threads (a message arriving late can bridge two halves). A
reference loop or a duplicate id is harmless here: ids are only ever mapped to one thread. The
provider's thread id (Gmail's threadId, say) joins messages the headers do not; jwz's last step,
grouping a reply whose parents are all unknown with a recent thread of the same subject, is kept
but bounded in time so that unrelated mail titled "Re: Hello" does not collapse into one thread.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from uuid import UUID

from uuid_utils.compat import uuid7

from mailroom.envelope import Envelope
from mailroom.models import Message, MessageCopy, Thread, ThreadKey
from mailroom.models.bulk import chunked, insert_rows
from mailroom.parsing.msgids import id_key

# How far apart a reply with unknown parents and a thread of the same subject may be.
SUBJECT_WINDOW = timedelta(days=30)
# Normalized subjects too short to say anything ("re:", "hi") never group by subject alone.
MIN_SUBJECT_LENGTH = 4


def subject_key(envelope: Envelope) -> str:
    """The normalized subject as stored (the column holds 255 characters)."""
    return envelope.normalized_subject[:255]


thread_key = id_key


def envelope_keys(envelope: Envelope) -> list[str]:
    ids = [envelope.message_id] if envelope.message_id else []
    ids.extend(envelope.references)
    ids.extend(envelope.in_reply_to)
    return list(dict.fromkeys(thread_key(i) for i in ids))


@dataclass(slots=True)
class Threadable:
    """A new message waiting for its thread; `assign_threads` sets `thread_id`."""

    envelope: Envelope
    mailbox_id: UUID
    provider_thread_id: str | None
    thread_id: UUID | None = None


@dataclass(slots=True)
class _Plan:
    """The batch's decisions, applied in a few statements at the end."""

    key_thread: dict[str, UUID] = field(default_factory=dict)
    stored_keys: set[str] = field(default_factory=set)
    threads: dict[UUID, Thread] = field(default_factory=dict)
    new_threads: set[UUID] = field(default_factory=set)
    merged_into: dict[UUID, UUID] = field(default_factory=dict)
    touched: set[UUID] = field(default_factory=set)
    hints: dict[tuple[UUID, str], UUID] = field(default_factory=dict)

    def find(self, thread_id: UUID) -> UUID:
        while thread_id in self.merged_into:
            thread_id = self.merged_into[thread_id]
        return thread_id


async def assign_threads(workspace_id: UUID, items: Sequence[Threadable]) -> None:
    """Set each item's `thread_id` and store the thread changes (the items' messages are not
    stored yet; merges move messages already stored)."""
    plan = _Plan()
    await _load_keys(plan, workspace_id, items)
    await _load_hints(plan, items)
    subject_threads = await _load_subject_threads(plan, workspace_id, items)
    for item in sorted(items, key=lambda i: i.envelope.date):
        _place(plan, workspace_id, item, subject_threads)
    await _save(plan, workspace_id, items)


async def _load_keys(plan: _Plan, workspace_id: UUID, items: Sequence[Threadable]) -> None:
    keys = {k for item in items for k in envelope_keys(item.envelope)}
    for chunk in chunked(sorted(keys)):
        rows = await ThreadKey.filter(workspace_id=workspace_id, key__in=chunk).values_list(
            "key", "thread_id"
        )
        for key, thread_id in rows:
            plan.key_thread[key] = thread_id
            plan.stored_keys.add(key)
    await _load_threads(plan, set(plan.key_thread.values()))


async def _load_hints(plan: _Plan, items: Sequence[Threadable]) -> None:
    wanted = {(i.mailbox_id, i.provider_thread_id) for i in items if i.provider_thread_id}
    if not wanted:
        return
    # By mailbox, in chunks of `IN` lists: an OR of one Q per hint nests as deep as the batch
    # is long, and Tortoise resolves it recursively (past Python's limit at a few hundred).
    by_mailbox: dict[UUID, list[str]] = {}
    for mailbox_id, provider_thread_id in wanted:
        by_mailbox.setdefault(mailbox_id, []).append(provider_thread_id)
    rows: list[tuple[UUID, str, UUID | None]] = []
    for mailbox_id, hints in by_mailbox.items():
        for chunk in chunked(sorted(hints)):
            rows += await MessageCopy.filter(
                mailbox_id=mailbox_id, provider_thread_id__in=chunk
            ).values_list("mailbox_id", "provider_thread_id", "message__thread_id")
    for mailbox_id, provider_thread_id, thread_id in rows:
        if thread_id is not None:
            plan.hints[(mailbox_id, provider_thread_id)] = thread_id
    await _load_threads(plan, set(plan.hints.values()))


async def _load_subject_threads(
    plan: _Plan, workspace_id: UUID, items: Sequence[Threadable]
) -> dict[str, list[Thread]]:
    subjects = {subject_key(i.envelope) for i in items if _may_group_by_subject(i)}
    if not subjects:
        return {}
    dates = [i.envelope.date for i in items]
    threads = await Thread.filter(
        workspace_id=workspace_id,
        normalized_subject__in=sorted(subjects),
        last_message_at__gte=min(dates) - SUBJECT_WINDOW,
        first_message_at__lte=max(dates) + SUBJECT_WINDOW,
    )
    found: dict[str, list[Thread]] = {}
    for thread in threads:
        plan.threads.setdefault(thread.id, thread)
        found.setdefault(thread.normalized_subject, []).append(thread)
    return found


async def _load_threads(plan: _Plan, ids: Iterable[UUID]) -> None:
    missing = [i for i in ids if i not in plan.threads]
    for chunk in chunked(missing):
        for thread in await Thread.filter(id__in=chunk):
            plan.threads[thread.id] = thread


def _may_group_by_subject(item: Threadable) -> bool:
    envelope = item.envelope
    subject = " ".join((envelope.subject or "").split()).lower()
    is_reply = bool(envelope.in_reply_to or envelope.references) or (
        subject != envelope.normalized_subject
    )
    return is_reply and len(envelope.normalized_subject) >= MIN_SUBJECT_LENGTH


def _place(
    plan: _Plan, workspace_id: UUID, item: Threadable, subject_threads: dict[str, list[Thread]]
) -> None:
    keys = envelope_keys(item.envelope)
    found = {plan.find(plan.key_thread[k]) for k in keys if k in plan.key_thread}
    hint = (item.mailbox_id, item.provider_thread_id or "")
    if hint in plan.hints:
        found.add(plan.find(plan.hints[hint]))
    if not found and _may_group_by_subject(item):
        match = _subject_match(plan, item.envelope, subject_threads)
        if match is not None:
            found.add(match)
    thread_id = _choose(plan, found) if found else _new_thread(plan, workspace_id, item.envelope)
    for key in keys:
        plan.key_thread[key] = thread_id
    if item.provider_thread_id:
        plan.hints[hint] = thread_id
    item.thread_id = thread_id
    plan.touched.add(thread_id)
    _count(plan.threads[thread_id], item.envelope)
    subject_threads.setdefault(subject_key(item.envelope), []).append(plan.threads[thread_id])


def _subject_match(
    plan: _Plan, envelope: Envelope, subject_threads: dict[str, list[Thread]]
) -> UUID | None:
    for thread in subject_threads.get(subject_key(envelope), []):
        first, last = thread.first_message_at, thread.last_message_at
        if first is None or last is None:
            continue
        if first - SUBJECT_WINDOW <= envelope.date <= last + SUBJECT_WINDOW:
            return plan.find(thread.id)
    return None


def _choose(plan: _Plan, found: set[UUID]) -> UUID:
    """The oldest thread survives; the others are merged into it."""
    keep = min(found)  # UUIDv7: the smallest is the oldest
    for other in found - {keep}:
        plan.merged_into[other] = keep
        plan.touched.add(keep)
        _absorb(plan.threads[keep], plan.threads[other])
    return keep


def _new_thread(plan: _Plan, workspace_id: UUID, envelope: Envelope) -> UUID:
    thread = Thread(
        id=uuid7(),
        workspace_id=workspace_id,
        subject=envelope.subject,
        normalized_subject=subject_key(envelope),
        message_count=0,
    )
    plan.threads[thread.id] = thread
    plan.new_threads.add(thread.id)
    return thread.id


def _count(thread: Thread, envelope: Envelope) -> None:
    thread.message_count += 1
    date = envelope.date
    if thread.first_message_at is None or date < thread.first_message_at:
        thread.first_message_at = date
        # The earliest message names the thread, as mail clients show it.
        if envelope.subject:
            thread.subject = envelope.subject
    if thread.last_message_at is None or date > thread.last_message_at:
        thread.last_message_at = date


def _absorb(keep: Thread, other: Thread) -> None:
    keep.message_count += other.message_count
    for date in (other.first_message_at, other.last_message_at):
        if date is None:
            continue
        if keep.first_message_at is None or date < keep.first_message_at:
            keep.first_message_at = date
            keep.subject = other.subject or keep.subject
        if keep.last_message_at is None or date > keep.last_message_at:
            keep.last_message_at = date


async def _save(plan: _Plan, workspace_id: UUID, items: Sequence[Threadable]) -> None:
    merged = set(plan.merged_into)
    for item in items:
        assert item.thread_id is not None
        item.thread_id = plan.find(item.thread_id)
    new = [plan.threads[t] for t in plan.new_threads - merged]
    await Thread.bulk_create(new)
    old = [plan.threads[t] for t in plan.touched - plan.new_threads - merged]
    if old:
        await Thread.bulk_update(
            old, fields=["message_count", "first_message_at", "last_message_at", "subject"]
        )
    await _merge(plan, merged - plan.new_threads)
    keys = [
        {"id": uuid7(), "workspace_id": workspace_id, "key": key, "thread_id": plan.find(thread)}
        for key, thread in plan.key_thread.items()
        if key not in plan.stored_keys
    ]
    await insert_rows(ThreadKey, keys, ignore_conflicts=True)


async def _merge(plan: _Plan, stored: set[UUID]) -> None:
    for other in stored:
        keep = plan.find(other)
        await Message.filter(thread_id=other).update(thread_id=keep)
        await ThreadKey.filter(thread_id=other).update(thread_id=keep)
        await Thread.filter(id=other).delete()
