"""A faithful local Gmail for tests: one user's mailbox, stateful, served over HTTP by
`GmailServer` (in `gmail_http`) on 127.0.0.1.

The mailbox holds messages (raw bytes, labels, thread, internal date) that a test adds,
labels, trashes, marks as spam and deletes while a client syncs; every change bumps the
history id (with gaps, as Gmail's ids have) and leaves a history record of its type. The API
answers users.getProfile, users.messages.list (newest first by internalDate, paged, with
includeSpamTrash, labelIds and the `in:`/`label:`/`is:` search terms), users.messages.get
(raw and minimal), users.history.list (paged; 404 before the oldest history kept) and the
batch endpoint, after checking the bearer token and the query parameters against Google's
discovery document, and spending the user's quota per minute. Every JSON body it answers with
is checked against the discovery document's schema; a body that does not conform is recorded
in `violations` (the fixture fails the test) and answered as a 500.

Controls, callable from any thread while the server runs: `grant()` / `expire_tokens()`,
`throttle()`, `fail()`, `fail_message()`, `forbid()`, `expire_history()`, `max_concurrent`,
`delay`, `omit_parts`, `rename_parts`, `script()`. Observations: `served` (statuses, batch parts
included), `calls` (per method), `units`, `batch_sizes`, `requests`.
"""

from __future__ import annotations

import base64
import itertools
import json
import math
import re
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from email.parser import BytesHeaderParser
from email.policy import compat32
from functools import cached_property
from typing import Any

from fakes.discovery import SchemaError, check_error, gmail

BASE_DATE_MS = 1_700_000_000_000
ANSWERS_KEPT = 25_000  # rendered messages.get answers, a bench's worth
COSTS = {
    "gmail.users.getProfile": 1,
    "gmail.users.messages.list": 5,
    "gmail.users.messages.get": 5,
    "gmail.users.history.list": 2,
}
ROUTES = [
    (re.compile(r"/gmail/v1/users/([^/]+)/profile"), "gmail.users.getProfile"),
    (re.compile(r"/gmail/v1/users/([^/]+)/messages"), "gmail.users.messages.list"),
    (re.compile(r"/gmail/v1/users/([^/]+)/messages/([^/]+)"), "gmail.users.messages.get"),
    (re.compile(r"/gmail/v1/users/([^/]+)/history"), "gmail.users.history.list"),
]
SEARCH_NAMES = {
    "draft": "DRAFT", "drafts": "DRAFT", "chat": "CHAT", "chats": "CHAT", "spam": "SPAM",
    "trash": "TRASH", "inbox": "INBOX", "sent": "SENT", "starred": "STARRED",
    "unread": "UNREAD", "important": "IMPORTANT",
}  # fmt: skip
HISTORY_FIELDS = {
    "messageAdded": "messagesAdded",
    "messageDeleted": "messagesDeleted",
    "labelAdded": "labelsAdded",
    "labelRemoved": "labelsRemoved",
}
_TERM = re.compile(r"(-?)(in|label|is):([\w-]+)")


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # JSON-able
    headers: dict[str, str] = field(default_factory=dict)
    checked: bool = False  # against the discovery document already

    @cached_property
    def text(self) -> str:
        """The body as JSON, rendered once."""
        return json.dumps(self.body)


@dataclass
class Stored:
    id: str
    thread_id: str
    raw: bytes
    labels: set[str]
    internal_date: int  # epoch ms
    history_id: int

    def reference(self) -> dict[str, Any]:
        return {"id": self.id, "threadId": self.thread_id}

    def snapshot(self) -> dict[str, Any]:
        return {**self.reference(), "labelIds": sorted(self.labels)}


@dataclass
class Record:
    id: int
    changes: list[tuple[str, dict[str, Any], list[str]]]  # (type, message, labels changed)


def error_body(code: int, message: str, reason: str, status: str, domain: str = "global") -> Any:
    return {
        "error": {
            "code": code,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
            "status": status,
        }
    }


