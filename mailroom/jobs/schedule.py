"""Which connected mailboxes are due for a sync pass, and deferring their jobs.

A mailbox is due once its provider's poll interval has passed since its last good pass, or,
after failures, once its backoff has passed since the last one (doubling with each failure in a
row, up to the provider's ceiling, as `serve`'s pollers back off). A refused login or grant
(NEEDS_REAUTH) waits for the member to reconnect. Each mailbox has at most one sync job waiting
(its queueing lock) and one running (its lock), so a slow mailbox never piles jobs up, and a
pass never runs beside another of the same mailbox.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued

from mailroom.models import Mailbox, MailboxStatus, Provider
from mailroom.settings import Settings
from mailroom.workspace.mailboxes import SYNCED_PROVIDERS

SYNC = "sync_mailbox"


def mailbox_lock(mailbox_id: UUID | str) -> str:
    """The lock of every job that works on the mailbox's sync state (a pass, a repair)."""
    return f"mailbox:{mailbox_id}"


@dataclass(frozen=True, slots=True)
class Cadence:
    """How often a provider's mailboxes are synced, and the longest wait after failures."""

    every: float
    ceiling: float

    def wait(self, failures: int) -> float:
        return min(self.ceiling, 2.0 ** min(failures, 20)) if failures else self.every


def cadences(settings: Settings) -> dict[Provider, Cadence]:
    """Those of the providers synced with these settings."""
    found = {
        Provider.IMAP: (
            settings.imap_enabled,
            Cadence(settings.imap_poll_interval, settings.imap_max_backoff),
        ),
        Provider.GMAIL: (
            settings.gmail_enabled,
            Cadence(settings.gmail_poll_seconds, settings.gmail_max_backoff),
        ),
        Provider.MICROSOFT: (
            settings.graph_enabled,
            Cadence(settings.graph_poll_seconds, settings.graph_max_backoff),
        ),
        Provider.CALDAV: (
            settings.caldav_enabled and settings.calendar_enabled,
            Cadence(settings.calendar_poll_seconds, settings.caldav_max_backoff),
        ),
    }
    return {p: c for p, (on, c) in found.items() if on and p in SYNCED_PROVIDERS}


async def due(settings: Settings, now: datetime) -> list[UUID]:
    """The mailboxes due for a pass at `now`, oldest pass first."""
    known = cadences(settings)
    rows = await (
        Mailbox.filter(provider__in=list(known))
        .exclude(status=MailboxStatus.NEEDS_REAUTH)
        .order_by("last_synced_at", "id")
        .values_list("id", "provider", "failures", "last_synced_at", "last_error_at")
    )
    found = []
    for mailbox_id, provider, failures, synced_at, error_at in rows:
        since = error_at if failures and error_at is not None else synced_at
        wait = known[Provider(provider)].wait(failures)
        if since is None or now >= since + timedelta(seconds=wait):
            found.append(UUID(str(mailbox_id)))
    return found


async def queued(app: procrastinate.App) -> set[str]:
    """The locks of the mailboxes whose sync job waits or runs."""
    rows = await app.connector.execute_query_all_async(
        "SELECT lock FROM procrastinate_jobs"
        " WHERE task_name = %(task)s AND status IN ('todo', 'doing')",
        task=SYNC,
    )
    return {row["lock"] for row in rows}


async def defer_sync(app: procrastinate.App, mailbox_id: UUID) -> int | None:
    """Ask for a pass of the mailbox; None when one is waiting already."""
    lock = mailbox_lock(mailbox_id)
    try:
        return await app.configure_task(SYNC, lock=lock, queueing_lock=lock).defer_async(
            mailbox_id=str(mailbox_id), deferred_at=time.time()
        )
    except AlreadyEnqueued:
        return None


async def defer_due(app: procrastinate.App, settings: Settings, now: datetime) -> int:
    """Defer a pass of every mailbox due at `now` that has none waiting or running; how many."""
    busy = await queued(app)
    deferred = 0
    for mailbox_id in await due(settings, now):
        if mailbox_lock(mailbox_id) not in busy and await defer_sync(app, mailbox_id):
            deferred += 1
    return deferred
