"""What can go wrong talking to a CalDAV server: the sync errors of `mailroom.errors`, plus
CalDAV's own.

SyncError
 ├── TransientError      network errors, timeouts, 429 and 5xx: back off and retry
 ├── AuthError           401: the login is refused; the mailbox needs reconnecting
 ├── ProtocolError       not a CalDAV server, a redirect elsewhere, unreadable XML (a DTD or
 │    │                  entities are refused), a listing that never ends
 │    ├── TooLargeError  (sources.http) an answer over its size bound, not read past it
 │    └── HostRefusedError  (sources.imap) the host is not a public address
 └── SyncTokenInvalid    the collection's sync token is refused (RFC 6578 valid-sync-token):
                         the calendar is listed again in full, then swept
"""

from __future__ import annotations

from mailroom.errors import AuthError, ProtocolError, SyncError, TransientError
from mailroom.sources.http import TooLargeError
from mailroom.sources.imap.errors import HostRefusedError

__all__ = [
    "AuthError",
    "HostRefusedError",
    "ProtocolError",
    "SyncError",
    "SyncTokenInvalid",
    "TooLargeError",
    "TransientError",
]


class SyncTokenInvalid(SyncError):
    """The server no longer knows the sync token: list the collection again in full."""
