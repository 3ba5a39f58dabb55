"""Messages' MIME fetched through Graph's JSON batching (`POST /$batch`): up to 20 `$value`
requests in one HTTP request, chained with `dependsOn` so that Graph runs them one after the
other. A chained batch is one of the mailbox's 4 concurrent requests (Outlook's
MailboxConcurrency counts requests running at once), where 20 unchained parts would be 20 and
most would be refused with 429. One HTTP request then carries 20 messages: on the benchmark's
loopback the fetching alone went from about 1,300 to 7,200 messages a second, and against the
real Graph every round trip carries 20 messages instead of one.

A part's answer: 200 with the MIME base64-encoded in the JSON body (Graph's rule for content
that is not JSON), 404 (gone since listed), 424 (a part before it in the chain failed: asked
again), 429 or 503 (throttled: waited out as Retry-After says, then asked again), 401 (the
token: refreshed once), 5xx (asked again, a few times). A batch answer over its size bound is
split in two and asked again, down to single `$value` requests, where a message over the
message size bound is reported Oversize.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from mailroom.sources.graph.errors import AuthError, ProtocolError, graph_error
from mailroom.sources.graph.resources import Fetched, Gone, Oversize

PARTS = 20  # Graph's most per batch
RETRY_STATUSES = frozenset({424, 500, 502, 504})
THROTTLED_STATUSES = frozenset({429, 503})


@dataclass
class Round:
    """What one batch answered: the messages read, those to ask again, and why."""

    fetched: dict[str, Fetched] = field(default_factory=dict)
    again: list[str] = field(default_factory=list)
    throttled: Mapping[str, str] | None = None  # a throttled part's headers (Retry-After)
    failed: bool = False  # a part failed with a server error or was left out
    unauthorized: bool = False


def request_body(ids: Sequence[str], prefer: str) -> tuple[bytes, dict[str, str]]:
    """The batch of `$value` requests for `ids`, each depending on the one before; and which
    message each request id stands for."""
    requests: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for index, message_id in enumerate(ids, start=1):
        name = str(index)
        names[name] = message_id
        request: dict[str, Any] = {
            "id": name,
            "method": "GET",
            "url": f"/me/messages/{quote(message_id, safe='')}/$value",
            "headers": {"Prefer": prefer},
        }
        if index > 1:
            request["dependsOn"] = [str(index - 1)]
        requests.append(request)
    return json.dumps({"requests": requests}).encode(), names


def read_answer(body: bytes, names: Mapping[str, str], limit: int) -> Round:
    """A batch's answer, part by part; a part for no request of ours is a ProtocolError, a
    request left unanswered is asked again."""
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise ProtocolError("Graph's batch answer is not JSON") from error
    responses = payload.get("responses") if isinstance(payload, dict) else None
    if not isinstance(responses, list):
        raise ProtocolError("Graph's batch answer has no responses")
    outcome = Round()
    answered: set[str] = set()
    for response in responses:
        if not isinstance(response, dict) or response.get("id") not in names:
            raise ProtocolError("a part of Graph's batch answer answers no request of ours")
        name = str(response["id"])
        if name in answered:
            raise ProtocolError("Graph's batch answer answers one request twice")
        answered.add(name)
        _read_part(response, names[name], limit, outcome)
    for name, message_id in names.items():
        if name not in answered:
            outcome.failed = True
            outcome.again.append(message_id)
    return outcome


def _read_part(response: dict[str, Any], message_id: str, limit: int, outcome: Round) -> None:
    status = response.get("status")
    if not isinstance(status, int) or isinstance(status, bool):
        raise ProtocolError("a part of Graph's batch answer has no status")
    headers = response.get("headers") if isinstance(response.get("headers"), dict) else {}
    if status == 200:
        outcome.fetched[message_id] = _mime(response.get("body"), message_id, limit)
    elif status == 404:
        outcome.fetched[message_id] = Gone(message_id)
    elif status in THROTTLED_STATUSES:
        outcome.throttled = {str(k).lower(): str(v) for k, v in (headers or {}).items()}
        outcome.again.append(message_id)
    elif status in RETRY_STATUSES:
        outcome.failed = outcome.failed or status != 424
        outcome.again.append(message_id)
    elif status == 401:
        outcome.unauthorized = True
        outcome.again.append(message_id)
    else:
        error = graph_error(status, json.dumps(response.get("body")).encode())
        if status == 403:
            raise AuthError(f"Microsoft denies Mailroom the mailbox's mail ({error.describe()})")
        raise ProtocolError(f"Graph refused the MIME of a message: {error.describe()}")


def _mime(body: object, message_id: str, limit: int) -> Fetched:
    if not isinstance(body, str):
        raise ProtocolError("a message's MIME in Graph's batch answer is not base64 text")
    if len(body) > (limit * 4) // 3 + 4:
        return Oversize(message_id, limit)
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ProtocolError("a message's MIME in Graph's batch answer is not base64") from error
