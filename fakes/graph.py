"""A faithful local Microsoft Graph (v1.0) for tests, the mail subset Mailroom uses: one user's
mailbox (the signed-in user's), stateful and thread-safe, served over HTTP by `GraphServer` (in
`graph_http`, which also answers JSON batching) on 127.0.0.1.

It follows Microsoft's documentation: the message and mailFolder resources; message delta
(learn.microsoft.com/graph/delta-query-messages): pages of `Prefer: odata.maxpagesize` (10 by
default) linked by `@odata.nextLink` ($skiptoken) up to an `@odata.deltaLink` ($deltatoken),
opaque tokens kept server side for the folder, the first round listing the folder newest first
and later rounds what was added or changed since, removals as `{"@removed": {"reason":
"changed"}}` (moved out, to Deleted Items or elsewhere: restorable) or `"deleted"` (gone for
good); an unknown or expired token answers 410 with SyncStateNotFound (or the code
`resync_code` says) and a Location to start again. Ids are opaque (base64url, ending in '=');
without `Prefer: IdType="ImmutableId"` a message moved to another folder gets a new id, as
Outlook's default ids do, with it the id never changes (outlook-immutable-id). `$value` answers
the MIME as added (text/plain). Errors use Graph's envelope `{"error": {"code", "message",
"innerError": {"date", "request-id", "client-request-id"}}}`; Outlook's MailboxConcurrency
limit (4 requests of one mailbox at once) is enforced, the one past it getting 429
ApplicationThrottled with Retry-After.

Endpoints (under /v1.0, Bearer tokens; `/users/{id or address}` serves as `/me`): `GET /me`,
`/me/mailFolders/{id or well-known name}`, `.../messages` ($select, $top <= 1000, $skip,
$orderby), `.../messages/delta` ($select, $filter=receivedDateTime ge|gt, $orderby, $top,
changeType), `/me/messages/{id}` and `.../$value` (also under a folder). Keys also in the
OData form `mailFolders('{id}')`, as Graph writes its links.

Controls, callable from any thread while the server runs: `add()` (its immutable id),
`move()` (the new default id), `delete()` (for good), `mark_read()`, `grant()` / `trust()` /
`expire_tokens()`, `expire_delta_tokens()`, `resync_code`, `fail_next()` (whole HTTP
requests), `throttle_storm()` (mailbox requests, batch parts each one), `fail_message()`,
`heal()`, `max_concurrent` (4; None: no limit), `concurrency_retry_after`, `delay` (seconds a
request holds its place), `on_prem`; `rest_id()`, `immutable_id()`, `folder_id()`, `ids_in()`
read the mailbox. Observations: `calls` (requests that reached an endpoint, per kind: "me",
"folder", "list", "delta", "message", "value"; and "batch"), `served` (statuses, batch parts
included), `peak_in_flight` (the most requests of the mailbox in flight at once, those then
refused included: Mailroom's must stay at 4 or below), `batch_sizes`, `requests` (the latest
`Seen`, with their Prefer preferences).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import re
import secrets
import threading
import uuid
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from fakes.graph_mime import read_body, read_headers
from fakes.microsoft_identity import object_id

DEFAULT_PAGE = 10  # Graph's page without odata.maxpagesize
MAX_PAGE = 1000  # odata.maxpagesize above it is taken as 1000
MAX_TOP = 1000
FILTERED_DELTA_CAP = 5000  # "Applying $filter in a delta query returns only up to 5,000"
TOKENS_KEPT = 10_000  # Outlook's delta token cache: the oldest go first
REQUESTS_KEPT = 10_000
BASE_RECEIVED = datetime(2024, 1, 1, tzinfo=UTC)
FOLDERS = {
    "inbox": "Inbox",
    "sentitems": "Sent Items",
    "drafts": "Drafts",
    "deleteditems": "Deleted Items",
    "archive": "Archive",
    "junkemail": "Junk Email",
}
ROOT = "msgfolderroot"
DELTA = {"delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()"}
LIST_OPTIONS = {"$select", "$top", "$skip", "$orderby"}
DELTA_OPTIONS = {"$select", "$filter", "$orderby", "$top"}  # then $skiptoken, $deltatoken
JSON_TYPE = (
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8"
)
PROPERTIES = (
    "bccRecipients", "body", "bodyPreview", "categories", "ccRecipients", "changeKey",
    "conversationId", "conversationIndex", "createdDateTime", "flag", "from", "hasAttachments",
    "id", "importance", "inferenceClassification", "internetMessageHeaders", "internetMessageId",
    "isDeliveryReceiptRequested", "isDraft", "isRead", "isReadReceiptRequested",
    "lastModifiedDateTime", "parentFolderId", "receivedDateTime", "replyTo", "sender",
    "sentDateTime", "subject", "toRecipients", "uniqueBody", "webLink",
)  # fmt: skip
DEFAULT_PROPERTIES = tuple(
    p for p in PROPERTIES if p not in ("internetMessageHeaders", "uniqueBody")
)
RESYNC_MESSAGES = {
    "SyncStateNotFound": "The sync state generation is not found. The delta token is expired "
    "and data must be synchronized again.",
    "resyncRequired": "The delta token is no longer valid, and the app must reset the sync state.",
    "SyncStateInvalid": "The sync state is invalid.",
}
SERVER_ERRORS = {
    429: ("ApplicationThrottled", "Application is over its MailboxConcurrency limit."),
    500: ("generalException", "An unspecified error has occurred."),
    502: ("generalException", "An unspecified error has occurred."),
    503: ("serviceNotAvailable", "The service is not available. Try the request again after "
          "a delay. There may be a Retry-After header."),
    504: ("generalException", "The request timed out."),
}  # fmt: skip
_ID = re.compile(r"[A-Za-z0-9_=+-]{16,512}")
_KEYED = re.compile(r"([^()]+)\(('?)(.*)\2\)")
_FILTER = re.compile(r"\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # JSON-able, or the bytes of a $value
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """One request to the API (a batch's parts each one): what routing and answers read."""

    method: str
    path: str  # under /v1.0, decoded: "/me/mailFolders/inbox/messages/delta"
    query: tuple[tuple[str, str], ...]
    prefer: Mapping[str, str]  # preference (lower case) -> value, quotes removed
    request_id: str
    client_request_id: str
    part: bool = False  # of a batch

    @classmethod
    def of(cls, method: str, target: str, headers: Mapping[str, str], part: bool = False) -> Call:
        """From a target under /v1.0 as sent (percent-encoded), and the request's headers."""
        url = urlsplit(target)
        lowered = {name.lower(): value for name, value in headers.items()}
        prefer: dict[str, str] = {}
        for item in lowered.get("prefer", "").split(","):
            name, _, value = item.strip().partition("=")
            if name:
                prefer[name.strip().lower()] = value.strip().strip('"')
        return cls(
            method.upper(),
            unquote(url.path),
            tuple(parse_qsl(url.query, keep_blank_values=True)),
            prefer,
            str(uuid.uuid4()),
            lowered.get("client-request-id") or str(uuid.uuid4()),
            part,
        )

    def option(self, name: str) -> str | None:
        return next((value for key, value in self.query if key.lower() == name.lower()), None)

    @property
    def immutable(self) -> bool:
        return self.prefer.get("idtype", "").lower() == "immutableid"


@dataclass(frozen=True)
class Seen:
    """A request as the mailbox saw it."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    prefer: Mapping[str, str]
    kind: str  # "" when it never reached an endpoint (refused at the gateway or unauthorized)
    status: int
    part: bool


@dataclass
class Folder:
    id: str
    name: str  # well-known name
    display_name: str
    parent_id: str


@dataclass
class Stored:
    immutable_id: str
    rest_id: str
    folder: str  # its folder's id
    raw: bytes
    headers: dict[str, Any]  # what `read_headers` found
    received: datetime
    created: datetime
    modified: datetime
    conversation_id: str
    change_key: str
    entered: int  # the change that put it in its folder
    changed: int  # its latest change
    is_read: bool = False


@dataclass(frozen=True)
class Removal:
    seq: int
    immutable_id: str
    rest_id: str  # as it was in the folder
    reason: str  # "changed" (moved out: restorable) or "deleted"


@dataclass(frozen=True)
class DeltaQuery:
    """What the first request of a delta round asked for, kept in its tokens."""

    folder: str
    select: tuple[str, ...]
    received: tuple[str, datetime] | None  # ("ge" | "gt", when) of $filter
    change_type: str | None
    top: int | None


@dataclass(frozen=True)
class DeltaState:
    query: DeltaQuery
    watermark: int  # the round answers changes after this one
    round_seq: int  # the change the round began at: the next round's watermark
    initial: bool
    cursor: tuple[datetime, str] | int | None = None
    sent: int = 0


@dataclass(frozen=True)
class Routed:
    kind: str  # "me", "folder", "list", "delta", "message", "value"
    folder: Folder | None = None
    folder_key: str = ""  # as the request named it
    message: Stored | None = None


def graph_error(call: Call, status: int, code: str, message: str, **headers: str) -> Answer:
    inner = {
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "request-id": call.request_id,
        "client-request-id": call.client_request_id,
    }
    body = {"error": {"code": code, "message": message, "innerError": inner}}
    return Answer(status, body, {name.replace("_", "-"): value for name, value in headers.items()})


def _bad(call: Call, message: str, code: str = "BadRequest") -> Answer:
    return graph_error(call, 400, code, message)


def _not_found(call: Call) -> Answer:
    return graph_error(
        call, 404, "ErrorItemNotFound", "The specified object was not found in the store."
    )


def _malformed(call: Call) -> Answer:
    return graph_error(call, 400, "ErrorInvalidIdMalformed", "Id is malformed.")


def _retry_after(seconds: float) -> str:
    return str(max(0, math.ceil(seconds)))


def _opaque(head: bytes, seed: bytes, size: int = 110) -> str:
    """An Outlook-like id: base64url of `size` bytes (size % 3 == 2, so it ends in one '=')."""
    body = hashlib.sha256(seed).digest()
    while len(head) + len(body) < size:
        body += hashlib.sha256(body).digest()
    return base64.urlsafe_b64encode(head + body[: size - len(head)]).decode()


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class FakeGraph:
    def __init__(
        self,
        address: str = "alice@contoso.com",
        *,
        display_name: str | None = None,
        user_id: str | None = None,
    ) -> None:
        self.address = address
        self.display_name = display_name or address.split("@")[0].replace(".", " ").title()
        self.user_id = user_id or object_id(address)
        self.url = ""  # set by GraphServer
        self.lock = threading.RLock()
        self._seed = secrets.token_bytes(16)
        root = Folder(self._folder_id(ROOT), ROOT, "Top of Information Store", self._folder_id(""))
        self.folders = {root.id: root}
        for name, display in FOLDERS.items():
            folder = Folder(self._folder_id(name), name, display, root.id)
            self.folders[folder.id] = folder
        self.seq = 0  # the latest change
        self._added = 0
        self._messages: dict[str, Stored] = {}  # by immutable id
        self._rest: dict[str, Stored] = {}  # by current default id
        self._removals: dict[str, list[Removal]] = {fid: [] for fid in self.folders}
        self._tokens: OrderedDict[str, DeltaState] = OrderedDict()
        self._grants: set[str] = set()
        self.account_of: Callable[[str], str | None] | None = None
        # Controls.
        self.max_concurrent: int | None = 4
        self.concurrency_retry_after = 1.0
        self.delay = 0.0
        self.on_prem = False
        self.resync_code = "SyncStateNotFound"
        self._failures: deque[tuple[int, float | None]] = deque()
        self._storm: deque[float] = deque()
        self._message_failures: dict[str, deque[int]] = {}
        # Observations.
        self.calls: Counter[str] = Counter()
        self.served: Counter[int] = Counter()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.batch_sizes: list[int] = []
        self.requests: deque[Seen] = deque(maxlen=REQUESTS_KEPT)

    # The mailbox -------------------------------------------------------------------------

    def add(
        self,
        raw: bytes,
        folder: str = "inbox",
        received: datetime | None = None,
        *,
        conversation: str | None = None,
        is_read: bool = False,
    ) -> str:
        """Deliver a message; its immutable id (`rest_id()` gives the default one). Received
        times rise a second with each message unless given; `conversation` names the thread
        (else References' first id, In-Reply-To, or the Message-ID)."""
        headers = read_headers(raw)
        with self.lock:
            target = self._folder(folder)
            self.seq += 1
            self._added += 1
            number = self._added
            now = datetime.now(UTC)
            if not headers["message_id"]:
                headers["message_id"] = (
                    f"<{secrets.token_hex(16).upper()}@PH0PR11MB{number:04d}.namprd11.prod."
                    "outlook.com>"
                )
            root = conversation or headers["thread_root"] or headers["message_id"]
            stored = Stored(
                immutable_id=self._new_id(b"\x00\x09\x00\x2e\x00\x00"),
                rest_id=self._new_id(b"\x00\x03\x24\x00"),
                folder=target.id,
                raw=raw,
                headers=headers,
                received=received or BASE_RECEIVED + timedelta(seconds=number),
                created=now,
                modified=now,
                conversation_id=_opaque(
                    b"\x00\x04\x24\x00", self._seed + root.encode("utf-8", "replace"), 50
                ),
                change_key=_change_key(),
                entered=self.seq,
                changed=self.seq,
                is_read=is_read,
            )
            self._messages[stored.immutable_id] = stored
            self._rest[stored.rest_id] = stored
            return stored.immutable_id

    def move(self, message_id: str, folder: str) -> str:
        """Move a message (either id) to a folder (id or well-known name); its default id
        after the move, a new one (its immutable id stays)."""
        with self.lock:
            stored = self._stored(message_id)
            target = self._folder(folder)
            if target.id == stored.folder:
                return stored.rest_id
            self.seq += 1
            self._removals[stored.folder].append(
                Removal(self.seq, stored.immutable_id, stored.rest_id, "changed")
            )
            del self._rest[stored.rest_id]
            stored.rest_id = self._new_id(b"\x00\x03\x24\x00")
            self._rest[stored.rest_id] = stored
            stored.folder = target.id
            stored.entered = stored.changed = self.seq
            self._touch(stored)
            return stored.rest_id

    def delete(self, message_id: str) -> None:
        """Delete for good (not to Deleted Items: `move(id, "deleteditems")` is that)."""
        with self.lock:
            stored = self._stored(message_id)
            self.seq += 1
            self._removals[stored.folder].append(
                Removal(self.seq, stored.immutable_id, stored.rest_id, "deleted")
            )
            del self._messages[stored.immutable_id], self._rest[stored.rest_id]

    def mark_read(self, message_id: str, read: bool = True) -> None:
        """A change to the message in its folder (the next delta round shows it again)."""
        with self.lock:
            stored = self._stored(message_id)
            self.seq += 1
            stored.is_read, stored.changed = read, self.seq
            self._touch(stored)

    def rest_id(self, message_id: str) -> str:
        """The message's default id now (changes when it moves)."""
        with self.lock:
            return self._stored(message_id).rest_id

    def immutable_id(self, message_id: str) -> str:
        with self.lock:
            return self._stored(message_id).immutable_id

    def folder_id(self, name: str) -> str:
        """The opaque id of a well-known folder."""
        with self.lock:
            return self._folder(name).id

    def ids_in(self, folder: str) -> list[str]:
        """Immutable ids of the folder's messages, newest first."""
        with self.lock:
            return [m.immutable_id for m in self._listing(self._folder(folder).id)]

    def _folder(self, key: str) -> Folder:
        found = self._find_folder(key)
        if found is None:
            raise KeyError(f"no folder {key!r}")
        return found

    def _find_folder(self, key: str) -> Folder | None:
        if key in self.folders:
            return self.folders[key]
        return next((f for f in self.folders.values() if f.name == key.lower()), None)

    def _stored(self, message_id: str) -> Stored:
        stored = self._messages.get(message_id) or self._rest.get(message_id)
        if stored is None:
            raise KeyError(f"no message {message_id!r}")
        return stored

    def _folder_id(self, name: str) -> str:
        return _opaque(b"\x00\x03\x24\x00", f"{self.address}/folder/{name}".encode(), 50)

    def _new_id(self, head: bytes) -> str:
        return _opaque(head, secrets.token_bytes(32))

    def _touch(self, stored: Stored) -> None:
        stored.modified = datetime.now(UTC)
        stored.change_key = _change_key()

    def _listing(self, folder_id: str) -> list[Stored]:
        return sorted(
            (m for m in self._messages.values() if m.folder == folder_id),
            key=lambda m: (m.received, m.immutable_id),
            reverse=True,
        )

    # Controls ----------------------------------------------------------------------------

    def grant(self) -> str:
        """A new valid access token (for tests without the identity fake)."""
        token = "eyJ0eXAiOiJKV1QiLCJub25jZSI6Ik" + secrets.token_urlsafe(48)
        with self.lock:
            self._grants.add(token)
        return token

    def trust(self, account_of: Callable[[str], str | None]) -> None:
        """Also honour access tokens that `account_of` says are this mailbox's (the local
        identity platform's `MicrosoftIdentity.account_of`), as Graph honours Entra's."""
        self.account_of = account_of

    def expire_tokens(self) -> None:
        """The tokens of `grant()` expire (the identity fake's: `expire_access_tokens()`)."""
        with self.lock:
            self._grants.clear()

    def expire_delta_tokens(self) -> None:
        """Outlook forgets every delta and skip token: following one answers 410."""
        with self.lock:
            self._tokens.clear()

    def fail_next(self, times: int, status: int = 503, retry_after: float | None = None) -> None:
        """The next `times` HTTP requests (a batch as a whole) fail with this status (429,
        500, 502, 503, 504), with Retry-After unless None."""
        with self.lock:
            self._failures.extend([(status, retry_after)] * times)

    def throttle_storm(self, count: int, retry_after: float = 1.0) -> None:
        """The next `count` requests of the mailbox (batch parts each one) get 429 with
        Retry-After."""
        with self.lock:
            self._storm.extend([retry_after] * count)

    def fail_message(self, message_id: str, times: int = 1, status: int = 500) -> None:
        """Requests for this message (get, $value) fail `times` times (a batch part failing
        alone)."""
        with self.lock:
            key = self._stored(message_id).immutable_id
            self._message_failures.setdefault(key, deque()).extend([status] * times)

    def heal(self) -> None:
        """Drop every queued fault."""
        with self.lock:
            self._failures.clear()
            self._storm.clear()
            self._message_failures.clear()

    # Serving (called by graph_http) --------------------------------------------------------

    async def respond(self, call: Call, authorization: str) -> Answer:
        """One request, a batch's part or not: faults, the token, routing, the mailbox's
        concurrency, `delay`, the answer; recorded in the observations."""
        kind = ""
        answer = None if call.part else self.gateway_fault(call)
        if answer is None:
            answer = self.unauthenticated(call, authorization)
        if answer is None:
            routed = self._route(call)
            if isinstance(routed, Answer):
                answer = routed
            else:
                kind = routed.kind
                answer = await self._run(call, routed)
        self.record(call, kind, answer)
        return answer

    def gateway_fault(self, call: Call) -> Answer | None:
        with self.lock:
            if not self._failures:
                return None
            status, retry_after = self._failures.popleft()
        code, message = SERVER_ERRORS.get(status, SERVER_ERRORS[500])
        headers = {} if retry_after is None else {"Retry_After": _retry_after(retry_after)}
        return graph_error(call, status, code, message, **headers)

    def unauthenticated(self, call: Call, authorization: str) -> Answer | None:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() == "bearer" and token:
            with self.lock:
                if token in self._grants:
                    return None
            owner = self.account_of(token) if self.account_of is not None else None
            if owner is not None and owner.lower() == self.address.lower():
                return None
            message = "Access token has expired or is not yet valid."
        else:
            message = "Access token is empty."
        challenge = (
            'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/'
            'oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'
        )
        return graph_error(
            call, 401, "InvalidAuthenticationToken", message, WWW_Authenticate=challenge
        )

    def record(self, call: Call, kind: str, answer: Answer) -> None:
        with self.lock:
            self.served[answer.status] += 1
            self.requests.append(
                Seen(
                    call.method, call.path, call.query, call.prefer, kind, answer.status, call.part
                )
            )

    async def _run(self, call: Call, routed: Routed) -> Answer:
        with self.lock:
            self.calls[routed.kind] += 1
        if routed.kind == "me":  # the directory's, not the mailbox's
            await asyncio.sleep(self.delay)
            with self.lock:
                return self._serve(call, routed)
        refused = self._admit(call)
        if refused is not None:
            return refused
        try:
            await asyncio.sleep(self.delay)
            with self.lock:
                return self._serve(call, routed)
        finally:
            with self.lock:
                self.in_flight -= 1

    def _admit(self, call: Call) -> Answer | None:
        """Take one of the mailbox's concurrent requests; the refusal if there is none."""
        with self.lock:
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            retry_after: float | None = None
            if self._storm:
                retry_after = self._storm.popleft()
            elif self.max_concurrent and self.in_flight > self.max_concurrent:
                retry_after = self.concurrency_retry_after
            if retry_after is None:
                return None
            self.in_flight -= 1
        code, message = SERVER_ERRORS[429]
        return graph_error(call, 429, code, message, Retry_After=_retry_after(retry_after))

    def _route(self, call: Call) -> Routed | Answer:
        tokens: list[str] = []
        for segment in call.path.strip("/").split("/"):
            keyed = _KEYED.fullmatch(segment)  # mailFolders('id'); delta() stays whole
            tokens += [keyed.group(1), keyed.group(3)] if keyed and keyed.group(3) else [segment]
        names = [t.lower() for t in tokens]
        if names[:1] == ["users"] and len(tokens) >= 2:
            if tokens[1].lower() not in (self.user_id, self.address.lower()):
                return graph_error(
                    call, 404, "ErrorInvalidUser", f"The requested user '{tokens[1]}' is invalid."
                )
            tokens, names = tokens[2:], names[2:]
        elif names[:1] == ["me"]:
            tokens, names = tokens[1:], names[1:]
        else:
            return _bad(call, f"Resource not found for the segment '{tokens[0]}'.")
        if call.method != "GET":
            return graph_error(
                call, 405, "ErrorInvalidRequest", "The OData request is not supported."
            )
        if not tokens:
            return Routed("me")
        if self.on_prem:
            return graph_error(
                call,
                404,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            )
        return self._route_mail(call, tokens, names)

    def _route_mail(self, call: Call, tokens: list[str], names: list[str]) -> Routed | Answer:
        folder: Folder | None = None
        key = ""
        if names[0] == "mailfolders" and len(tokens) >= 2:
            key = tokens[1]
            with self.lock:
                folder = self._find_folder(key)
            if folder is None:
                return _not_found(call) if _ID.fullmatch(key) else _malformed(call)
            tokens, names = tokens[2:], names[2:]
            if not tokens:
                return Routed("folder", folder, key)
            if names[0] != "messages":
                return _bad(call, f"Resource not found for the segment '{tokens[0]}'.")
            if len(tokens) == 1:
                return Routed("list", folder, key)
            if len(tokens) == 2 and names[1] in DELTA:
                return Routed("delta", folder, key)
        elif names[0] != "messages" or len(tokens) < 2:
            return _bad(call, f"Resource not found for the segment '{tokens[0]}'.")
        if len(tokens) > 3 or (len(tokens) == 3 and names[2] != "$value"):
            return _bad(call, f"Resource not found for the segment '{tokens[-1]}'.")
        if not _ID.fullmatch(tokens[1]):
            return _malformed(call)
        with self.lock:
            stored = self._messages.get(tokens[1]) or self._rest.get(tokens[1])
        if stored is not None and folder is not None and stored.folder != folder.id:
            stored = None
        # A message not found is still the mailbox's request (its 404 comes from Outlook).
        return Routed("value" if len(tokens) == 3 else "message", folder, key, stored)

    def _serve(self, call: Call, routed: Routed) -> Answer:
        """The answer of a routed request (the lock held)."""
        if routed.kind == "me":
            return self._me(call)
        folder = routed.folder
        if routed.kind == "folder" and folder is not None:
            return Answer(200, self._folder_body(folder))
        if routed.kind == "list" and folder is not None:
            return self._list(call, folder, routed.folder_key)
        if routed.kind == "delta" and folder is not None:
            return self._delta(call, folder)
        message = routed.message
        if message is None or message.immutable_id not in self._messages:  # or deleted since
            return _not_found(call)
        failures = self._message_failures.get(message.immutable_id)
        if failures:
            status = failures.popleft()
            code, text = SERVER_ERRORS.get(status, SERVER_ERRORS[500])
            return graph_error(call, status, code, text)
        if routed.kind == "value":
            return Answer(200, message.raw, {"Content-Type": "text/plain"})
        select = _select(call.option("$select"))
        if isinstance(select, str):
            return _bad(call, select, "RequestBroker--ParseUri")
        body = {
            "@odata.context": f"{self.url}/v1.0/$metadata#users('{self.user_id}')/messages/$entity",
            **self._render(message, select or DEFAULT_PROPERTIES, call.immutable),
        }
        return Answer(200, body, _applied(call, None))

    def _me(self, call: Call) -> Answer:
        given, _, surname = self.display_name.partition(" ")
        return Answer(
            200,
            {
                "@odata.context": f"{self.url}/v1.0/$metadata#users/$entity",
                "businessPhones": [],
                "displayName": self.display_name,
                "givenName": given,
                "jobTitle": None,
                "mail": self.address,
                "mobilePhone": None,
                "officeLocation": None,
                "preferredLanguage": "en-US",
                "surname": surname or None,
                "userPrincipalName": self.address,
                "id": self.user_id,
            },
        )

    def _folder_body(self, folder: Folder) -> dict[str, Any]:
        inside = [m for m in self._messages.values() if m.folder == folder.id]
        return {
            "@odata.context": f"{self.url}/v1.0/$metadata#users('{self.user_id}')/mailFolders"
            "/$entity",
            "id": folder.id,
            "displayName": folder.display_name,
            "parentFolderId": folder.parent_id,
            "childFolderCount": len(FOLDERS) if folder.name == ROOT else 0,
            "unreadItemCount": sum(1 for m in inside if not m.is_read),
            "totalItemCount": len(inside),
            "isHidden": False,
        }

    # Listing and delta -------------------------------------------------------------------

    def _list(self, call: Call, folder: Folder, key: str) -> Answer:
        select = _select(call.option("$select"))
        if isinstance(select, str):
            return _bad(call, select, "RequestBroker--ParseUri")
        for option, _ in call.query:
            if option.startswith("$") and option.lower() not in LIST_OPTIONS:
                return _bad(call, f"Query option '{option}' is not supported here.")
        top, skip = _bounded(call.option("$top"), 1, MAX_TOP), _bounded(call.option("$skip"), 0)
        if top is False or skip is False:
            return _bad(call, f"$top must be 1 to {MAX_TOP} and $skip not negative.")
        order = (call.option("$orderby") or "receivedDateTime desc").strip().lower()
        if order not in ("receiveddatetime desc", "receiveddatetime asc", "receiveddatetime"):
            return _bad(call, f"$orderby {order!r} is not supported here.", "ErrorInvalidUrlQuery")
        size, applied = _page_size(call, top or None)
        listing = self._listing(folder.id)
        if order != "receiveddatetime desc":
            listing.reverse()
        start = skip or 0
        wanted = select or DEFAULT_PROPERTIES
        body: dict[str, Any] = {
            "@odata.context": f"{self.url}/v1.0/$metadata#users('{self.user_id}')/mailFolders"
            f"('{key}')/messages",
            "value": [
                self._render(m, wanted, call.immutable, typed=False)
                for m in listing[start : start + size]
            ],
        }
        if start + size < len(listing):
            query = [(k, v) for k, v in call.query if k.lower() != "$skip"]
            query.append(("$skip", str(start + size)))
            body["@odata.nextLink"] = (
                f"{self.url}/v1.0/me/mailFolders/{quote(key, safe='=')}/messages?{urlencode(query)}"
            )
        return Answer(200, body, _applied(call, applied))

    def _delta(self, call: Call, folder: Folder) -> Answer:
        skip, delta = call.option("$skiptoken"), call.option("$deltatoken")
        if skip is not None or delta is not None:
            state = self._tokens.get(skip if skip is not None else delta or "")
            if (
                state is None
                or state.query.folder != folder.id
                or (skip is None and state.cursor is not None)
            ):
                return self._gone(call, folder)
            if delta is not None:  # a new round: what changed after the last one began
                state = DeltaState(state.query, state.round_seq, self.seq, initial=False)
        else:
            query = self._delta_query(call, folder)
            if isinstance(query, Answer):
                return query
            state = DeltaState(query, 0, self.seq, initial=True)
        size, applied = _page_size(call, state.query.top)
        page, following = self._delta_page(state, size)
        body: dict[str, Any] = {"@odata.context": f"{self.url}/v1.0/$metadata#Collection(message)"}
        link = f"{self.url}/v1.0/me/mailfolders('{folder.id}')/messages/delta"
        if following is None:
            token = self._keep(DeltaState(state.query, state.round_seq, state.round_seq, False))
            body["@odata.deltaLink"] = f"{link}?$deltatoken={token}"
        else:
            body["@odata.nextLink"] = f"{link}?$skiptoken={self._keep(following)}"
        body["value"] = [
            self._removed(entry, call.immutable)
            if isinstance(entry, Removal)
            else self._render(entry, state.query.select, call.immutable)
            for entry in page
        ]
        return Answer(200, body, _applied(call, applied))

    def _delta_query(self, call: Call, folder: Folder) -> DeltaQuery | Answer:
        for option, _ in call.query:
            if option.startswith("$") and option.lower() not in DELTA_OPTIONS:
                return _bad(call, f"Query option '{option}' is not supported by delta.")
        select = _select(call.option("$select"))
        if isinstance(select, str):
            return _bad(call, select, "RequestBroker--ParseUri")
        received = None
        if call.option("$filter") is not None:
            match = _FILTER.fullmatch(call.option("$filter") or "")
            when = _instant(match.group(2)) if match else None
            if match is None or when is None:
                return _bad(
                    call,
                    "The query filter contains one or more invalid nodes.",
                    "ErrorInvalidUrlQueryFilter",
                )
            received = (match.group(1).lower(), when)
        order = call.option("$orderby")
        if order is not None and order.strip().lower() != "receiveddatetime desc":
            return _bad(call, "Only $orderby=receivedDateTime desc is supported.")
        change = call.option("changeType")
        if change is not None and change not in ("created", "updated", "deleted"):
            return _bad(call, f"Invalid changeType '{change}'.", "ErrorInvalidUrlQuery")
        top = _bounded(call.option("$top"), 1, MAX_TOP)
        if top is False:
            return _bad(call, f"$top must be 1 to {MAX_TOP}.")
        return DeltaQuery(folder.id, select or DEFAULT_PROPERTIES, received, change, top or None)

    def _delta_page(
        self, state: DeltaState, size: int
    ) -> tuple[list[Stored | Removal], DeltaState | None]:
        """A page of the round and the state after it (None: the round is complete)."""
        query = state.query
        if state.initial:
            listing = [m for m in self._listing(query.folder) if _passes(m, query.received)]
            if isinstance(state.cursor, tuple):
                listing = [m for m in listing if (m.received, m.immutable_id) < state.cursor]
            if query.received is not None:
                listing = listing[: max(0, FILTERED_DELTA_CAP - state.sent)]
            page: list[Stored | Removal] = list(listing[:size])
            more = len(listing) > size
            cursor: tuple[datetime, str] | int | None = None
            if page and isinstance(page[-1], Stored):
                cursor = (page[-1].received, page[-1].immutable_id)
        else:
            after = max(state.watermark, state.cursor if isinstance(state.cursor, int) else 0)
            entries: list[tuple[int, Stored | Removal]] = []
            if query.change_type in (None, "deleted"):
                entries += [(r.seq, r) for r in self._removals[query.folder] if r.seq > after]
            for m in self._messages.values():
                if m.folder != query.folder or m.changed <= after or not _passes(m, query.received):
                    continue
                created = m.entered > state.watermark
                if query.change_type in (None, "created" if created else "updated"):
                    entries.append((m.changed, m))
            entries.sort(key=lambda entry: entry[0])
            page = [entry for _, entry in entries[:size]]
            more = len(entries) > size
            cursor = entries[size - 1][0] if more else None
        if not more:
            return page, None
        return page, replace(state, cursor=cursor, sent=state.sent + len(page))

    def _keep(self, state: DeltaState) -> str:
        token = secrets.token_urlsafe(33)
        self._tokens[token] = state
        while len(self._tokens) > TOKENS_KEPT:
            self._tokens.popitem(last=False)
        return token

    def _gone(self, call: Call, folder: Folder) -> Answer:
        code = self.resync_code
        message = RESYNC_MESSAGES.get(code, RESYNC_MESSAGES["SyncStateNotFound"])
        location = f"{self.url}/v1.0/me/mailfolders('{folder.id}')/messages/delta?$deltatoken="
        return graph_error(call, 410, code, message, Location=location)

    # Rendering ---------------------------------------------------------------------------

    def _removed(self, removal: Removal, immutable: bool) -> dict[str, Any]:
        return {
            "@odata.type": "#microsoft.graph.message",
            "id": removal.immutable_id if immutable else removal.rest_id,
            "@removed": {"reason": removal.reason},
        }

    def _render(
        self, stored: Stored, select: tuple[str, ...], immutable: bool, typed: bool = True
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"@odata.type": "#microsoft.graph.message"} if typed else {}
        body["@odata.etag"] = f'W/"{stored.change_key}"'
        message_id = stored.immutable_id if immutable else stored.rest_id
        values = self._properties(stored, message_id)
        parsed: tuple[dict[str, str], str] | None = None
        for name in select:
            if name in values:
                body[name] = values[name]
            elif name != "id":  # body, uniqueBody, bodyPreview: the MIME parsed
                parsed = parsed or read_body(stored.raw)
                body[name] = parsed[1] if name == "bodyPreview" else parsed[0]
        body["id"] = message_id
        return body

    def _properties(self, stored: Stored, message_id: str) -> dict[str, Any]:
        """The message resource's properties but the body's."""
        headers = stored.headers
        index = (
            headers["thread_index"]
            or base64.b64encode(
                hashlib.sha256(stored.conversation_id.encode()).digest()[:22]
            ).decode()
        )
        return {
            "receivedDateTime": _when(stored.received),
            "sentDateTime": _when(headers["date"] or stored.received),
            "createdDateTime": _when(stored.created),
            "lastModifiedDateTime": _when(stored.modified),
            "changeKey": stored.change_key,
            "categories": [],
            # Exchange says so for attachments; a multipart/mixed stands for them here.
            "hasAttachments": headers["content_type"] == "multipart/mixed",
            "internetMessageId": headers["message_id"],
            "subject": headers["subject"],
            "importance": headers["importance"],
            "parentFolderId": stored.folder,
            "conversationId": stored.conversation_id,
            "conversationIndex": index,
            "isDeliveryReceiptRequested": False,
            "isReadReceiptRequested": headers["read_receipt"],
            "isRead": stored.is_read,
            "isDraft": self.folders[stored.folder].name == "drafts",
            "webLink": "https://outlook.office365.com/owa/?ItemID="
            f"{quote(message_id, safe='')}&exvsurl=1&viewmodel=ReadMessageItem",
            "inferenceClassification": "focused",
            "from": headers["from"][0] if headers["from"] else None,
            "sender": (headers["sender"] or headers["from"] or [None])[0],
            "toRecipients": headers["to"],
            "ccRecipients": headers["cc"],
            "bccRecipients": headers["bcc"],
            "replyTo": headers["reply_to"],
            "flag": {"flagStatus": "notFlagged"},
            "internetMessageHeaders": headers["all"],
        }


def _change_key() -> str:
    return "CQAAABYAAAA" + secrets.token_urlsafe(21)


def _passes(stored: Stored, received: tuple[str, datetime] | None) -> bool:
    if received is None:
        return True
    operator, when = received
    return stored.received >= when if operator == "ge" else stored.received > when


def _instant(text: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _bounded(text: str | None, low: int, high: int = 10**9) -> int | None | bool:
    """An integer option in [low, high]; None when absent; False when out of bounds."""
    if text is None:
        return None
    if not text.strip().isdigit() or not low <= int(text) <= high:
        return False
    return int(text)


def _select(text: str | None) -> tuple[str, ...] | None | str:
    """The properties $select names (in Graph's spelling), None without it; a message (str)
    for a property the message resource does not have."""
    if text is None:
        return None
    spelled = {p.lower(): p for p in PROPERTIES}
    names: list[str] = []
    for name in (part.strip() for part in text.split(",")):
        if name.lower() not in spelled:
            return (
                f"Could not find a property named '{name}' on type "
                "'Microsoft.OutlookServices.Message'."
            )
        if spelled[name.lower()] not in names:
            names.append(spelled[name.lower()])
    return tuple(names)


def _page_size(call: Call, top: int | None) -> tuple[int, int | None]:
    """The page size and the odata.maxpagesize applied (None if not asked for)."""
    asked = call.prefer.get("odata.maxpagesize", "")
    if asked.isdigit() and int(asked) >= 1:
        size = min(int(asked), MAX_PAGE)
        return (min(size, top) if top else size), size
    return (top or DEFAULT_PAGE), None


def _applied(call: Call, page_size: int | None) -> dict[str, str]:
    applied = [] if page_size is None else [f"odata.maxpagesize={page_size}"]
    if call.immutable:
        applied.append('IdType="ImmutableId"')
    return {"Preference-Applied": ", ".join(applied)} if applied else {}
