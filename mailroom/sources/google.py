"""Google's APIs' error answers, as Gmail and Google Calendar both give them:
{"error": {"code", "message", "errors": [{"domain", "reason", "message", ...}], "status"}}."""

from __future__ import annotations

import json
from dataclasses import dataclass

SERVER_ERRORS = frozenset({500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class GoogleError:
    """What an error body says, when it says anything readable."""

    status: int
    reason: str | None
    message: str

    def describe(self) -> str:
        reason = f" ({self.reason})" if self.reason else ""
        return f"HTTP {self.status}{reason}: {self.message}"


def google_error(status: int, body: bytes) -> GoogleError:
    """Google's error body read leniently: an error answer is already the bad news, and a
    garbled body must not hide which status it was."""
    reason: str | None = None
    message = ""
    try:
        payload = json.loads(body[:65536]) if body else None
    except ValueError:
        payload = None
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        if isinstance(error.get("message"), str):
            message = error["message"]
        details = error.get("errors")
        if isinstance(details, list) and details and isinstance(details[0], dict):
            first = details[0].get("reason")
            reason = first[:100] if isinstance(first, str) else None
    return GoogleError(status, reason, message[:500] or "no explanation given")
