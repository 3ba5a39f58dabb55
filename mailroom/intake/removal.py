"""Taking away what a mailbox no longer has: provider items deleted at the server, their copy
when the mailbox has the message nowhere else, and the message when no mailbox has it; and a
removed mailbox's or workspace's mail.

People and companies stay (records are never removed with mail, only with their workspace);
threads, stored bytes and relationship figures follow the messages and copies that go: a
member's interactions go with the last copy they hold.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from uuid import UUID

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from mailroom.intake.events import remove_calendar_events
from mailroom.intake.locks import workspace_write_lock
from mailroom.models import (
    Mailbox,
    Message,
    MessageCopy,
    PendingIngest,
    ProviderItem,
    RawMessage,
    Thread,
    Workspace,
)
from mailroom.models.bulk import chunked, uuids
from mailroom.resolver.history import reinteract
from mailroom.resolver.interactions import forget


async def remove_items(workspace_id: UUID, mailbox_id: UUID, items: Iterable[str]) -> int:
    """Forget a mailbox's provider items; returns how many messages were removed entirely."""
    keys = sorted(set(items))
    if not keys:
        return 0
    async with in_transaction() as connection:
        await workspace_write_lock(connection, workspace_id)
        affected: set[UUID] = set()
        for chunk in chunked(keys):
            found = ProviderItem.filter(mailbox_id=mailbox_id, item__in=chunk)
            affected |= await uuids(found.values_list("message_id", flat=True))
            await found.delete()
        still_there = await _present(ProviderItem, mailbox_id, affected)
        gone = affected - still_there
        for ids in chunked(sorted(gone)):
            await MessageCopy.filter(mailbox_id=mailbox_id, message_id__in=ids).delete()
        orphans = gone - await _present(MessageCopy, None, gone)
        await reinteract(workspace_id, messages=gone - orphans, now=datetime.now(UTC))
        await remove_messages(orphans)
    return len(orphans)


async def _present(
    model: type[ProviderItem] | type[MessageCopy], mailbox_id: UUID | None, message_ids: set[UUID]
) -> set[UUID]:
    found: set[UUID] = set()
    for chunk in chunked(sorted(message_ids)):
        query = model.filter(message_id__in=chunk)
        if mailbox_id is not None:
            query = query.filter(mailbox_id=mailbox_id)
        found |= await uuids(query.values_list("message_id", flat=True))
    return found


async def remove_messages(message_ids: set[UUID]) -> None:
    """Delete messages (their participants, attachments, copies and interactions go with
    them), then fix what summarised them. Call inside the workspace's write lock."""
    if not message_ids:
        return
    threads: set[UUID] = set()
    raws: set[UUID] = set()
    for chunk in chunked(sorted(message_ids)):
        rows = await Message.filter(id__in=chunk).values_list(
            "workspace_id", "thread_id", "raw_message_id"
        )
        threads.update(t for _, t, _ in rows if t is not None)
        raws.update(r for _, _, r in rows)
        raws |= await uuids(
            MessageCopy.filter(message_id__in=chunk).values_list("raw_message_id", flat=True)
        )
        for workspace_id in {w for w, _, _ in rows}:
            await forget(workspace_id, Q(message_id__in=chunk))
        await Message.filter(id__in=chunk).delete()
    await _recount_threads(threads)
    await _drop_unused_raw(raws)


async def _recount_threads(thread_ids: set[UUID]) -> None:
    for thread_id in thread_ids:
        dates = (
            await Message.filter(thread_id=thread_id)
            .order_by("sent_at")
            .values_list("sent_at", flat=True)
        )
        if not dates:
            await Thread.filter(id=thread_id).delete()
            continue
        await Thread.filter(id=thread_id).update(
            message_count=len(dates), first_message_at=dates[0], last_message_at=dates[-1]
        )


async def _drop_unused_raw(raw_ids: set[UUID]) -> None:
    for chunk in chunked(sorted(raw_ids)):
        used = set(
            await Message.filter(raw_message_id__in=chunk).values_list("raw_message_id", flat=True)
        )
        used |= set(
            await MessageCopy.filter(raw_message_id__in=chunk).values_list(
                "raw_message_id", flat=True
            )
        )
        used |= set(
            await PendingIngest.filter(raw_message_id__in=chunk).values_list(
                "raw_message_id", flat=True
            )
        )
        unused = [r for r in chunk if r not in used]
        if unused:
            await RawMessage.filter(id__in=unused).delete()


async def remove_mailbox(mailbox_id: UUID, workspace_id: UUID) -> int:
    """Delete a mailbox with the mail and events only it had (a message or meeting another
    mailbox also holds stays). People and companies stay. Returns how many messages were
    removed."""
    async with in_transaction() as connection:
        await workspace_write_lock(connection, workspace_id)
        held = await uuids(
            MessageCopy.filter(mailbox_id=mailbox_id).values_list("message_id", flat=True)
        )
        raws = await uuids(
            PendingIngest.filter(mailbox_id=mailbox_id).values_list("raw_message_id", flat=True)
        )
        for ids in chunked(sorted(held)):
            await MessageCopy.filter(mailbox_id=mailbox_id, message_id__in=ids).delete()
        orphans = held - await _present(MessageCopy, None, held)
        await reinteract(workspace_id, messages=held - orphans, now=datetime.now(UTC))
        await remove_messages(orphans)
        await remove_calendar_events(mailbox_id)
        await Mailbox.filter(id=mailbox_id).delete()
        await _drop_unused_raw(raws)
    return len(orphans)


async def remove_workspace(workspace_id: UUID) -> None:
    """Delete a workspace and everything in it, in one transaction. Its messages and their
    copies go before the stored bytes, which they hold on to (RESTRICT); everything else goes
    with the workspace's row."""
    async with in_transaction() as connection:
        await workspace_write_lock(connection, workspace_id)
        await Message.filter(workspace_id=workspace_id).delete()
        await MessageCopy.filter(workspace_id=workspace_id).delete()
        await PendingIngest.filter(workspace_id=workspace_id).delete()
        await RawMessage.filter(workspace_id=workspace_id).delete()
        await Workspace.filter(id=workspace_id).delete()
