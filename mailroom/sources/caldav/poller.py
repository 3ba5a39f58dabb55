"""Keeping CalDAV mailboxes in sync: one supervised task per mailbox, as for Gmail and Graph
(`sources/supervision.py`: lease, states, backoff, NEEDS_REAUTH on a refused login), a pass
every `calendar_poll_seconds`. A pass holds no connection between passes; the cursors let
the next one go on where a failed one stopped.
"""

from __future__ import annotations

import logging
import time
from uuid import UUID

from mailroom.models import CalendarCursor, Mailbox, MailboxStatus, Provider
from mailroom.settings import Settings
from mailroom.sources import supervision
from mailroom.sources.caldav.account import account_of, calendar_rules
from mailroom.sources.caldav.client import CalDavClient
from mailroom.sources.caldav.sync import CalDavSync, CalendarPass

log = logging.getLogger(__name__)
PROVIDER = Provider.CALDAV.value  # the metrics' label


class CalDavMailboxSync:
    """Syncs one CalDAV mailbox: `once` for a single pass, `forever` supervised."""

    def __init__(self, mailbox_id: UUID, settings: Settings) -> None:
        self.mailbox_id = mailbox_id
        self.settings = settings

    async def once(self) -> CalendarPass:
        """One pass; errors are recorded on the mailbox and raised."""
        return await supervision.once(self.mailbox_id, self._pass, provider=PROVIDER, log=log)

    async def forever(self) -> None:
        await supervision.keep_synced(
            self.mailbox_id,
            self._pass,
            provider=PROVIDER,
            poll_seconds=self.settings.calendar_poll_seconds,
            max_backoff=self.settings.caldav_max_backoff,
            log=log,
        )

    async def _pass(self, mailbox: Mailbox) -> CalendarPass:
        started = time.monotonic()
        first = not await CalendarCursor.filter(mailbox_id=mailbox.id).exists()
        if first and mailbox.status is not MailboxStatus.SYNCING:
            await supervision.set_status(mailbox, MailboxStatus.SYNCING)
        account = account_of(self.settings, mailbox)
        async with CalDavClient(account, timeout=self.settings.caldav_timeout) as client:
            sync = CalDavSync(
                mailbox,
                client,
                calendar_rules(self.settings),
                beat=lambda: supervision.lease(mailbox),
            )
            done = await sync.run()
        await supervision.succeeded(mailbox)
        events = done.events
        supervision.synced(
            log,
            PROVIDER,
            mailbox,
            started,
            changed=first or done.changed,
            calendars=done.calendars,
            new=events.new,
            updated=events.updated,
            removed=events.removed,
            deleted=events.deleted,
            private=events.private or None,
            fetched=done.fetched,
            unreadable=done.unreadable or None,
            resynced=done.resynced or None,
        )
        return done


class CalDavPoller(supervision.Poller):
    """Every CalDAV mailbox of the database, each synced by its own task."""

    def __init__(self, settings: Settings, look_every: float = 15.0) -> None:
        super().__init__(Provider.CALDAV, look_every)
        self.settings = settings

    def supervisor(self, mailbox_id: UUID) -> CalDavMailboxSync:
        return CalDavMailboxSync(mailbox_id, self.settings)
