"""What can go wrong talking to Microsoft Graph: the sync errors of `mailroom.errors`, plus
Graph's own, and how Graph's answers are read.

SyncError
 ├── TransientError     network errors, timeouts, 5xx past the retries, throttling that lasts
 ├── AuthError          the grant is gone (refresh refused), or access is denied (403)
 ├── ProtocolError      400, a redirect, a link elsewhere, a body not of the expected shape
 │    ├── TooLargeError a response over its size bound, refused before it is all read
 │    └── OnPremises    the mailbox is on an on-premises Exchange server
 └── DeltaExpired       the delta token is unknown or too old (410, syncStateNotFound):
                        the folder must be listed again and reconciled

Graph's error body is `{"error": {"code", "message", "innerError": {...}}}`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from mailroom.errors import AuthError, ProtocolError, SyncError, TransientError
from mailroom.sources.http import TooLargeError

__all__ = [
    "AuthError",
    "DeltaExpired",
    "GraphError",
    "OnPremises",
    "ProtocolError",
    "SyncError",
    "TooLargeError",
    "TransientError",
    "graph_error",
]

# Codes that mean "this delta token is no good any more: start over" (the delta query
# documentation; Outlook's own spellings vary in case).
EXPIRED_CODES = frozenset(
    {"syncstatenotfound", "syncstateinvalid", "resyncrequired", "invaliddeltatoken"}
)
# A hybrid mailbox kept on an on-premises Exchange server: Graph cannot read it.
ON_PREMISES_CODES = frozenset({"mailboxnotenabledforrestapi", "mailboxnotsupportedforrestapi"})


class OnPremises(ProtocolError):
    """The account's mailbox is on an on-premises Exchange server: Graph cannot read it."""


class DeltaExpired(SyncError):
    """The folder's delta link no longer works: list it again in full and reconcile."""


@dataclass(frozen=True, slots=True)
class GraphError:
    status: int
    code: str
    message: str

    def describe(self) -> str:
        said = f"{self.code}: {self.message}" if self.message else self.code
        return f"HTTP {self.status}: {said[:300]}" if said else f"HTTP {self.status}"

    @property
    def expired(self) -> bool:
        return self.status == 410 or self.code.lower() in EXPIRED_CODES

    @property
    def on_premises(self) -> bool:
        return self.code.lower() in ON_PREMISES_CODES


def graph_error(status: int, body: bytes) -> GraphError:
    """Graph's error envelope, read leniently: a proxy's HTML page is an error too."""
    try:
        payload = json.loads(body)
    except ValueError:
        return GraphError(status, "", "")
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return GraphError(status, "", "")
    code, message = error.get("code"), error.get("message")
    return GraphError(
        status,
        code[:100] if isinstance(code, str) else "",
        message[:500] if isinstance(message, str) else "",
    )