UNAUTHENTICATED = Answer(
    401,
    error_body(
        401,
        "Request had invalid authentication credentials. Expected OAuth 2 access token, "
        "login cookie or other valid authentication credential.",
        "authError",
        "UNAUTHENTICATED",
    ),
    {"www-authenticate": 'Bearer realm="https://accounts.google.com/", error="invalid_token"'},
)
NOT_FOUND = Answer(404, error_body(404, "Requested entity was not found.", "notFound", "NOT_FOUND"))
SERVER_ERRORS = {
    500: ("Internal error encountered.", "backendError", "INTERNAL"),
    502: ("Bad Gateway", "backendError", "UNAVAILABLE"),
    503: ("The service is currently unavailable.", "backendError", "UNAVAILABLE"),
    504: ("Deadline exceeded.", "backendError", "DEADLINE_EXCEEDED"),
}


def server_error(status: int) -> Answer:
    message, reason, name = SERVER_ERRORS[status]
    return Answer(status, error_body(status, message, reason, name))


def rate_refusal(status: int, reason: str, retry_after: float | None) -> Answer:
    message = (
        "Too many concurrent requests for user."
        if reason == "rateLimitExceeded"
        else "User-rate limit exceeded."
    )
    name = "RESOURCE_EXHAUSTED" if status == 429 else "PERMISSION_DENIED"
    headers = {} if retry_after is None else {"retry-after": str(math.ceil(retry_after))}
    return Answer(status, error_body(status, message, reason, name, "usageLimits"), headers)


