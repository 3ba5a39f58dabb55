"""What every synced mailbox's supervisor does, whatever its provider (IMAP, Gmail, ...): hold
a lease so that one process syncs it, record a failure and the state it leads to, back off
before retrying, and count and log each pass.

A mailbox moves through PENDING (never synced) -> SYNCING (first sync under way) -> ACTIVE
(caught up). A refused login or a revoked grant stops it in NEEDS_REAUTH until it is
reconnected; repeated failures make it FAILED, still retried slowly.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar
from uuid import UUID

from tortoise.expressions import Q

from mailroom import logs
from mailroom.errors import AuthError, ProtocolError, SyncError, TransientError
from mailroom.metrics import SYNC_PASS_SECONDS, SYNC_PASSES
from mailroom.models import Mailbox, MailboxStatus, Provider
from mailroom.models.bulk import uuids

FAILED_AFTER = 8  # consecutive failures
LEASE = timedelta(minutes=2)
OWNER = f"{socket.gethostname()}:{os.getpid()}"
# Who takes a lease in this context: the process, for `serve`'s pollers; in `mailroom worker`,
# the job (jobs/tasks.py), so that a job taken up again after its worker was killed holds the
# lease its first run took, wherever it runs now.
lease_owner: ContextVar[str] = ContextVar("lease_owner", default=OWNER)
_log = logging.getLogger(__name__)
T = TypeVar("T")


async def lease(mailbox: Mailbox) -> bool:
    """Take or renew this process's lease on the mailbox; False if another process holds it."""
    now, owner = datetime.now(UTC), lease_owner.get()
    taken = await Mailbox.filter(
        Q(id=mailbox.id)
        & (Q(lease_until__isnull=True) | Q(lease_until__lt=now) | Q(lease_owner=owner))
    ).update(lease_owner=owner, lease_until=now + LEASE)
    return bool(taken)


async def take_over(mailbox: Mailbox, holder: str) -> bool:
    """Take the lease from `holder`, known to be gone; False if someone else took it first."""
    now, owner = datetime.now(UTC), lease_owner.get()
    taken = await Mailbox.filter(id=mailbox.id, lease_owner=holder).update(
        lease_owner=owner, lease_until=now + LEASE
    )
    return bool(taken)


async def release(mailbox_id: UUID, owner: str) -> None:
    """Give up `owner`'s lease on the mailbox, if it still holds it."""
    await Mailbox.filter(id=mailbox_id, lease_owner=owner).update(
        lease_owner=None, lease_until=None
    )


async def set_status(mailbox: Mailbox, status: MailboxStatus) -> None:
    mailbox.status = status
    await mailbox.save(update_fields=["status"])


async def succeeded(mailbox: Mailbox) -> None:
    mailbox.status, mailbox.failures = MailboxStatus.ACTIVE, 0
    mailbox.last_synced_at = datetime.now(UTC)
    await mailbox.save(update_fields=["status", "failures", "last_synced_at"])


async def failed(mailbox: Mailbox, error: SyncError, provider: str, log: logging.Logger) -> None:
    """Record a failed pass on the mailbox: NEEDS_REAUTH for a refused login or grant, FAILED
    after FAILED_AFTER in a row; counted and logged with the reason."""
    mailbox.failures += 1
    mailbox.last_error = str(error)[:2000]
    mailbox.last_error_at = datetime.now(UTC)
    if isinstance(error, AuthError):
        mailbox.status = MailboxStatus.NEEDS_REAUTH
    elif mailbox.failures >= FAILED_AFTER:
        mailbox.status = MailboxStatus.FAILED
    await mailbox.save(update_fields=["failures", "last_error", "last_error_at", "status"])
    SYNC_PASSES.labels(provider, reason(error)).inc()
    log.warning(
        "sync failed",
        extra=logs.fields(
            error,
            mailbox=mailbox.address,
            reason=reason(error),
            error=str(error),
            status=mailbox.status.value,
            failures=mailbox.failures,
        ),
    )


def reason(error: SyncError) -> str:
    """The class of a sync error by what is done about it, for logs and metrics: auth,
    protocol, transient (or error, for a SyncError of no class)."""
    if isinstance(error, AuthError):
        return "auth"
    if isinstance(error, ProtocolError):
        return "protocol"
    return "transient" if isinstance(error, TransientError) else "error"


def backoff(failures: int, ceiling: float) -> float:
    """Exponential, capped, with full jitter so that many mailboxes do not retry in step."""
    top = min(ceiling, 2.0 ** min(failures, 20))
    return random.uniform(top / 2, top)


