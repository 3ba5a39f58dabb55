"""Keeping Microsoft 365 mailboxes in sync: one supervised task per mailbox, as for IMAP and
Gmail (`sources/supervision.py`: lease, states, backoff), following the folders' delta links
every `graph_poll_seconds` once caught up. A pass holds no connection between requests, so a
restart, a lost lease or a refused grant costs nothing but the pass under way.

With `calendar_enabled`, a pass then syncs the mailbox's default calendar (`calendar`), every
`calendar_poll_seconds` (on request, each time), through the same client and so within the
same 4 requests at once. The mail is stored by then: a calendar that fails is logged and
retried on a later pass, and neither fails the pass nor undoes its mail.
"""

from __future__ import annotations

import logging
import time
from uuid import UUID

from mailroom import logs
from mailroom.errors import SyncError
from mailroom.intake import Intake
from mailroom.models import Mailbox, MailboxStatus, Provider
from mailroom.oauth.tokens import AccessTokens
from mailroom.settings import Settings
from mailroom.sources import supervision
from mailroom.sources.graph.calendar import CalendarPass, GraphCalendarSync, calendar_due
from mailroom.sources.graph.client import GraphClient
from mailroom.sources.graph.sync import GraphSync, Pass, first_sync_due
from mailroom.sources.tokens import MailboxTokens

log = logging.getLogger(__name__)
PROVIDER = Provider.MICROSOFT.value  # the metrics' label


class GraphMailboxSync:
    """Syncs one Microsoft 365 mailbox: `once` for a single pass, `forever` supervised."""

    def __init__(self, mailbox_id: UUID, settings: Settings, intake: Intake) -> None:
        self.mailbox_id = mailbox_id
        self.settings = settings
        self.intake = intake
        self.tokens = AccessTokens(settings)

    async def once(self) -> Pass:
        """One pass, the calendar's included; errors are recorded on the mailbox and
        raised."""
        return await supervision.once(self.mailbox_id, self._requested, provider=PROVIDER, log=log)

    async def forever(self) -> None:
        await supervision.keep_synced(
            self.mailbox_id,
            self._pass,
            provider=PROVIDER,
            poll_seconds=self.settings.graph_poll_seconds,
            max_backoff=self.settings.graph_max_backoff,
            log=log,
        )

    async def _requested(self, mailbox: Mailbox) -> Pass:
        return await self._pass(mailbox, eager=True)

    async def _pass(self, mailbox: Mailbox, eager: bool = False) -> Pass:
        started = time.monotonic()
        first = first_sync_due(mailbox.cursor)
        if first and mailbox.status is not MailboxStatus.SYNCING:
            await supervision.set_status(mailbox, MailboxStatus.SYNCING)
        tokens = MailboxTokens(self.tokens, mailbox)
        async with GraphClient(self.settings, tokens) as client:
            sync = GraphSync(mailbox, client, self.intake, beat=lambda: supervision.lease(mailbox))
            done = await sync.run()
            # The mail is synced, whatever the calendar then does.
            await supervision.succeeded(mailbox)
            calendar = await self._calendar(mailbox, client, eager)
            usage = client.usage
        report = done.report
        events = calendar.report if calendar else None
        supervision.synced(
            log,
            PROVIDER,
            mailbox,
            started,
            changed=bool(
                first
                or report.new
                or report.duplicate
                or done.removed
                or (calendar and calendar.changed)
            ),
            new=report.new,
            duplicate=report.duplicate,
            failed=report.failed or None,
            removed=done.removed,
            skipped=done.skipped or None,
            events_new=events.new if events else None,
            events_updated=events.updated if events else None,
            events_removed=events.removed if events else None,
            requests=usage.requests,
            throttled=usage.throttled or None,
        )
        return done

    async def _calendar(
        self, mailbox: Mailbox, client: GraphClient, eager: bool
    ) -> CalendarPass | None:
        """The calendar's pass when one is due; None when none ran or it failed (logged)."""
        if not self.settings.calendar_enabled:
            return None
        try:
            if not eager and not await calendar_due(
                mailbox.id, self.settings.calendar_poll_seconds
            ):
                return None
            sync = GraphCalendarSync(
                mailbox, client, self.settings, beat=lambda: supervision.lease(mailbox)
            )
            return await sync.run()
        except SyncError as error:
            log.warning(
                "calendar sync failed",
                extra=logs.fields(
                    error,
                    mailbox=mailbox.address,
                    calendar="default",
                    reason=supervision.reason(error),
                    error=str(error),
                ),
            )
        except Exception:  # noqa: BLE001 - a bug or a database outage: the next pass retries
            log.exception(
                "calendar sync failed unexpectedly",
                extra=logs.fields(mailbox=mailbox.address, calendar="default"),
            )
        return None


class GraphPoller(supervision.Poller):
    """Every Microsoft 365 mailbox of the database, each synced by its own task."""

    def __init__(self, settings: Settings, intake: Intake, look_every: float = 15.0) -> None:
        super().__init__(Provider.MICROSOFT, look_every)
        self.settings = settings
        self.intake = intake

    def supervisor(self, mailbox_id: UUID) -> GraphMailboxSync:
        return GraphMailboxSync(mailbox_id, self.settings, self.intake)
