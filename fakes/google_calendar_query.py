"""events.list's query as the local Google Calendar reads it: what Google refuses in one
(before looking at the calendar), its page tokens, and the error bodies Google answers with (the
Calendar API's "Handle API errors" guide).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
from datetime import datetime
from typing import Any

from fakes.gmail import Answer

LIST = "calendar.events.list"
ROUTE = re.compile(r"/calendar/v3/calendars/([^/]+)/events")
MAX_PAGE = 2500
DEFAULT_PAGE = 250
NOT_WITH_SYNC_TOKEN = (
    "iCalUID", "orderBy", "privateExtendedProperty", "q", "sharedExtendedProperty", "timeMin",
    "timeMax", "updatedMin",
)  # fmt: skip
NOT_IMPLEMENTED = ("q", "updatedMin", "privateExtendedProperty", "sharedExtendedProperty")


def error_body(
    code: int,
    message: str,
    reason: str,
    *,
    domain: str = "global",
    status: str | None = None,
    location: str | None = None,
) -> dict[str, Any]:
    """Google's error body as the Calendar guide shows it."""
    item: dict[str, Any] = {"domain": domain, "reason": reason, "message": message}
    if location is not None:
        item.update(locationType="parameter", location=location)
    error: dict[str, Any] = {"errors": [item], "code": code, "message": message}
    if status is not None:
        error["status"] = status
    return {"error": error}


UNAUTHENTICATED = Answer(
    401,
    {
        "error": {
            "errors": [
                {
                    "domain": "global",
                    "reason": "authError",
                    "message": "Invalid Credentials",
                    "locationType": "header",
                    "location": "Authorization",
                }
            ],
            "code": 401,
            "message": "Invalid Credentials",
        }
    },
    {"www-authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
)
NOT_FOUND = Answer(404, error_body(404, "Not Found", "notFound"))
GONE = Answer(
    410,
    error_body(
        410,
        "Sync token is no longer valid, a full sync is required.",
        "fullSyncRequired",
        domain="calendar",
    ),
)
RATE_MESSAGES = {
    "rateLimitExceeded": "Rate Limit Exceeded",
    "userRateLimitExceeded": "User Rate Limit Exceeded",
    "quotaExceeded": "Calendar usage limits exceeded.",
}


def rate_refusal(status: int, reason: str, retry_after: float | None) -> Answer:
    headers = {} if retry_after is None else {"retry-after": str(math.ceil(retry_after))}
    body = error_body(status, RATE_MESSAGES[reason], reason, domain="usageLimits")
    return Answer(status, body, headers)


def server_error(status: int = 500) -> Answer:
    message = "Backend Error" if status == 500 else "Service Unavailable"
    return Answer(status, error_body(status, message, "backendError"))


def bad(message: str, location: str | None = None, reason: str = "invalid") -> Answer:
    return Answer(400, error_body(400, message, reason, location=location))


def refusal(query: dict[str, list[str]]) -> Answer | None:
    """What Google refuses in a query before looking at the calendar."""
    if "syncToken" in query:
        for name in NOT_WITH_SYNC_TOKEN:
            if name in query:
                return bad(f"The parameter {name} cannot be used with a sync token.", name)
        if param(query, "showDeleted", "true") == "false":
            return bad("showDeleted=false cannot be used with a sync token.", "showDeleted")
    for name in NOT_IMPLEMENTED:
        if name in query:
            return bad(f"the fake Google Calendar does not implement {name}", name)
    if "maxResults" in query and int(query["maxResults"][0]) < 1:
        return bad("Invalid value for maxResults.", "maxResults")
    if param(query, "orderBy", "") == "startTime" and param(query, "singleEvents", "") != "true":
        return bad("The requested ordering is not available for the particular query.")
    time_min, time_max = time_bound(query, "timeMin"), time_bound(query, "timeMax")
    if time_min is not None and time_max is not None and time_min >= time_max:
        return Answer(
            400,
            error_body(
                400, "The specified time range is empty.", "timeRangeEmpty",
                domain="calendar", location="timeMax",
            ),
        )  # fmt: skip
    return None


def param(query: dict[str, list[str]], name: str, default: str) -> str:
    return query.get(name, [default])[0]


def time_bound(query: dict[str, list[str]], name: str) -> datetime | None:
    # The discovery check has already refused a value that is no RFC 3339 time with offset.
    if name not in query:
        return None
    return datetime.fromisoformat(query[name][0].upper().replace("Z", "+00:00"))


def query_fingerprint(query: dict[str, list[str]]) -> str:
    kept = sorted((k, v) for k, values in query.items() for v in values if k != "pageToken")
    kept = [(k, v) for k, v in kept if k != "maxResults"]
    return hashlib.sha256(json.dumps(kept).encode()).hexdigest()[:16]


def write_token(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def read_token(token: str) -> dict[str, Any] | None:
    try:
        position = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        return None
    if not isinstance(position, dict) or not {"s", "q", "k"} <= set(position):
        return None
    return position
