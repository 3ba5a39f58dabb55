"""Syncing and reconciling one connected mailbox on request (`mailroom mailbox sync` and
`reconcile`), whatever its provider: the command line asks here, and this picks the source.
`serve` keeps mailboxes in sync with the pollers instead (`bootstrap`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from mailroom.errors import InvalidInputError
from mailroom.intake import Intake
from mailroom.intake.events import EventReport
from mailroom.intake.port import IngestReport
from mailroom.models import Mailbox, Provider
from mailroom.settings import Settings
from mailroom.sources import supervision
from mailroom.sources.reconciliation import Reconciliation
from mailroom.workspace.mailboxes import SYNCED_PROVIDERS


@dataclass(frozen=True, slots=True)
class Synced:
    report: IngestReport
    removed: int  # copies removed: deleted at the provider, or moved out of what is synced
    events: EventReport | None = None  # a calendar mailbox's (CalDAV) pass


async def sync_mailbox(settings: Settings, mailbox: Mailbox, intake: Intake) -> Synced:
    """One pass, to completion; errors are recorded on the mailbox and raised.

    First what an earlier run of this mailbox stored and did not process (it was killed):
    `serve` takes that up when it starts, and so does a pass run on its own, or the sync
    would look for those messages as if they were not there.

    A pass renews the mailbox's lease as it goes; this one gives it up when it ends, or a
    `serve` poller or a job worker would keep off the mailbox until it ran out."""
    try:
        return await _one_pass(settings, mailbox, intake)
    finally:
        await supervision.release(mailbox.id, supervision.lease_owner.get())


async def _one_pass(settings: Settings, mailbox: Mailbox, intake: Intake) -> Synced:
    if mailbox.provider is Provider.CALDAV:
        from mailroom.sources.caldav import CalDavMailboxSync

        calendars = await CalDavMailboxSync(mailbox.id, settings).once()
        return Synced(IngestReport(), 0, calendars.events)
    syncable(mailbox, mail=True)
    report = await intake.replay(mailbox_id=mailbox.id)
    if mailbox.provider is Provider.IMAP:
        from mailroom.sources.imap.poller import MailboxSync

        report.merge(await MailboxSync(mailbox.id, settings, intake).once())
        return Synced(report, 0)
    if mailbox.provider is Provider.GMAIL:
        from mailroom.sources.gmail.poller import GmailMailboxSync

        done = await GmailMailboxSync(mailbox.id, settings, intake).once()
        report.merge(done.report)
        return Synced(report, done.removed)
    from mailroom.sources.graph.poller import GraphMailboxSync

    graph = await GraphMailboxSync(mailbox.id, settings, intake).once()
    report.merge(graph.report)
    return Synced(report, graph.removed)


async def reconcile_mailbox(
    settings: Settings, mailbox: Mailbox, intake: Intake, *, repair: bool = False
) -> Reconciliation:
    """What the provider holds against what is stored; kept on the mailbox for the API."""
    syncable(mailbox, mail=True)
    if mailbox.provider is Provider.IMAP:
        from mailroom.sources.imap.accounts import connection_of, imap_password
        from mailroom.sources.imap.client import ImapSession
        from mailroom.sources.imap.meter import SessionLimits
        from mailroom.sources.imap.reconcile import reconcile_imap

        session = await ImapSession.open(
            connection_of(mailbox), imap_password(settings, mailbox), SessionLimits.of(settings)
        )
        try:
            found = await reconcile_imap(mailbox, session, intake, repair=repair)
        finally:
            await session.close()
    elif mailbox.provider is Provider.GMAIL:
        from mailroom.oauth.tokens import AccessTokens
        from mailroom.sources.gmail.client import GmailClient
        from mailroom.sources.gmail.sync import GmailSync
        from mailroom.sources.tokens import MailboxTokens

        tokens = MailboxTokens(AccessTokens(settings), mailbox)
        async with GmailClient(settings, tokens) as client:
            found = await GmailSync(mailbox, client, intake).reconcile(repair=repair)
    else:
        from mailroom.oauth.tokens import AccessTokens
        from mailroom.sources.graph.client import GraphClient
        from mailroom.sources.graph.sync import GraphSync
        from mailroom.sources.tokens import MailboxTokens

        tokens = MailboxTokens(AccessTokens(settings), mailbox)
        async with GraphClient(settings, tokens) as graph:
            found = await GraphSync(mailbox, graph, intake).reconcile(repair=repair)
    mailbox.reconciliation = found.to_json(datetime.now(UTC))
    await mailbox.save(update_fields=["reconciliation"])
    return found


def syncable(mailbox: Mailbox, *, mail: bool = False) -> None:
    """Raise InvalidInputError unless the mailbox is synced from a provider (and, with `mail`,
    holds mail: a reconciliation compares messages)."""
    if mail and mailbox.provider is Provider.CALDAV:
        raise InvalidInputError(
            f"{mailbox.address} is a caldav mailbox: it holds calendars, no mail to reconcile",
            mailbox=mailbox.address,
        )
    if mailbox.provider not in SYNCED_PROVIDERS:
        raise InvalidInputError(
            f"{mailbox.address} is a {mailbox.provider.value.lower()} mailbox, which is not "
            "synced from a provider",
            mailbox=mailbox.address,
        )
