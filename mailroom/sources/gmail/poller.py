"""Keeping Gmail mailboxes in sync: one supervised task per mailbox, as for IMAP
(`sources/supervision.py`: lease, states, backoff), polling history.list every
`gmail_poll_seconds` once caught up. A pass holds no connection between requests, so a
restart, a lost lease or a refused grant costs nothing but the pass under way, which the
cursor lets the next one continue. After the mail, a pass syncs the account's calendar when
it is due (`sources.google_calendar.mailbox`), whose failures stay its own.
"""

from __future__ import annotations

import logging
import time
from uuid import UUID

from mailroom.intake import Intake
from mailroom.models import Mailbox, MailboxStatus, Provider
from mailroom.oauth.tokens import AccessTokens
from mailroom.settings import Settings
from mailroom.sources import supervision
from mailroom.sources.gmail.client import GmailClient
from mailroom.sources.gmail.quota import QuotaBucket
from mailroom.sources.gmail.sync import GmailSync, Pass
from mailroom.sources.google_calendar.mailbox import sync_mailbox_calendar
from mailroom.sources.tokens import MailboxTokens

log = logging.getLogger(__name__)
PROVIDER = Provider.GMAIL.value  # the metrics' label


class GmailMailboxSync:
    """Syncs one Gmail mailbox: `once` for a single pass, `forever` for the supervised loop."""

    def __init__(self, mailbox_id: UUID, settings: Settings, intake: Intake) -> None:
        self.mailbox_id = mailbox_id
        self.settings = settings
        self.intake = intake
        self.tokens = AccessTokens(settings)
        # One bucket for the mailbox across passes: a pass that starts again after a failure
        # must not start with a full bucket and spend the user's minute twice.
        self.quota = QuotaBucket.for_minute(settings.gmail_quota_per_minute)

    async def once(self) -> Pass:
        """One pass; errors are recorded on the mailbox and raised."""

        async def on_request(mailbox: Mailbox) -> Pass:
            return await self._pass(mailbox, on_request=True)

        return await supervision.once(self.mailbox_id, on_request, provider=PROVIDER, log=log)

    async def forever(self) -> None:
        await supervision.keep_synced(
            self.mailbox_id,
            self._pass,
            provider=PROVIDER,
            poll_seconds=self.settings.gmail_poll_seconds,
            max_backoff=self.settings.gmail_max_backoff,
            log=log,
        )

    async def _pass(self, mailbox: Mailbox, *, on_request: bool = False) -> Pass:
        started = time.monotonic()
        first = not (mailbox.cursor or {}).get("history_id") or "listing" in (mailbox.cursor or {})
        if first and mailbox.status is not MailboxStatus.SYNCING:
            await supervision.set_status(mailbox, MailboxStatus.SYNCING)
        tokens = MailboxTokens(self.tokens, mailbox)
        async with GmailClient(self.settings, tokens, quota=self.quota) as client:
            sync = GmailSync(mailbox, client, self.intake, beat=lambda: supervision.lease(mailbox))
            done = await sync.run()
            usage = client.usage
        await sync_mailbox_calendar(
            mailbox,
            self.settings,
            tokens,
            on_request=on_request,
            beat=lambda: supervision.lease(mailbox),
        )
        await supervision.succeeded(mailbox)
        report = done.report
        supervision.synced(
            log,
            PROVIDER,
            mailbox,
            started,
            changed=bool(first or report.new or report.duplicate or done.removed),
            new=report.new,
            duplicate=report.duplicate,
            failed=report.failed or None,
            removed=done.removed,
            skipped=done.skipped or None,
            requests=usage.requests,
            units=usage.units,
        )
        return done


class GmailPoller(supervision.Poller):
    """Every Gmail mailbox of the database, each synced by its own task."""

    def __init__(self, settings: Settings, intake: Intake, look_every: float = 15.0) -> None:
        super().__init__(Provider.GMAIL, look_every)
        self.settings = settings
        self.intake = intake

    def supervisor(self, mailbox_id: UUID) -> GmailMailboxSync:
        return GmailMailboxSync(mailbox_id, self.settings, self.intake)
