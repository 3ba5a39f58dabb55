"""Google Calendar through its REST API: the primary calendar of a Gmail mailbox, with the same
account and access tokens (the consent asks for calendar.readonly beside Gmail's scope).

client     `GoogleCalendarClient(settings, tokens)`: `events(page_token, sync_token, time_min,
           time_max)`, one page of events.list with singleEvents=true; `usage`
calls      the core of every request: bearer token, one refresh on 401, rate and quota
           refusals waited out, server errors retried (`sources.retry`), bounded answers
           (`sources.http`)
resources  a page read into `Entry` items (instance id, `CalendarEvent` or None when gone);
           `times`, Google's times read into aware datetimes
errors     the sync errors, plus SyncTokenExpired (410: resync) and CalendarRefused (403)
sync       `GoogleCalendarSync(mailbox, client, ...)`: first sync over the window, sync-token
           increments, the resync after 410, the window kept ahead of now
mailbox    `sync_mailbox_calendar(mailbox, settings, tokens)`: the pass the Gmail poller and
           `mailroom mailbox sync` run after the mail; a failure stays the calendar's
"""

from mailroom.sources.google_calendar.calls import Usage
from mailroom.sources.google_calendar.client import GoogleCalendarClient
from mailroom.sources.google_calendar.errors import CalendarRefused, SyncTokenExpired
from mailroom.sources.google_calendar.mailbox import sync_mailbox_calendar
from mailroom.sources.google_calendar.resources import Entry, EventPage
from mailroom.sources.google_calendar.sync import CALENDAR, CalendarPass, GoogleCalendarSync

__all__ = [
    "CALENDAR",
    "CalendarPass",
    "CalendarRefused",
    "Entry",
    "EventPage",
    "GoogleCalendarClient",
    "GoogleCalendarSync",
    "SyncTokenExpired",
    "Usage",
    "sync_mailbox_calendar",
]