class FakeGmail:
    def __init__(self, address: str = "alice@example.com", *, quota_per_minute: int = 0) -> None:
        self.address = address
        self.url = ""  # set by GmailServer
        self.lock = threading.RLock()
        self.messages: dict[str, Stored] = {}
        self.history: list[Record] = []
        self.history_id = 1000
        self.oldest_history = self.history_id
        self._ids = itertools.count(1)
        self._answers: dict[tuple[str, int, str], Answer] = {}
        self._tokens: set[str] = set()
        self.account_of: Callable[[str], str | None] | None = None
        # Controls.
        self.quota_per_minute = quota_per_minute  # 0: unlimited
        self.quota_window = 60.0  # seconds: Gmail's minute, shorter in tests
        self.max_concurrent: int | None = None
        self.delay = 0.0
        self.omit_parts: set[str] = set()  # message ids whose batch part is left out, once
        self.rename_parts = False  # answer batch parts with Content-IDs of no request
        self.forbidden: str | None = None
        self._throttles: deque[tuple[int, str, float | None]] = deque()
        self._failures: deque[int] = deque()
        self._message_failures: dict[str, deque[int]] = {}
        self.scripts: dict[str, Callable[..., Any]] = {}
        # Observations.
        self.served: Counter[int] = Counter()
        self.calls: Counter[str] = Counter()
        self.units = 0
        self.requests = 0
        self.batch_sizes: list[int] = []
        self.violations: list[str] = []
        self._spent: deque[tuple[float, int]] = deque()
        self.in_flight = 0

    # The mailbox -------------------------------------------------------------------------

    def add(
        self,
        raw: bytes,
        labels: Iterable[str] = ("INBOX",),
        *,
        thread_id: str | None = None,
        internal_date: int | None = None,
    ) -> str:
        """Deliver a message; its id. Internal dates rise with each one unless given."""
        with self.lock:
            number = next(self._ids)
            message_id = f"{0x18C0000000000000 + number * 7919:016x}"
            stored = Stored(
                message_id,
                thread_id or message_id,
                raw,
                set(labels),
                internal_date if internal_date is not None else BASE_DATE_MS + number * 1000,
                0,
            )
            self.messages[message_id] = stored
            self._record(stored, [("messagesAdded", sorted(stored.labels))])
            return message_id

    def label(self, message_id: str, *labels: str) -> None:
        self.relabel(message_id, add=labels)

    def unlabel(self, message_id: str, *labels: str) -> None:
        self.relabel(message_id, remove=labels)

    def relabel(self, message_id: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> None:
        """Add and remove labels in one change (one history record), as Gmail's modify."""
        with self.lock:
            stored = self.messages[message_id]
            added = sorted(set(add) - stored.labels)
            removed = sorted(set(remove) & stored.labels)
            stored.labels |= set(added)
            stored.labels -= set(removed)
            changes = [("labelsAdded", added)] if added else []
            changes += [("labelsRemoved", removed)] if removed else []
            if changes:
                self._record(stored, changes)

    def trash(self, message_id: str) -> None:
        self.relabel(message_id, add=["TRASH"])

    def untrash(self, message_id: str) -> None:
        self.relabel(message_id, remove=["TRASH"])

    def spam(self, message_id: str) -> None:
        self.relabel(message_id, add=["SPAM"], remove=["INBOX"])

    def delete(self, message_id: str) -> None:
        """Delete for good (not trash): a messagesDeleted record."""
        with self.lock:
            stored = self.messages.pop(message_id)
            self._record(stored, [("messagesDeleted", [])])

    def _record(self, stored: Stored, changes: list[tuple[str, list[str]]]) -> None:
        self.history_id += secrets.choice((1, 2, 3))  # not contiguous, as Gmail's
        stored.history_id = self.history_id
        snapshot = stored.snapshot()
        self.history.append(
            Record(self.history_id, [(kind, snapshot, labels) for kind, labels in changes])
        )

    # Controls ----------------------------------------------------------------------------

    def prerender(self) -> None:
        """Render and check every message's raw answer now, as Google holds its messages
        ready: a benchmark then measures Mailroom's CPU, not the local Gmail's."""
        with self.lock:
            for message_id in list(self.messages)[:ANSWERS_KEPT]:
                self._get(message_id, {"format": ["raw"]})

    def grant(self) -> str:
        """A new valid access token."""
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self.lock:
            self._tokens.add(token)
        return token

    def trust(self, account_of: Callable[[str], str | None]) -> None:
        """Also honour access tokens that `account_of` says are this mailbox's (the local
        Google's `GoogleOAuth.account_of`), as Gmail honours Google's."""
        self.account_of = account_of

    def _honours(self, token: str) -> bool:
        if token in self._tokens:
            return True
        return self.account_of is not None and self.account_of(token) == self.address

    def expire_tokens(self) -> None:
        with self.lock:
            self._tokens.clear()

    def throttle(
        self,
        times: int,
        retry_after: float | None = 1.0,
        *,
        status: int = 429,
        reason: str = "rateLimitExceeded",
    ) -> None:
        """The next `times` HTTP requests are refused for rate (a 429 storm, or 403 with
        reason userRateLimitExceeded), with Retry-After unless None."""
        with self.lock:
            self._throttles.extend([(status, reason, retry_after)] * times)

    def fail(self, times: int, status: int = 500) -> None:
        """The next `times` HTTP requests fail with a server error."""
        with self.lock:
            self._failures.extend([status] * times)

    def fail_message(self, message_id: str, times: int = 1, status: int = 500) -> None:
        """messages.get of this message fails `times` times (a batch part failing alone)."""
        with self.lock:
            self._message_failures.setdefault(message_id, deque()).extend([status] * times)

    def heal(self) -> None:
        """Drop every queued fault: the server is well again."""
        with self.lock:
            self._throttles.clear()
            self._failures.clear()
            self._message_failures.clear()

    def forbid(self, reason: str | None = "insufficientPermissions") -> None:
        """Every call is refused with 403 and this reason (None: no longer)."""
        self.forbidden = reason

    def expire_history(self) -> None:
        """Gmail forgets the history so far: a startHistoryId before now gets 404."""
        with self.lock:
            self.oldest_history = self.history_id
            self.history.clear()

    def script(self, name: str, responder: Callable[..., Any]) -> None:
        """Answer every request to `name` ("batch" or a method id such as
        gmail.users.messages.get) with `responder(request)`, a Starlette response: the
        hostile server's way in. Bypasses every check."""
        self.scripts[name] = responder

    # Serving (called by gmail_http) --------------------------------------------------------

    def outer_fault(self) -> Answer | None:
        """A fault for the HTTP request as a whole, if one is queued."""
        with self.lock:
            self.requests += 1
            if self._throttles:
                status, reason, retry_after = self._throttles.popleft()
                return rate_refusal(status, reason, retry_after)
            if self._failures:
                return server_error(self._failures.popleft())
        return None

    def answer(self, path: str, params: list[tuple[str, str]], authorization: str) -> Answer:
        """One API call: route, check, spend, serve; the body checked against the schema."""
        routed = route(path)
        if routed is None:
            return NOT_FOUND
        method_id, path_args = routed
        with self.lock:
            answer = self._answer(method_id, path_args, params, authorization)
            self.served[answer.status] += 1
        return self.checked(method_id, answer)

    def checked(self, method_id: str, answer: Answer) -> Answer:
        if answer.checked:
            return answer
        try:
            if answer.status == 200:
                gmail().check_response(method_id, answer.body)
            else:
                check_error(answer.body)
        except SchemaError as error:
            self.violations.append(f"{method_id}: {error}")
            return server_error(500)
        return answer

    def _answer(
        self, method_id: str, path_args: Sequence[str], params: list[tuple[str, str]], auth: str
    ) -> Answer:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not self._honours(token):
            return UNAUTHENTICATED
        if path_args[0] not in ("me", self.address):
            return Answer(
                403,
                error_body(403, "Delegation denied.", "forbidden", "PERMISSION_DENIED"),
            )
        if self.forbidden:
            return Answer(
                403,
                error_body(
                    403, "Request had insufficient authentication scopes.", self.forbidden,
                    "PERMISSION_DENIED",
                ),
            )  # fmt: skip
        try:
            gmail().check_parameters(method_id, params, ["userId", "id"])
        except SchemaError as error:
            return Answer(400, error_body(400, str(error), "badRequest", "INVALID_ARGUMENT"))
        refused = self._spend(COSTS[method_id])
        if refused is not None:
            return refused
        self.calls[method_id] += 1
        query: dict[str, list[str]] = {}
        for name, value in params:
            query.setdefault(name, []).append(value)
        if method_id == "gmail.users.getProfile":
            return self._profile()
        if method_id == "gmail.users.messages.list":
            return self._list(query)
        if method_id == "gmail.users.messages.get":
            return self._get(path_args[1], query)
        return self._history(query)

    def _spend(self, units: int) -> Answer | None:
        now = time.monotonic()
        while self._spent and self._spent[0][0] <= now - self.quota_window:
            self._spent.popleft()
        if self.quota_per_minute:
            used = sum(spent for _, spent in self._spent)
            if used + units > self.quota_per_minute:
                # When enough of the window will have passed for this call to fit.
                freed, wait = used, 1.0
                for moment, spent in self._spent:
                    freed -= spent
                    wait = moment + self.quota_window - now
                    if freed + units <= self.quota_per_minute:
                        break
                return rate_refusal(429, "userRateLimitExceeded", max(0.0, wait))
        self._spent.append((now, units))
        self.units += units
        return None

    def _profile(self) -> Answer:
        threads = {stored.thread_id for stored in self.messages.values()}
        return Answer(
            200,
            {
                "emailAddress": self.address,
                "messagesTotal": len(self.messages),
                "threadsTotal": len(threads),
                "historyId": str(self.history_id),
            },
        )

    def _list(self, query: dict[str, list[str]]) -> Answer:
        required = set(query.get("labelIds", []))
        excluded: set[str] = set()
        for text in query.get("q", []):
            for term in text.split():
                match = _TERM.fullmatch(term)
                if match is None:
                    return _bad(f"the fake Gmail does not understand the search term {term!r}")
                negated, _, name = match.groups()
                label = SEARCH_NAMES.get(name.lower(), name)
                (excluded if negated else required).add(label)
        if query.get("includeSpamTrash", ["false"])[0] != "true":
            excluded |= {"SPAM", "TRASH"}
        kept = sorted(
            (
                stored
                for stored in self.messages.values()
                if required <= stored.labels and not excluded & stored.labels
            ),
            key=lambda stored: (stored.internal_date, stored.id),
            reverse=True,
        )
        size = min(500, int(query.get("maxResults", ["100"])[0]))
        start = 0
        if "pageToken" in query:
            position = _read_token(query["pageToken"][0])
            if position is None:
                return _bad("Invalid pageToken")
            start = sum(1 for s in kept if (s.internal_date, s.id) >= tuple(position))
        page = kept[start : start + size]
        body: dict[str, Any] = {"resultSizeEstimate": len(kept)}
        if page:
            body["messages"] = [stored.reference() for stored in page]
        if start + size < len(kept):
            last = page[-1]
            body["nextPageToken"] = _write_token([last.internal_date, last.id])
        return Answer(200, body)

    def _get(self, message_id: str, query: dict[str, list[str]]) -> Answer:
        failures = self._message_failures.get(message_id)
        if failures:
            return server_error(failures.popleft())
        stored = self.messages.get(message_id)
        if stored is None:
            return NOT_FOUND
        format_ = query.get("format", ["full"])[0]
        # A message's answer changes only with its history id: rendered and checked once, so
        # that a benchmark's local Gmail spends little of the CPU it shares with Mailroom.
        key = (message_id, stored.history_id, format_)
        if key in self._answers:
            return self._answers[key]
        body: dict[str, Any] = {
            **stored.snapshot(),
            "historyId": str(stored.history_id),
            "internalDate": str(stored.internal_date),
            "sizeEstimate": len(stored.raw),
        }
        if format_ == "raw":
            body["raw"] = base64.urlsafe_b64encode(stored.raw).decode("ascii")
        elif format_ == "metadata":
            body["payload"] = _metadata(stored.raw)
        elif format_ != "minimal":
            return _bad(f"the fake Gmail serves format raw, metadata and minimal, not {format_}")
        answer = self.checked("gmail.users.messages.get", Answer(200, body))
        if answer.status == 200:
            if len(self._answers) >= ANSWERS_KEPT:
                self._answers.clear()
            answer = self._answers[key] = replace(answer, checked=True)
        return answer

    def _history(self, query: dict[str, list[str]]) -> Answer:
        if "startHistoryId" not in query:  # "Required", in words only in the document
            return _bad("Missing startHistoryId")
        start = int(query["startHistoryId"][0])
        if start < self.oldest_history:
            return NOT_FOUND
        kinds = {HISTORY_FIELDS[kind] for kind in query.get("historyTypes", [])} or set(
            HISTORY_FIELDS.values()
        )
        label = query.get("labelId", [None])[0]
        after = start
        if "pageToken" in query:
            position = _read_token(query["pageToken"][0])
            if position is None:
                return _bad("Invalid pageToken")
            after = int(position[0])
        size = min(500, int(query.get("maxResults", ["100"])[0]))
        records = []
        for record in self.history:
            if record.id <= after:
                continue
            entry = _history_entry(record, kinds, label)
            if entry is not None:
                records.append((record.id, entry))
        body: dict[str, Any] = {"historyId": str(self.history_id)}
        if records[:size]:
            body["history"] = [entry for _, entry in records[:size]]
        if len(records) > size:
            body["nextPageToken"] = _write_token([records[size - 1][0]])
        return Answer(200, body)


def route(path: str) -> tuple[str, Sequence[str]] | None:
    """(method id, path arguments) of an API path, None if Gmail has no such method."""
    for pattern, method_id in ROUTES:
        match = pattern.fullmatch(path)
        if match:
            return method_id, match.groups()
    return None


def _history_entry(record: Record, kinds: set[str], label: str | None) -> dict[str, Any] | None:
    entry: dict[str, Any] = {"id": str(record.id), "messages": []}
    for kind, message, labels in record.changes:
        if kind not in kinds or (label is not None and label not in message["labelIds"]):
            continue
        if kind in ("labelsAdded", "labelsRemoved"):
            entry.setdefault(kind, []).append({"message": message, "labelIds": labels})
        elif kind == "messagesDeleted":
            entry.setdefault(kind, []).append(
                {"message": {"id": message["id"], "threadId": message["threadId"]}}
            )
        else:
            entry.setdefault(kind, []).append({"message": message})
        reference = {"id": message["id"], "threadId": message["threadId"]}
        if reference not in entry["messages"]:
            entry["messages"].append(reference)
    return entry if entry["messages"] else None


def _bad(message: str) -> Answer:
    return Answer(400, error_body(400, message, "badRequest", "INVALID_ARGUMENT"))


def _write_token(position: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


def _read_token(token: str) -> list[Any] | None:
    try:
        position = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:
        return None
    return position if isinstance(position, list) and position else None


def _metadata(raw: bytes) -> dict[str, Any]:
    """The top MessagePart of format=metadata: its header fields (unfolded, in order), no
    body data."""
    header = BytesHeaderParser(policy=compat32).parsebytes(raw)
    return {
        "partId": "",
        "mimeType": header.get_content_type(),
        "filename": "",
        "headers": [
            {"name": name, "value": re.sub(r"\r?\n[ \t]*", " ", str(value))}
            for name, value in header.items()
        ],
        "body": {"size": 0},
    }
