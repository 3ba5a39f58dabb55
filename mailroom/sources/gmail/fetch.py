"""Fetching raw messages by id, two ways, so that the benchmark can choose: HTTP batches of up
to 50 messages.get calls (one request, each part spending its own quota), or single GETs with
bounded concurrency.

Batches adapt: parts refused for rate ("Too many concurrent requests for user") halve the batch
size for what follows, clean batches grow it back; a part that fails alone (5xx, missing from
the answer, 401) is sent again alone or with the other failures, never with the parts that
succeeded; an answer larger than its bound is split in two and asked again, down to single
messages, where it is reported as Oversize. 404 means the message was deleted since it was
listed: Gone.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import quote

from mailroom.sources.gmail import batch
from mailroom.sources.gmail.calls import Core, Tracker
from mailroom.sources.gmail.errors import (
    ProtocolError,
    TooLargeError,
    TransientError,
    Verdict,
    forbidden,
    google_error,
    verdict,
)
from mailroom.sources.gmail.resources import Fetched, Gone, Oversize, parse_json, raw_message
from mailroom.sources.http import Reply

MAX_BATCH = 50  # Google's advice: larger batches trigger rate limiting
# What a batch's answer may take beyond one message at its largest: the other parts, as the
# IMAP sync's batch budget bounds a FETCH.
BATCH_EXTRA_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how messages are fetched."""

    api_url: str  # e.g. https://gmail.googleapis.com
    user: str
    cost: int  # quota units of one messages.get
    limit: int  # bytes one messages.get answer may take

    def path(self, message_id: str) -> str:
        return f"/gmail/v1/users/{quote(self.user, safe='')}/messages/{quote(message_id, safe='')}"


async def fetch_one(core: Core, target: Target, message_id: str) -> Fetched:
    """messages.get?format=raw for one message."""
    try:
        reply = await core.call(
            "messages.get",
            lambda: core.send(
                "GET",
                target.api_url + target.path(message_id),
                cost=target.cost,
                calls=1,
                limit=target.limit,
                params=[("format", "raw")],
            ),
        )
    except TooLargeError:
        return Oversize(message_id, target.limit)
    return read_part(reply, message_id)


def read_part(reply: Reply, message_id: str) -> Fetched:
    if reply.status == 404:
        return Gone(message_id)
    message = raw_message(parse_json(reply.body, "messages.get"))
    if message.id != message_id:
        raise ProtocolError(
            f"Gmail answered for message {message.id[:40]} when asked for {message_id}"
        )
    return message


class ConcurrentFetcher:
    def __init__(self, core: Core, target: Target, concurrency: int) -> None:
        self.core = core
        self.target = target
        self.slots = asyncio.Semaphore(concurrency)

    async def fetch(self, ids: Sequence[str]) -> dict[str, Fetched]:
        async def one(message_id: str) -> Fetched:
            async with self.slots:
                return await fetch_one(self.core, self.target, message_id)

        found = await asyncio.gather(*(one(message_id) for message_id in ids))
        return dict(zip(ids, found, strict=True))


@dataclass
class _Round:
    fetched: dict[str, Fetched] = field(default_factory=dict)
    again: list[str] = field(default_factory=list)
    throttled: bool = False
    failed: bool = False
    unauthorized: bool = False
    token: str = ""  # the one the round was sent with, for a refresh
    handled: bool = False  # the whole batch failed, and the tracker has dealt with it
    wait_headers: dict[str, str] = field(default_factory=dict)


