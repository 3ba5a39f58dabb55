"""Keeping IMAP mailboxes in sync: one supervised task per mailbox.

A mailbox moves through PENDING (never synced) -> SYNCING (first sync under way) -> ACTIVE
(caught up). Each error class has one response: a transient failure retries with exponential
backoff and jitter (FAILED after repeated failures, still retrying slowly); a refused login
stops the mailbox in NEEDS_REAUTH until `mailroom mailbox reconnect` succeeds; a pass that
takes longer than `imap_stuck_after` is abandoned and restarted. Once caught up, the mailbox
waits in IDLE on the inbox (renewed before RFC 2177's 29 minutes) where the server offers it,
so new mail is stored within seconds, and polls every folder on an interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from uuid import UUID

from mailroom import logs
from mailroom.intake import Intake
from mailroom.intake.port import IngestReport
from mailroom.models import FolderCursor, Mailbox, MailboxStatus, Provider
from mailroom.settings import Settings
from mailroom.sources import supervision
from mailroom.sources.imap.accounts import connection_of, imap_password
from mailroom.sources.imap.client import ImapSession
from mailroom.sources.imap.errors import AuthError, SyncError, TransientError
from mailroom.sources.imap.folders import Folder, choose_folders
from mailroom.sources.imap.meter import SessionLimits
from mailroom.sources.imap.sync import FolderSync

log = logging.getLogger(__name__)
PROVIDER = Provider.IMAP.value  # the metrics' label


class MailboxSync:
    """Syncs one mailbox: `once` for a single pass, `forever` for the supervised loop."""

    def __init__(self, mailbox_id: UUID, settings: Settings, intake: Intake) -> None:
        self.mailbox_id = mailbox_id
        self.settings = settings
        self.intake = intake
        # Halved after each dropped connection, doubled back after each clean pass: a link that
        # breaks in the middle of large FETCHes still gets whole (smaller) batches through.
        self.batch_size = settings.imap_batch_size

    async def once(self) -> IngestReport:
        """Connect, sync every folder to completion, disconnect. Errors are recorded on the
        mailbox and raised."""
        mailbox = await Mailbox.get(id=self.mailbox_id)
        try:
            session = await self._connect(mailbox)
            try:
                return await self._pass(mailbox, session)
            finally:
                await session.close()
        except SyncError as error:
            await self._failed(mailbox, error)
            raise

    async def forever(self) -> None:
        while True:
            mailbox = await Mailbox.get_or_none(id=self.mailbox_id)
            if mailbox is None or mailbox.status is MailboxStatus.NEEDS_REAUTH:
                return
            if not await supervision.lease(mailbox):
                await asyncio.sleep(supervision.LEASE.total_seconds() / 2)  # another process has it
                continue
            try:
                await self._connected(mailbox)
            except AuthError as error:
                await self._failed(mailbox, error)
                return
            except SyncError as error:
                if isinstance(error, TransientError):
                    self.batch_size = max(1, self.batch_size // 2)
                await self._failed(mailbox, error)
                await asyncio.sleep(self._backoff(mailbox.failures))
            except Exception as error:  # noqa: BLE001 - a bug or a database outage: retry
                log.exception(
                    "sync failed unexpectedly", extra=logs.fields(mailbox=mailbox.address)
                )
                await self._failed(mailbox, TransientError(f"{type(error).__name__}: {error}"))
                await asyncio.sleep(self._backoff(mailbox.failures))

    async def _connected(self, mailbox: Mailbox) -> None:
        session = await self._connect(mailbox)
        try:
            while True:
                await self._pass(mailbox, session)
                await self._wait(mailbox, session)
        finally:
            await session.close()

    def _folder_sync(self, mailbox: Mailbox, session: ImapSession) -> FolderSync:
        return FolderSync(
            mailbox,
            session,
            self.intake,
            self.batch_size,
            qresync=session.qresync_enabled,
            batch_bytes=self.settings.imap_batch_bytes,
        )

    async def _connect(self, mailbox: Mailbox) -> ImapSession:
        # Resolved and vetted again on every connection: where the host points may change.
        return await ImapSession.open(
            connection_of(mailbox),
            imap_password(self.settings, mailbox),
            SessionLimits.of(self.settings),
        )

    async def _pass(self, mailbox: Mailbox, session: ImapSession) -> IngestReport:
        """Sync every chosen folder once. A pass that hangs past `imap_stuck_after` has its
        connection broken by a watchdog, which fails the blocked call like any dropped
        connection; cancelling the pass instead could cut a database transaction in half."""
        limit = self.settings.imap_stuck_after
        watchdog = asyncio.get_running_loop().call_later(
            limit, session.abort, f"a sync pass took longer than {limit:g} s"
        )
        try:
            return await self._sync_folders(mailbox, session)
        finally:
            watchdog.cancel()

    async def _sync_folders(self, mailbox: Mailbox, session: ImapSession) -> IngestReport:
        started = time.monotonic()
        folders = choose_folders(await session.folders())
        first = not await FolderCursor.filter(mailbox_id=mailbox.id, low_uid=1).exists()
        if first and mailbox.status is not MailboxStatus.SYNCING:
            await supervision.set_status(mailbox, MailboxStatus.SYNCING)
        if not session.qresync_enabled:
            await session.enable_qresync()
        sync = self._folder_sync(mailbox, session)
        report = IngestReport()
        for folder in folders:
            report.merge(await sync.run(folder))
            await supervision.lease(mailbox)
        self.batch_size = min(self.settings.imap_batch_size, self.batch_size * 2)
        await supervision.succeeded(mailbox)
        _synced(mailbox, [f.name for f in folders], report, sync.removed, started, first=first)
        return report

    async def _wait(self, mailbox: Mailbox, session: ImapSession) -> None:
        """Until there may be new mail: IDLE on the inbox where offered, else the interval."""
        interval = self.settings.imap_poll_interval
        inbox = next(
            (f for f in choose_folders(await session.folders()) if f.role == "inbox"), None
        )
        if not session.has("IDLE") or inbox is None:
            await asyncio.sleep(interval)
            return
        await session.select(inbox.name)
        deadline = asyncio.get_running_loop().time() + interval
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            if await session.idle(min(left, self.settings.imap_idle_renew)):
                started = time.monotonic()
                sync = self._folder_sync(mailbox, session)
                report = await sync.run(Folder(inbox.name, "inbox"))
                _synced(mailbox, [inbox.name], report, sync.removed, started)
                await session.select(inbox.name)
            await supervision.lease(mailbox)

    async def _failed(self, mailbox: Mailbox, error: SyncError) -> None:
        await supervision.failed(mailbox, error, PROVIDER, log)

    def _backoff(self, failures: int) -> float:
        return supervision.backoff(failures, self.settings.imap_max_backoff)


def _synced(
    mailbox: Mailbox,
    folders: list[str],
    report: IngestReport,
    removed: int,
    started: float,
    *,
    first: bool = False,
) -> None:
    supervision.synced(
        log,
        PROVIDER,
        mailbox,
        started,
        changed=bool(first or report.new or report.duplicate or report.failed or removed),
        folders=",".join(folders),
        new=report.new,
        duplicate=report.duplicate,
        failed=report.failed or None,
        removed=removed,
    )


class ImapPoller(supervision.Poller):
    """Every IMAP mailbox of the database, each synced by its own task."""

    def __init__(self, settings: Settings, intake: Intake, look_every: float = 15.0) -> None:
        super().__init__(Provider.IMAP, look_every)
        self.settings = settings
        self.intake = intake

    def supervisor(self, mailbox_id: UUID) -> MailboxSync:
        return MailboxSync(mailbox_id, self.settings, self.intake)
