"""Keeping Microsoft 365 mailboxes in sync: one supervised task per mailbox, as for IMAP and
Gmail (`sources/supervision.py`: lease, states, backoff), following the folders' delta links
every `graph_poll_seconds` once caught up. A pass holds no connection between requests, so a
restart, a lost lease or a refused grant costs nothing but the pass under way.
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
        """One pass; errors are recorded on the mailbox and raised."""
        return await supervision.once(self.mailbox_id, self._pass, provider=PROVIDER, log=log)

    async def forever(self) -> None:
        await supervision.keep_synced(
            self.mailbox_id,
            self._pass,
            provider=PROVIDER,
            poll_seconds=self.settings.graph_poll_seconds,
            max_backoff=self.settings.graph_max_backoff,
            log=log,
        )

    async def _pass(self, mailbox: Mailbox) -> Pass:
        started = time.monotonic()
        first = first_sync_due(mailbox.cursor)
        if first and mailbox.status is not MailboxStatus.SYNCING:
            await supervision.set_status(mailbox, MailboxStatus.SYNCING)
        tokens = MailboxTokens(self.tokens, mailbox)
        async with GraphClient(self.settings, tokens) as client:
            sync = GraphSync(mailbox, client, self.intake, beat=lambda: supervision.lease(mailbox))
            done = await sync.run()
            usage = client.usage
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
            throttled=usage.throttled or None,
        )
        return done


class GraphPoller(supervision.Poller):
    """Every Microsoft 365 mailbox of the database, each synced by its own task."""

    def __init__(self, settings: Settings, intake: Intake, look_every: float = 15.0) -> None:
        super().__init__(Provider.MICROSOFT, look_every)
        self.settings = settings
        self.intake = intake

    def supervisor(self, mailbox_id: UUID) -> GraphMailboxSync:
        return GraphMailboxSync(mailbox_id, self.settings, self.intake)
