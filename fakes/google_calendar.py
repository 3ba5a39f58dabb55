"""A faithful local Google Calendar for tests: one user's primary calendar, stateful, served over
HTTP by `CalendarServer` (in `google_calendar_http`) on 127.0.0.1.

The calendar holds single events and recurring ones (a master with RRULE and EXDATE lines, its
instances changed or cancelled one by one as exceptions), which a test adds, changes, cancels,
makes private and deletes while a client syncs. Every change takes a new sequence number; a
sync token is the number it was issued at, and `syncToken` answers what changed since.

The API answers `calendar.events.list` as Google's reference describes it:

- `singleEvents=true` expands series into instances: ids `<eventId>_<YYYYMMDDTHHMMSSZ>` (the
  original start in UTC; `_<YYYYMMDD>` for all-day ones), `recurringEventId`,
  `originalStartTime`, the master's `iCalUID`; otherwise masters and exceptions are listed.
- `timeMin` (exclusive bound on the end) and `timeMax` (on the start), RFC 3339 with an offset;
  `maxResults` (250 by default, never more than 2,500 a page), `pageToken` for the same query,
  `nextSyncToken` on the last page only, for the state when the first page was asked.
- `syncToken`: what changed since, deletions included (`status: "cancelled"`, with nothing but
  ids for an instance, as Google sends them). A sync token does not remember the window of the
  listing it came from: Google's increments hold every changed item wherever it falls, and a
  changed series comes with all its instances (up to `horizon_days` ahead for one without
  end; Google's own horizon is far and unpublished). Refused beside a sync token, as Google
  refuses them: iCalUID, orderBy, privateExtendedProperty, q, sharedExtendedProperty, timeMin,
  timeMax, updatedMin, and showDeleted=false (400). A token older than `expire_sync_tokens()`,
  or not one of this calendar's, gets 410 `fullSyncRequired`.
- Bearer tokens (401), a scope refused (`forbid`, 403), rate and quota refusals (403
  `rateLimitExceeded`, `userRateLimitExceeded`, `quotaExceeded`; 429), server errors.

Every query's parameters are checked against Google's discovery document (calendar.v3.json),
and every JSON body answered against its schema; a body that does not conform is recorded in
`violations` (the fixture fails the test) and answered as a 500. Not implemented (answered 400,
saying so): q, updatedMin and the extended property filters.

What a query may hold and the error bodies are in `google_calendar_query`; the events as kept,
and the expansion of a series, in `google_calendar_series`.

Controls, callable from any thread while the server runs: `grant()` / `trust()` /
`expire_tokens()`, `throttle()`, `fail()`, `forbid()`, `expire_sync_tokens()`, `delay`,
`quota_per_minute`, `script()`, `prerender()`. Observations: `served`, `calls`, `requests`,
`queries`, `violations`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import secrets
import threading
import time
from bisect import bisect_right
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fakes.discovery import SchemaError, calendar, check_error
from fakes.gmail import Answer
from fakes.google_calendar_query import (
    DEFAULT_PAGE,
    GONE,
    LIST,
    MAX_PAGE,
    NOT_FOUND,
    ROUTE,
    UNAUTHENTICATED,
    bad,
    error_body,
    param,
    query_fingerprint,
    rate_refusal,
    read_token,
    refusal,
    server_error,
    time_bound,
    write_token,
)
from fakes.google_calendar_series import (
    Occurrence,
    Stored,
    check_recurrence,
    event_time,
    instance_id,
    instance_times,
    is_date,
    new_event_id,
    original_of,
    originals,
    rfc3339,
    utc_now,
)

__all__ = ["GONE", "LIST", "NOT_FOUND", "UNAUTHENTICATED", "FakeGoogleCalendar", "rate_refusal"]
LISTINGS_KEPT = 8  # sorted listings cached, by snapshot and query
ITEMS_KEPT = 200_000  # rendered and checked items cached
# What an exception holds of its own, not copied over the series' fields.
_OWN = frozenset({"start", "end", "sequence", "status"})


class FakeGoogleCalendar:
    def __init__(self, address: str = "alice@example.com", *, time_zone: str = "UTC") -> None:
        self.address = address
        self.time_zone = time_zone
        self.url = ""  # set by CalendarServer
        self.lock = threading.RLock()
        self.events: dict[str, Stored] = {}
        self.seq = 1000
        self.oldest_sync = 0  # sync tokens issued before this number get 410
        self.changed: dict[str, int] = {}  # event id -> the change that touched all of it
        self.instance_changed: dict[str, tuple[str, int]] = {}  # instance -> (event, change)
        self.horizon_days = 3650  # how far ahead a series without end is expanded
        self._key = hashlib.sha256(f"{address}{secrets.token_hex(4)}".encode()).hexdigest()[:12]
        self._ids = itertools.count(1)
        self._tokens: set[str] = set()
        self.account_of: Callable[[str], str | None] | None = None
        self._listings: OrderedDict[tuple[Any, ...], list[tuple[tuple[Any, ...], Occurrence]]]
        self._listings = OrderedDict()
        self._rendered: dict[tuple[Any, ...], dict[str, Any]] = {}
        # Controls.
        self.quota_per_minute = 0  # 0: unlimited
        self.quota_window = 60.0
        self.delay = 0.0
        self.forbidden: str | None = None
        self._throttles: deque[tuple[int, str, float | None]] = deque()
        self._failures: deque[int] = deque()
        self.scripts: dict[str, Callable[..., Any]] = {}
        # Observations.
        self.served: Counter[int] = Counter()
        self.calls: Counter[str] = Counter()
        self.requests = 0
        self.queries: deque[list[tuple[str, str]]] = deque(maxlen=1000)
        self.violations: list[str] = []
        self._spent: deque[float] = deque()

    # The calendar ------------------------------------------------------------------------

    def add(
        self,
        summary: str | None,
        start: datetime | date,
        end: datetime | date | None = None,
        *,
        time_zone: str | None = None,
        recurrence: Sequence[str] | None = None,
        attendees: Sequence[dict[str, Any]] = (),
        organizer: str | None = None,
        ical_uid: str | None = None,
        event_id: str | None = None,
        **fields: Any,
    ) -> str:
        """Create an event; its id. `start`/`end` are dates for an all-day event (the end
        exclusive, a day after the start by default), aware datetimes (or naive ones in
        `time_zone`) for a timed one (an hour by default). `fields` are the Event resource's
        own (description, location, visibility, hangoutLink, conferenceData, status, ...)."""
        if end is None:
            end = start + (timedelta(days=1) if is_date(start) else timedelta(hours=1))
        zone = time_zone or (self.time_zone if recurrence else None)
        if recurrence:
            check_recurrence(recurrence)
        status = str(fields.pop("status", "confirmed"))
        with self.lock:
            number = next(self._ids)
            ident = event_id or new_event_id(number)
            now = utc_now()
            organizer_email = organizer or self.address
            stored = Stored(
                id=ident,
                ical_uid=ical_uid or f"{ident}@google.com",
                start=event_time(start, zone),
                end=event_time(end, zone),
                fields={
                    "summary": summary,
                    "organizer": {"email": organizer_email},
                    "creator": {"email": organizer_email},
                    "attendees": [dict(a) for a in attendees],
                    **fields,
                },
                recurrence=list(recurrence) if recurrence else None,
                created=now,
                updated=now,
                status=status,
            )
            self.events[ident] = stored
            self._touch(stored)
            return ident

    def change(self, event_id: str, **fields: Any) -> None:
        """Change an event (a series: all its instances): start, end and recurrence (which
        raise its sequence, as a new time does in iCalendar), or any field of the resource."""
        with self.lock:
            stored = self.events[event_id]
            before = self._instance_ids(stored)
            zone = stored.start.get("timeZone")
            if "start" in fields:
                stored.start = event_time(fields.pop("start"), zone)
                stored.sequence += 1
            if "end" in fields:
                stored.end = event_time(fields.pop("end"), zone)
                stored.sequence += 1
            if "recurrence" in fields:
                recurrence = fields.pop("recurrence")
                if recurrence:
                    check_recurrence(recurrence)
                stored.recurrence = list(recurrence) if recurrence else None
                stored.sequence += 1
            if "status" in fields:
                stored.status = str(fields.pop("status"))
            stored.fields.update(fields)
            after = self._instance_ids(stored)
            # An instance the series no longer makes is told as cancelled; one it makes again
            # is no longer gone.
            stored.gone = (stored.gone | (before - after)) - after
            self._touch(stored)

    def make_private(self, event_id: str, visibility: str = "private") -> None:
        self.change(event_id, visibility=visibility)

    def cancel(self, event_id: str) -> None:
        """Delete the event (Google keeps it as cancelled, and says so to sync tokens)."""
        with self.lock:
            stored = self.events[event_id]
            stored.gone |= self._instance_ids(stored)
            stored.status = "cancelled"
            self._touch(stored)

    delete = cancel

    def override(self, event_id: str, original_start: datetime | date, **fields: Any) -> str:
        """Change one instance of a series (an exception): its start, end or any field. The
        instance's id."""
        with self.lock:
            stored = self.events[event_id]
            instance = instance_id(stored.id, original_start)
            zone = stored.start.get("timeZone")
            change = dict(fields)
            for name in ("start", "end"):
                if name in change:
                    change[name] = event_time(change[name], zone)
            exception = stored.exceptions.setdefault(instance, {})
            exception.update(change)
            exception["sequence"] = int(exception.get("sequence", stored.sequence)) + 1
            self._touch_instance(stored, instance)
            return instance

    def cancel_instance(self, event_id: str, original_start: datetime | date) -> str:
        """Cancel one instance of a series (deleted from the series in Google's UI)."""
        with self.lock:
            stored = self.events[event_id]
            instance = instance_id(stored.id, original_start)
            stored.exceptions[instance] = {"status": "cancelled"}
            self._touch_instance(stored, instance)
            return instance

    def _touch(self, stored: Stored) -> None:
        self.seq += 1
        stored.version += 1
        stored.updated = utc_now()
        self.changed[stored.id] = self.seq

    def _touch_instance(self, stored: Stored, instance: str) -> None:
        self.seq += 1
        stored.version += 1
        self.instance_changed[instance] = (stored.id, self.seq)

    # Controls ----------------------------------------------------------------------------

    def grant(self) -> str:
        """A new valid access token."""
        token = "ya29.fake-" + secrets.token_urlsafe(24)
        with self.lock:
            self._tokens.add(token)
        return token

    def trust(self, account_of: Callable[[str], str | None]) -> None:
        """Also honour the access tokens that `account_of` says are this calendar's owner's
        (the local Google's `GoogleOAuth.account_of`)."""
        self.account_of = account_of

    def expire_tokens(self) -> None:
        with self.lock:
            self._tokens.clear()

    def expire_sync_tokens(self) -> None:
        """Every sync token issued so far now gets 410 (Google invalidates them when they
        are too old, or after an ACL change)."""
        with self.lock:
            self.oldest_sync = self.seq + 1

    def throttle(
        self,
        times: int,
        retry_after: float | None = 1.0,
        *,
        status: int = 429,
        reason: str = "rateLimitExceeded",
    ) -> None:
        """The next `times` requests are refused for rate or quota: 429, or 403 with reason
        rateLimitExceeded, userRateLimitExceeded or quotaExceeded."""
        with self.lock:
            self._throttles.extend([(status, reason, retry_after)] * times)

    def fail(self, times: int, status: int = 500) -> None:
        with self.lock:
            self._failures.extend([status] * times)

    def heal(self) -> None:
        with self.lock:
            self._throttles.clear()
            self._failures.clear()

    def forbid(self, reason: str | None = "insufficientPermissions") -> None:
        """Every call is refused with 403 and this reason (None: no longer)."""
        self.forbidden = reason

    def script(self, name: str, responder: Callable[..., Any]) -> None:
        """Answer every request to `name` (calendar.events.list) with `responder(request)`, a
        Starlette response: the hostile server's way in. Bypasses every check."""
        self.scripts[name] = responder

    def prerender(self, time_min: datetime, time_max: datetime) -> int:
        """Render and check every item between the two times now, as Google holds its events
        ready: a benchmark then measures the client, not this fake. The number of items."""
        with self.lock:
            query = {"singleEvents": ["true"]}
            listing = self._expand(query, time_min, time_max, False)
            for _, occurrence in listing:
                self._item(occurrence, True)
            return len(listing)

    # Serving (called by google_calendar_http) --------------------------------------------

    def outer_fault(self) -> Answer | None:
        with self.lock:
            self.requests += 1
            if self._throttles:
                status, reason, retry_after = self._throttles.popleft()
                return rate_refusal(status, reason, retry_after)
            if self._failures:
                return server_error(self._failures.popleft())
        return None

    def answer(self, path: str, params: list[tuple[str, str]], authorization: str) -> Answer:
        match = ROUTE.fullmatch(path)
        if match is None:
            return NOT_FOUND
        with self.lock:
            self.queries.append(list(params))
            answer = self._answer(match.group(1), params, authorization)
            self.served[answer.status] += 1
        return self.checked(answer)

    def checked(self, answer: Answer) -> Answer:
        if answer.checked:
            return answer
        try:
            if answer.status == 200:
                envelope = {**answer.body, "items": []}
                calendar().check_response(LIST, envelope)
            else:
                check_error(answer.body)
        except SchemaError as error:
            self.violations.append(f"{LIST}: {error}")
            return server_error(500)
        return answer

    def _answer(self, calendar_id: str, params: list[tuple[str, str]], auth: str) -> Answer:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not self._honours(token):
            return UNAUTHENTICATED
        if calendar_id not in ("primary", self.address):
            return NOT_FOUND
        if self.forbidden:
            message = "Request had insufficient authentication scopes."
            body = error_body(403, message, self.forbidden, status="PERMISSION_DENIED")
            return Answer(403, body)
        try:
            calendar().check_parameters(LIST, params, ["calendarId"])
        except SchemaError as error:
            return bad(str(error))
        refused = self._spend()
        if refused is not None:
            return refused
        self.calls[LIST] += 1
        query: dict[str, list[str]] = {}
        for name, value in params:
            query.setdefault(name, []).append(value)
        return self._list(query)

    def _honours(self, token: str) -> bool:
        if token in self._tokens:
            return True
        return self.account_of is not None and self.account_of(token) == self.address

    def _spend(self) -> Answer | None:
        now = time.monotonic()
        while self._spent and self._spent[0] <= now - self.quota_window:
            self._spent.popleft()
        if self.quota_per_minute and len(self._spent) >= self.quota_per_minute:
            wait = self._spent[0] + self.quota_window - now
            return rate_refusal(403, "userRateLimitExceeded", max(0.0, wait))
        self._spent.append(now)
        return None

    # events.list -------------------------------------------------------------------------

    def _list(self, query: dict[str, list[str]]) -> Answer:
        refused = refusal(query)
        if refused is not None:
            return refused
        size = min(MAX_PAGE, int(param(query, "maxResults", str(DEFAULT_PAGE))))
        single = param(query, "singleEvents", "false") == "true"
        shown = param(query, "showDeleted", "false") == "true"
        fingerprint = query_fingerprint(query)
        position: dict[str, Any] | None = None
        if "pageToken" in query:
            position = read_token(query["pageToken"][0])
            if position is None or position.get("q") != fingerprint:
                return bad("Invalid page token value.", "pageToken")
        if "syncToken" in query:
            since = self._sync_seq(query["syncToken"][0])
            if since is None:
                return GONE
            snapshot = position["s"] if position else self.seq
            listing = self._changes(since, snapshot, single)
        else:
            snapshot = position["s"] if position else self.seq
            time_min = time_bound(query, "timeMin")
            time_max = time_bound(query, "timeMax")
            listing = self._window(query, time_min, time_max, single, shown)
        start = 0
        if position is not None:
            start = bisect_right(listing, tuple(position["k"]), key=lambda entry: entry[0])
        page = listing[start : start + size]
        body = self._envelope(snapshot)
        body["items"] = [
            item for _, occurrence in page if (item := self._item(occurrence, single)) is not None
        ]
        if start + size < len(listing):
            last = list(page[-1][0])
            body["nextPageToken"] = write_token({"s": snapshot, "q": fingerprint, "k": last})
        else:
            body["nextSyncToken"] = self._sync_token(snapshot)
        return Answer(200, body)

    def _envelope(self, snapshot: int) -> dict[str, Any]:
        latest = max((s.updated for s in self.events.values()), default=utc_now())
        return {
            "kind": "calendar#events",
            "etag": f'"p3{snapshot:014d}g"',
            "summary": self.address,
            "description": "",
            "updated": rfc3339(latest),
            "timeZone": self.time_zone,
            "accessRole": "owner",
            "defaultReminders": [{"method": "popup", "minutes": 10}],
        }

    def _window(
        self,
        query: dict[str, list[str]],
        time_min: datetime | None,
        time_max: datetime | None,
        single: bool,
        shown: bool,
    ) -> list[tuple[tuple[Any, ...], Occurrence]]:
        """The listing of a query without sync token, sorted; cached for the pages after the
        first while nothing changes."""
        key = ("window", self.seq, query_fingerprint(query))
        cached = self._listings.get(key)
        if cached is None:
            cached = self._expand(query, time_min, time_max, shown, single)
            self._keep(key, cached)
        return cached

    def _expand(
        self,
        query: dict[str, list[str]],
        time_min: datetime | None,
        time_max: datetime | None,
        shown: bool,
        single: bool = True,
    ) -> list[tuple[tuple[Any, ...], Occurrence]]:
        uid = param(query, "iCalUID", "")
        by_update = param(query, "orderBy", "") == "updated"
        found: list[tuple[tuple[Any, ...], Occurrence]] = []
        for stored in self.events.values():
            if uid and stored.ical_uid != uid:
                continue
            # Deleted events with showDeleted, but never a deleted series' instances.
            if stored.status == "cancelled" and (not shown or (stored.recurrence and single)):
                continue
            if stored.recurrence and single:
                until = time_max or utc_now() + timedelta(days=self.horizon_days)
                occurrences: Iterable[Occurrence] = self._instances(stored, until, shown)
            elif stored.recurrence:
                occurrences = [self._master(stored), *self._exceptions(stored, shown)]
            else:
                occurrences = [self._single(stored)]
            for occurrence in occurrences:
                if time_min is not None and occurrence.end <= time_min:
                    continue
                if time_max is not None and occurrence.start >= time_max:
                    continue
                order = rfc3339(stored.updated) if by_update else occurrence.start.isoformat()
                found.append(((order, occurrence.item_id), occurrence))
        found.sort(key=lambda entry: entry[0])
        return found

    def _changes(
        self, since: int, snapshot: int, single: bool
    ) -> list[tuple[tuple[Any, ...], Occurrence]]:
        """What changed after `since` up to `snapshot`, by change, each item once."""
        key = ("changes", self.seq, since, snapshot, single)
        cached = self._listings.get(key)
        if cached is not None:
            return cached
        found: dict[str, tuple[tuple[Any, ...], Occurrence]] = {}
        horizon = utc_now() + timedelta(days=self.horizon_days)
        for event_id, seq in self.changed.items():
            if not since < seq <= snapshot:
                continue
            stored = self.events[event_id]
            if stored.recurrence and single:
                occurrences = [
                    *self._instances(stored, horizon, True, everything=True),
                    *self._gone(stored),
                ]
            elif stored.recurrence:
                occurrences = [self._master(stored), *self._exceptions(stored, True)]
            else:
                occurrences = [self._single(stored)]
            for occurrence in occurrences:
                found.setdefault(occurrence.item_id, ((seq, occurrence.item_id), occurrence))
        for instance, (event_id, seq) in self.instance_changed.items():
            if since < seq <= snapshot and instance not in found:
                stored = self.events[event_id]
                occurrence = self._instance(stored, original_of(stored, instance))
                found[instance] = ((seq, instance), occurrence)
        listing = sorted(found.values(), key=lambda entry: entry[0])
        self._keep(key, listing)
        return listing

    def _keep(self, key: tuple[Any, ...], listing: list[Any]) -> None:
        self._listings[key] = listing
        while len(self._listings) > LISTINGS_KEPT:
            self._listings.popitem(last=False)

    # Occurrences and their items ----------------------------------------------------------

    def _single(self, stored: Stored) -> Occurrence:
        start, end = self._span(stored.start, stored.end)
        return Occurrence(stored.id, stored.id, None, start, end)

    def _master(self, stored: Stored) -> Occurrence:
        start, end = self._span(stored.start, stored.end)
        return Occurrence(stored.id, stored.id, None, start, end)

    def _instances(
        self, stored: Stored, until: datetime, shown: bool, *, everything: bool = False
    ) -> Iterator[Occurrence]:
        """The series' instances starting before `until` (cancelled ones only when `shown`;
        every one, cancelled or not, with `everything`)."""
        for original in originals(stored, until):
            instance = instance_id(stored.id, original)
            exception = stored.exceptions.get(instance, {})
            cancelled = stored.status == "cancelled" or exception.get("status") == "cancelled"
            if cancelled and not (shown or everything):
                continue
            yield self._instance(stored, original)

    def _instance(self, stored: Stored, original: datetime | date) -> Occurrence:
        instance = instance_id(stored.id, original)
        exception = stored.exceptions.get(instance, {})
        start_field, end_field = instance_times(stored, original)
        start, end = self._span(
            exception.get("start", start_field), exception.get("end", end_field)
        )
        return Occurrence(instance, stored.id, original, start, end)

    def _exceptions(self, stored: Stored, shown: bool) -> Iterator[Occurrence]:
        for instance, exception in stored.exceptions.items():
            if exception.get("status") == "cancelled" and not shown:
                continue
            yield self._instance(stored, original_of(stored, instance))

    def _gone(self, stored: Stored) -> Iterator[Occurrence]:
        for instance in sorted(stored.gone):
            yield self._instance(stored, original_of(stored, instance))

    def _instance_ids(self, stored: Stored) -> set[str]:
        if not stored.recurrence or stored.status == "cancelled":
            return set()
        horizon = utc_now() + timedelta(days=self.horizon_days)
        return {o.item_id for o in self._instances(stored, horizon, False)}

    def _span(self, start: dict[str, str], end: dict[str, str]) -> tuple[datetime, datetime]:
        return self._moment(start), self._moment(end)

    def _moment(self, value: dict[str, str]) -> datetime:
        if "date" in value:  # all-day: the day in the calendar's time zone
            day = date.fromisoformat(value["date"])
            return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(self.time_zone))
        return datetime.fromisoformat(value["dateTime"])

    def _item(self, occurrence: Occurrence, single: bool) -> dict[str, Any] | None:
        """The Event resource of one occurrence, as it is now, checked against the schema
        (once per version)."""
        stored = self.events[occurrence.event_id]
        key = (occurrence.item_id, stored.version, single)
        cached = self._rendered.get(key)
        if cached is not None:
            return cached
        item = self._render(stored, occurrence, single)
        try:
            calendar().check(item, {"$ref": "Event"}, f"$.items[{occurrence.item_id}]")
        except SchemaError as error:
            self.violations.append(f"{LIST}: {error}")
            return None
        if len(self._rendered) >= ITEMS_KEPT:
            self._rendered.clear()
        self._rendered[key] = item
        return item

    def _render(self, stored: Stored, occurrence: Occurrence, single: bool) -> dict[str, Any]:
        etag = f'"{3_180_000_000_000_000 + stored.version * 1000 + len(stored.id)}"'
        if occurrence.original is None:  # a single event, or a master
            if stored.status == "cancelled":
                return {"kind": "calendar#event", "etag": etag, "id": stored.id,
                        "status": "cancelled"}  # fmt: skip
            body = self._body(stored, stored.fields, stored.start, stored.end)
            body.update(id=stored.id, sequence=stored.sequence, status=stored.status)
            if stored.recurrence and not single:
                body["recurrence"] = list(stored.recurrence)
            return {"etag": etag, **body}
        exception = stored.exceptions.get(occurrence.item_id, {})
        original = event_time(occurrence.original, stored.start.get("timeZone"))
        status = "cancelled" if stored.status == "cancelled" else stored.status
        status = str(exception.get("status", status))
        if status == "cancelled" or occurrence.item_id in stored.gone:
            return {
                "kind": "calendar#event", "etag": etag, "id": occurrence.item_id,
                "status": "cancelled", "recurringEventId": stored.id,
                "originalStartTime": original,
            }  # fmt: skip
        start_field, end_field = instance_times(stored, occurrence.original)
        fields = {**stored.fields, **{k: v for k, v in exception.items() if k not in _OWN}}
        body = self._body(
            stored, fields, exception.get("start", start_field), exception.get("end", end_field)
        )
        body.update(
            id=occurrence.item_id,
            status=status,
            sequence=int(exception.get("sequence", stored.sequence)),
            recurringEventId=stored.id,
            originalStartTime=original,
        )
        return {"etag": etag, **body}

    def _body(
        self, stored: Stored, fields: dict[str, Any], start: dict[str, str], end: dict[str, str]
    ) -> dict[str, Any]:
        organizer = dict(fields.get("organizer") or {"email": self.address})
        if organizer.get("email") == self.address:
            organizer["self"] = True
        creator = dict(fields.get("creator") or organizer)
        if creator.get("email") == self.address:
            creator["self"] = True
        eid = base64.urlsafe_b64encode(f"{stored.id} {self.address}".encode()).decode()
        body: dict[str, Any] = {
            "kind": "calendar#event",
            "htmlLink": f"https://www.google.com/calendar/event?eid={eid.rstrip('=')}",
            "created": rfc3339(stored.created),
            "updated": rfc3339(stored.updated),
            "creator": creator,
            "organizer": organizer,
            "start": dict(start),
            "end": dict(end),
            "iCalUID": stored.ical_uid,
            "reminders": {"useDefault": True},
            "eventType": "default",
        }
        for name, value in fields.items():
            if name in ("organizer", "creator", "attendees") or value is None:
                continue
            body[name] = value
        attendees = [self._attendee(a, organizer) for a in fields.get("attendees") or []]
        if attendees:
            body["attendees"] = attendees
        return body

    def _attendee(self, given: dict[str, Any], organizer: dict[str, Any]) -> dict[str, Any]:
        attendee = {"responseStatus": "needsAction", **given}
        if attendee.get("email") == self.address:
            attendee["self"] = True
        if attendee.get("email") == organizer.get("email"):
            attendee["organizer"] = True
        return attendee

    # Tokens ------------------------------------------------------------------------------

    def _sync_token(self, seq: int) -> str:
        raw = f"{self._key}:{seq}".encode()
        return "CP" + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _sync_seq(self, token: str) -> int | None:
        """The change a sync token was issued at; None when it is no longer (or never was)
        one of this calendar's."""
        if not token.startswith("CP"):
            return None
        try:
            text = base64.urlsafe_b64decode(token[2:] + "=" * (-len(token) % 4)).decode()
        except (binascii.Error, ValueError):
            return None
        key, _, seq = text.partition(":")
        if key != self._key or not seq.isdigit() or int(seq) < self.oldest_sync:
            return None
        return int(seq)
