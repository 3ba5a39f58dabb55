"""CalDAV calendars (RFC 4791, RFC 6578): Fastmail, iCloud, Nextcloud, Radicale, ...

transport    httpx over connections to vetted addresses only (the IMAP hosts' rules)
client       the WebDAV requests, bounded in size and time, redirects kept within the site;
             why not the `caldav` library
bodies       the XML Mailroom sends
multistatus  the 207 answers, read by defusedxml (no DTD, no entities)
discovery    from a URL (calendar, home, principal) to the event calendars
resources    calendar-multiget in bounded batches; resources into occurrences (items)
collection   one calendar: by sync-collection or ctag and etags; full listings and sweeps
sync         one pass: discovery, each calendar, the calendars gone forgotten
account      a mailbox's URL, login and sealed password; the check at connect
poller       one supervised task per mailbox
errors       the sync errors, and CalDAV's own (an invalid sync token)
"""

from __future__ import annotations

from mailroom.sources.caldav.account import account_for, account_of, check_account
from mailroom.sources.caldav.client import Account, CalDavClient
from mailroom.sources.caldav.discovery import Collection, discover
from mailroom.sources.caldav.poller import CalDavMailboxSync, CalDavPoller
from mailroom.sources.caldav.sync import CalDavSync, CalendarPass

__all__ = [
    "Account",
    "CalDavClient",
    "CalDavMailboxSync",
    "CalDavPoller",
    "CalDavSync",
    "CalendarPass",
    "Collection",
    "account_for",
    "account_of",
    "check_account",
    "discover",
]