def synced(
    log: logging.Logger,
    provider: str,
    mailbox: Mailbox,
    started: float,
    *,
    changed: bool,
    **counts: Any,
) -> None:
    """Count a pass and log it: at INFO when it changed something (or was the first), at DEBUG
    otherwise, since every mailbox is looked at every poll interval."""
    seconds = time.monotonic() - started
    SYNC_PASSES.labels(provider, "ok").inc()
    SYNC_PASS_SECONDS.labels(provider).observe(seconds)
    line = logs.fields(
        mailbox=mailbox.address,
        **counts,
        seconds=round(seconds, 3),
        status=mailbox.status.value,
    )
    log.log(logging.INFO if changed else logging.DEBUG, "synced", extra=line)


async def once(
    mailbox_id: UUID,
    one_pass: Callable[[Mailbox], Awaitable[T]],
    *,
    provider: str,
    log: logging.Logger,
) -> T:
    """One pass of a mailbox synced by passes, on request (`mailroom mailbox sync`): a
    failure is recorded on the mailbox, as the supervised loop records it, and raised."""
    mailbox = await Mailbox.get(id=mailbox_id)
    try:
        return await one_pass(mailbox)
    except SyncError as error:
        await failed(mailbox, error, provider, log)
        raise


async def keep_synced(
    mailbox_id: UUID,
    one_pass: Callable[[Mailbox], Awaitable[object]],
    *,
    provider: str,
    poll_seconds: float,
    max_backoff: float,
    log: logging.Logger,
) -> None:
    """The supervised loop of a mailbox synced by passes (Gmail, Graph): hold the lease, run
    `one_pass`, wait `poll_seconds`; a failure is recorded and backed off from, a refused
    grant ends the loop (the poller starts a new one once the mailbox is reconnected)."""
    while True:
        mailbox = await Mailbox.get_or_none(id=mailbox_id)
        if mailbox is None or mailbox.status is MailboxStatus.NEEDS_REAUTH:
            return
        if not await lease(mailbox):
            await asyncio.sleep(LEASE.total_seconds() / 2)  # another process has it
            continue
        try:
            await one_pass(mailbox)
        except AuthError as error:
            await failed(mailbox, error, provider, log)
            return
        except SyncError as error:
            await failed(mailbox, error, provider, log)
            await asyncio.sleep(backoff(mailbox.failures, max_backoff))
            continue
        except Exception as error:  # noqa: BLE001 - a bug or a database outage: retry
            log.exception("sync failed unexpectedly", extra=logs.fields(mailbox=mailbox.address))
            await failed(mailbox, TransientError(f"{type(error).__name__}: {error}"), provider, log)
            await asyncio.sleep(backoff(mailbox.failures, max_backoff))
            continue
        await asyncio.sleep(poll_seconds)


class Supervised(Protocol):
    async def forever(self) -> None: ...


class Poller:
    """Every mailbox of one provider, each synced by its own task (`supervisor` makes it);
    new and reconnected mailboxes are picked up on the next look."""

    def __init__(self, provider: Provider, look_every: float = 15.0) -> None:
        self.provider = provider
        self.look_every = look_every
        self._tasks: dict[UUID, asyncio.Task[None]] = {}
        self._looking: asyncio.Task[None] | None = None

    def supervisor(self, mailbox_id: UUID) -> Supervised:
        raise NotImplementedError

    def start(self) -> None:
        name = f"{self.provider.value.lower()}-poller"
        self._looking = asyncio.create_task(self._look(), name=name)

    @property
    def running(self) -> bool:
        """Looking for mailboxes and syncing them: started and not stopped."""
        return self._looking is not None and not self._looking.done()

    async def stop(self) -> None:
        tasks = [*self._tasks.values(), *([self._looking] if self._looking else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._looking = None

    async def _look(self) -> None:
        while True:
            try:
                await self._start_new()
            except Exception:  # noqa: BLE001 - the next look tries again
                _log.exception("looking for %s mailboxes failed", self.provider.value)
            await asyncio.sleep(self.look_every)

    async def _start_new(self) -> None:
        ids = await uuids(
            Mailbox.filter(provider=self.provider)
            .exclude(status=MailboxStatus.NEEDS_REAUTH)
            .values_list("id", flat=True)
        )
        for mailbox_id in ids:
            task = self._tasks.get(mailbox_id)
            if task is None or task.done():
                name = f"{self.provider.value.lower()}-{mailbox_id}"
                self._tasks[mailbox_id] = asyncio.create_task(
                    self.supervisor(mailbox_id).forever(), name=name
                )
