"""What can go wrong talking to Gmail: the sync errors of `mailroom.errors` (drawn there, with
what is done about each), plus the two of Gmail's own, and how Google's answers are read.

SyncError
 ├── TransientError     network errors, timeouts, 5xx past the retries, rate limits that last
 ├── AuthError          the grant is gone (refresh refused), or a scope is missing (403)
 ├── ProtocolError      400, a redirect, a body that is not what the method returns
 │    └── TooLargeError a response over its size bound, refused before it is all read
 └── HistoryExpired     history.list 404: the stored historyId is too old; resync in full

`verdict` reads a status and Google's error body ({"error": {"code", "message", "errors":
[{"domain", "reason", "message"}], "status"}}) into what the client does next.
"""

from __future__ import annotations

import enum

from mailroom.errors import AuthError, ProtocolError, SyncError, TransientError
from mailroom.sources.google import SERVER_ERRORS, GoogleError, google_error
from mailroom.sources.http import TooLargeError

__all__ = [
    "AuthError",
    "GoogleError",
    "HistoryExpired",
    "ProtocolError",
    "SyncError",
    "TooLargeError",
    "TransientError",
    "Verdict",
    "forbidden",
    "google_error",
    "verdict",
]

# 403 reasons that mean "slow down", not "forbidden" (Google's "Resolve errors" guide).
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})


class HistoryExpired(SyncError):
    """The history id is older than Gmail keeps history for: the mailbox must be listed again
    in full and reconciled with what is stored."""


class Verdict(enum.Enum):
    OK = "ok"
    REFRESH = "refresh"  # 401: the access token expired or was revoked; refresh once
    THROTTLED = "throttled"  # 429, 403 rate reasons: wait (Retry-After) and try again
    RETRY = "retry"  # 5xx: try again a few times
    NOT_FOUND = "not found"  # 404: meaning depends on the method
    FORBIDDEN = "forbidden"  # 403 other reasons: a scope or a policy refuses it
    BAD = "bad"  # 400 and anything unexpected


def verdict(status: int, error: GoogleError | None) -> Verdict:
    if 200 <= status < 300:
        return Verdict.OK
    if status == 401:
        return Verdict.REFRESH
    if status == 429 or (status == 403 and error is not None and error.reason in RATE_REASONS):
        return Verdict.THROTTLED
    if status in SERVER_ERRORS:
        return Verdict.RETRY
    if status == 404:
        return Verdict.NOT_FOUND
    if status == 403:
        return Verdict.FORBIDDEN
    return Verdict.BAD


def forbidden(error: GoogleError) -> AuthError:
    """A 403 that is not about rate: the account must be connected again with what is missing."""
    if error.reason in {"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"}:
        return AuthError(
            "Google refused access to the mailbox: the connection lacks the Gmail read "
            "permission (reconnect the account and grant it)"
        )
    return AuthError(f"Google refused access to the mailbox ({error.describe()})")
