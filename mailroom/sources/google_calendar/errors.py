"""What can go wrong talking to Google Calendar: the sync errors of `mailroom.errors` (drawn
there, with what is done about each), two of the calendar's own, and how Google's error bodies
are read.

SyncError
 ├── TransientError       network errors, timeouts, 5xx past the retries, rate or quota
 │                        refusals that last: the next pass tries again
 ├── AuthError            the grant is gone (a refresh refused, a 401 after a refresh): the
 │    │                   mailbox needs reconnecting, as for its mail
 │    └── CalendarRefused a 403 that is not about rate (the calendar scope not granted, the
 │                        API off for the project): the calendar waits, the mail goes on
 ├── ProtocolError        400, 404, a redirect, an answer that is not what events.list
 │    │                   returns, a page token that repeats
 │    └── TooLargeError   a page over its size bound, refused before it is all read
 └── SyncTokenExpired     410 (fullSyncRequired): list the window again, then sweep what was
                          not seen

`verdict` reads a status and Google's error body ({"error": {"code", "message", "errors":
[{"domain", "reason", "message", "location", "locationType"}]}}) into what the client does next.
"""

from __future__ import annotations

import enum

from mailroom.errors import AuthError, ProtocolError, SyncError, TransientError
from mailroom.sources.google import SERVER_ERRORS, GoogleError, google_error
from mailroom.sources.http import TooLargeError

__all__ = [
    "AuthError",
    "CalendarRefused",
    "GoogleError",
    "ProtocolError",
    "SyncError",
    "SyncTokenExpired",
    "TooLargeError",
    "TransientError",
    "Verdict",
    "google_error",
    "verdict",
]

# 403 reasons that mean "later", not "never" (the Calendar API's "Handle API errors" guide):
# the per-user and per-calendar rates, and the calendar usage limits.
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "quotaExceeded"})


class SyncTokenExpired(SyncError):
    """Google no longer honours the stored sync token: the window is listed again in full, and
    what that listing did not see is removed."""


class CalendarRefused(AuthError):
    """Google refuses the calendar (not the grant): the mailbox's mail syncs on, and the
    calendar is tried again at the next pass."""


class Verdict(enum.Enum):
    OK = "ok"
    REFRESH = "refresh"  # 401: the access token expired or was revoked; refresh once
    THROTTLED = "throttled"  # 429, 403 rate and quota reasons: wait and try again
    RETRY = "retry"  # 5xx: try again a few times
    GONE = "gone"  # 410: the sync token is no longer valid
    FORBIDDEN = "forbidden"  # 403 other reasons
    BAD = "bad"  # 400, 404 and anything unexpected


def verdict(status: int, error: GoogleError | None) -> Verdict:
    if 200 <= status < 300:
        return Verdict.OK
    if status == 401:
        return Verdict.REFRESH
    if status == 429 or (status == 403 and error is not None and error.reason in RATE_REASONS):
        return Verdict.THROTTLED
    if status in SERVER_ERRORS:
        return Verdict.RETRY
    if status == 410:
        return Verdict.GONE
    if status == 403:
        return Verdict.FORBIDDEN
    return Verdict.BAD
