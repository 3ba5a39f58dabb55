"""One CalDAV account's sync pass: discover its event calendars, bring each one up to date
(`collection`), forget the calendars that went away (their copies, and the events no other
calendar holds).
"""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from mailroom.intake.events import CalendarRules, remove_calendar_events
from mailroom.intake.locks import workspace_write_lock
from mailroom.models import CalendarCursor, Mailbox
from mailroom.sources.caldav.client import CalDavClient
from mailroom.sources.caldav.collection import Beat, CalendarPass, CollectionSync
from mailroom.sources.caldav.discovery import discover

__all__ = ["CalDavSync", "CalendarPass"]


async def _nothing() -> None:
    return None


class CalDavSync:
    """Syncs every event calendar of one CalDAV mailbox, once."""

    def __init__(
        self,
        mailbox: Mailbox,
        client: CalDavClient,
        rules: CalendarRules,
        *,
        beat: Beat = _nothing,
        now: datetime | None = None,
    ) -> None:
        self.mailbox = mailbox
        self.client = client
        self.rules = rules
        self.beat = beat
        self.now = now or datetime.now(UTC)
        self.done = CalendarPass()

    async def run(self) -> CalendarPass:
        collections = await discover(self.client)
        for collection in collections:
            await CollectionSync(
                self.mailbox,
                self.client,
                collection,
                self.rules,
                self.done,
                now=self.now,
                beat=self.beat,
            ).run()
            self.done.calendars += 1
            await self.beat()
        kept = {c.href for c in collections}
        known = await CalendarCursor.filter(mailbox_id=self.mailbox.id).values_list(
            "calendar", flat=True
        )
        for calendar in sorted({str(name) for name in known} - kept):
            await self._forget(calendar)
        return self.done

    async def _forget(self, calendar: str) -> None:
        """A calendar the server no longer lists: its copies go, and the events no other
        calendar holds."""
        async with in_transaction() as connection:
            await workspace_write_lock(connection, self.mailbox.workspace_id)
            self.done.events.deleted += await remove_calendar_events(self.mailbox.id, calendar)
            await CalendarCursor.filter(mailbox_id=self.mailbox.id, calendar=calendar).delete()
        self.done.forgotten += 1
