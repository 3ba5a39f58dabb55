"""Microsoft 365 mail and calendars through Microsoft Graph (v1.0): what a Graph sync calls,
and the pieces under it.

client     `GraphClient(settings, tokens)`, one per mailbox: `folder(name)`,
           `delta(folder, link)`, `mime(ids)`, `all_ids(folder)`, `calendar_delta(link,
           window)`; at most 4 requests in flight (Outlook's MailboxConcurrency), Retry-After
           honoured, links checked
resources  the answers as frozen dataclasses: DeltaPage, DeltaItem, IdPage, Folder, Gone,
           Oversize
errors     the sync errors, plus DeltaExpired (list the folder again) and OnPremises
sync       `GraphSync`: Inbox and Sent Items by their message delta; reconcile
events     a calendarView delta page, and its entries as CalendarEvents; `attendees`, their
           people; `global_ids`, the iCalendar UID in Graph's iCalUId
calendar   `GraphCalendarSync`: the default calendar by its calendarView delta, over a window
           that rolls on
poller     `GraphPoller`: every Microsoft 365 mailbox kept in sync under supervision, its
           calendar after its mail
"""

from mailroom.sources.graph.calendar import GraphCalendarSync
from mailroom.sources.graph.client import GraphClient
from mailroom.sources.graph.errors import DeltaExpired, OnPremises
from mailroom.sources.graph.sync import GraphSync

__all__ = ["DeltaExpired", "GraphCalendarSync", "GraphClient", "GraphSync", "OnPremises"]