class BatchFetcher:
    def __init__(self, core: Core, target: Target, batch_size: int) -> None:
        self.core = core
        self.target = target
        self.ceiling = max(1, min(MAX_BATCH, batch_size))
        self.size = self.ceiling  # adapted as Google answers

    async def fetch(self, ids: Sequence[str]) -> dict[str, Fetched]:
        found: dict[str, Fetched] = {}
        pending = deque(ids)
        tracker = Tracker(self.core, "a batch of messages.get")
        cap = self.size  # lowered while an answer is too large, until one fits
        while pending:
            chunk = [pending.popleft() for _ in range(min(self.size, cap, len(pending)))]
            if len(chunk) == 1:
                found[chunk[0]] = await fetch_one(self.core, self.target, chunk[0])
                cap = self.size
                continue
            try:
                outcome = await self._round(chunk, tracker)
            except TooLargeError:
                pending.extendleft(reversed(chunk))
                cap = max(1, len(chunk) // 2)
                continue
            cap = self.size
            found.update(outcome.fetched)
            pending.extendleft(reversed(outcome.again))
            await self._settle(outcome, tracker)
        return {message_id: found[message_id] for message_id in ids}

    async def _round(self, chunk: list[str], tracker: Tracker) -> _Round:
        by_content_id = {f"m{index}": message_id for index, message_id in enumerate(chunk)}
        content_type, body = batch.encode(
            {cid: self.target.path(mid) + "?format=raw" for cid, mid in by_content_id.items()}
        )
        try:
            token, reply = await self.core.send(
                "POST",
                f"{self.target.api_url}/batch/gmail/v1",
                cost=self.target.cost * len(chunk),
                calls=len(chunk),
                limit=self.target.limit + BATCH_EXTRA_BYTES,
                content=body,
                headers={"content-type": content_type},
            )
        except TransientError as failure:
            await tracker.server_failed(str(failure))
            return _Round(again=chunk, handled=True)
        if reply.status >= 300:
            # The batch as a whole was refused: the same rules as for one request.
            error = google_error(reply.status, reply.body)
            judged = verdict(reply.status, error)
            if judged is Verdict.NOT_FOUND:
                raise ProtocolError(f"Gmail has no batch endpoint here: {error.describe()}")
            await tracker.handle(judged, error, token, reply.headers)
            return _Round(again=chunk, handled=True)
        parts = batch.decode(reply.headers.get("content-type", ""), reply.body, list(by_content_id))
        outcome = _Round(token=token)
        for content_id, message_id in by_content_id.items():
            self._read(parts.get(content_id), message_id, outcome)
        return outcome

    def _read(self, part: Reply | None, message_id: str, outcome: _Round) -> None:
        if part is None:  # left out of the answer: ask again
            outcome.failed = True
            outcome.again.append(message_id)
            return
        if part.status == 200 and len(part.body) > self.target.limit:
            outcome.fetched[message_id] = Oversize(message_id, self.target.limit)
            return
        if part.status == 200 or part.status == 404:
            outcome.fetched[message_id] = read_part(part, message_id)
            return
        error = google_error(part.status, part.body)
        judged = verdict(part.status, error)
        if judged is Verdict.REFRESH:
            outcome.unauthorized = True
        elif judged is Verdict.THROTTLED:
            outcome.throttled = True
            outcome.wait_headers = dict(part.headers)
        elif judged is Verdict.RETRY:
            outcome.failed = True
        elif judged is Verdict.FORBIDDEN:
            raise forbidden(error)
        else:
            raise ProtocolError(f"Gmail refused messages.get of {message_id}: {error.describe()}")
        outcome.again.append(message_id)

    async def _settle(self, outcome: _Round, tracker: Tracker) -> None:
        """After a round: refresh, shrink and wait, back off, or grow, by what went wrong."""
        if outcome.handled:
            return
        if outcome.unauthorized:
            await tracker.refresh(outcome.token)
        if outcome.throttled:
            went_through = len(outcome.fetched)
            if went_through:
                # Some parts went through, the rest were "too many concurrent requests": that
                # many is what Google takes at once, so batches stay at most that large.
                self.ceiling = self.size = went_through
            else:
                # All refused (the user's quota, say): smaller for now, growing back later.
                self.size = max(1, self.size // 2)
            await tracker.rate_refused(outcome.wait_headers, None)
        elif outcome.failed:
            await tracker.server_failed("parts of a batch failed or were left out")
        elif not outcome.unauthorized:
            tracker.succeeded()
            self.size = min(self.ceiling, self.size + max(1, self.size // 4))
