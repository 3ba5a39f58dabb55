"""The calendar of a Gmail mailbox, synced after its mail: in each pass of `serve`'s Gmail
poller once `calendar_poll_seconds` have passed since it was last synced (or it is part way
through), and in every `mailroom mailbox sync`; never when `calendar_enabled` is off.

The mail comes first and stays whatever happens to the calendar: a calendar failure is logged,
counted and recorded on the mailbox (`last_error`, starting "calendar:"), whose status stays
what its mail made it (ACTIVE: the mail is in sync); the calendar is tried again
`calendar_poll_seconds` later. One failure is not the calendar's alone: a grant that is gone,
raised as the AuthError it is, stops the mailbox until it is reconnected, as for its mail.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from mailroom import logs
from mailroom.errors import AuthError, SyncError, TransientError
from mailroom.metrics import SYNC_PASSES
from mailroom.models import CalendarCursor, Mailbox
from mailroom.settings import Settings
from mailroom.sources import supervision
from mailroom.sources.google_calendar.client import GoogleCalendarClient
from mailroom.sources.google_calendar.errors import CalendarRefused
from mailroom.sources.google_calendar.sync import CALENDAR, CalendarPass, GoogleCalendarSync
from mailroom.sources.tokens import TokenSource

log = logging.getLogger(__name__)
PROVIDER = "GOOGLE_CALENDAR"  # the metrics' label
FAILED = "calendar: "  # how the mailbox's last_error says it is the calendar's
UNFINISHED = ("listing", "page_token", "extending", "sweep")


async def sync_mailbox_calendar(
    mailbox: Mailbox,
    settings: Settings,
    tokens: TokenSource,
    *,
    on_request: bool = False,
    beat: Callable[[], Awaitable[object]] | None = None,
) -> CalendarPass | None:
    """A pass over the primary calendar of `mailbox` (a Gmail one) when it is due, or always
    `on_request`; None when none ran or it failed (see the module's docstring)."""
    if not settings.calendar_enabled or not (on_request or await _due(mailbox, settings)):
        return None
    started = time.monotonic()
    try:
        async with GoogleCalendarClient(settings, tokens) as client:
            sync = GoogleCalendarSync(
                mailbox,
                client,
                days_back=settings.calendar_days_back,
                days_ahead=settings.calendar_days_ahead,
                max_attendees=settings.calendar_max_attendees,
                beat=beat,
            )
            done = await sync.run()
    except CalendarRefused as error:
        await _failed(mailbox, error)
        return None
    except AuthError:
        raise
    except SyncError as error:
        await _failed(mailbox, error)
        return None
    except Exception as error:  # noqa: BLE001 - a bug or a database outage: the mail stands
        log.exception("calendar sync failed unexpectedly", extra={"mailbox": mailbox.address})
        await _failed(mailbox, TransientError(f"{type(error).__name__}: {error}"))
        return None
    report = done.report
    supervision.synced(
        log,
        PROVIDER,
        mailbox,
        started,
        changed=bool(done.full or report.new or report.updated or report.removed),
        new=report.new,
        updated=report.updated,
        removed=report.removed,
        skipped=done.skipped or None,
        outside=done.outside or None,
        resynced=done.resynced or None,
        pages=done.pages,
    )
    return done


async def _due(mailbox: Mailbox, settings: Settings) -> bool:
    cursor = await CalendarCursor.get_or_none(mailbox_id=mailbox.id, calendar=CALENDAR)
    now = datetime.now(UTC)
    every = timedelta(seconds=settings.calendar_poll_seconds)
    if (
        mailbox.last_error is not None
        and mailbox.last_error.startswith(FAILED)
        and mailbox.last_error_at is not None
        and mailbox.last_error_at > now - every
        and (cursor is None or cursor.synced_at is None or cursor.synced_at < mailbox.last_error_at)
    ):
        return False  # it failed lately: not again before the interval
    if cursor is None or cursor.synced_at is None:
        return True
    if any(name in (cursor.state or {}) for name in UNFINISHED):
        return True
    return cursor.synced_at <= now - every


async def _failed(mailbox: Mailbox, error: SyncError) -> None:
    mailbox.last_error = (FAILED + str(error))[:2000]
    mailbox.last_error_at = datetime.now(UTC)
    await mailbox.save(update_fields=["last_error", "last_error_at"])
    reason = supervision.reason(error)
    SYNC_PASSES.labels(PROVIDER, reason).inc()
    log.warning(
        "calendar sync failed; the mail syncs on",
        extra=logs.fields(error, mailbox=mailbox.address, reason=reason, error=str(error)),
    )
