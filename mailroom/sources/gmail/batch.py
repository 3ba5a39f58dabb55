"""Gmail's HTTP batch format (https://developers.google.com/gmail/api/guides/batch): several
GETs in one `multipart/mixed` POST to /batch/gmail/v1, each part an `application/http` request
with a Content-ID; the answer is `multipart/mixed` too, each part an HTTP response whose
Content-ID is `response-` + the request's. Parts may come back in any order; only the
Content-IDs tie them to their requests.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence

from mailroom.sources.gmail.errors import ProtocolError
from mailroom.sources.http import Reply

_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)
_STATUS_LINE = re.compile(rb"HTTP/\d(?:\.\d)? (\d{3})")


def encode(paths: Mapping[str, str]) -> tuple[str, bytes]:
    """(content type, body) for GETs of `paths` (Content-ID to path with its query)."""
    boundary = f"batch_{secrets.token_hex(16)}"
    lines: list[str] = []
    for content_id, path in paths.items():
        lines += [
            f"--{boundary}",
            "Content-Type: application/http",
            f"Content-ID: <{content_id}>",
            "",
            f"GET {path}",
            "",
        ]
    lines.append(f"--{boundary}--")
    return f"multipart/mixed; boundary={boundary}", ("\r\n".join(lines) + "\r\n").encode()


def decode(content_type: str, body: bytes, expected: Sequence[str]) -> dict[str, Reply]:
    """The answer's parts by the Content-ID of the request they answer. A part for no request
    of ours, or twice for one, is a ProtocolError; a request left unanswered is simply absent
    (the caller retries it)."""
    match = _BOUNDARY.search(content_type)
    if not content_type.lower().startswith("multipart/mixed") or match is None:
        raise ProtocolError(f"Gmail's batch answer is not multipart/mixed: {content_type[:100]}")
    delimiter = b"--" + match.group(1).encode("latin-1")
    wanted = set(expected)
    replies: dict[str, Reply] = {}
    for chunk in _parts(body, delimiter):
        headers, inner = _split_head(chunk)
        content_id = headers.get("content-id", "").strip().strip("<>")
        if not content_id.startswith("response-"):
            raise ProtocolError(f"a batch part has no response Content-ID: {content_id[:80]!r}")
        content_id = content_id.removeprefix("response-")
        if content_id not in wanted or content_id in replies:
            raise ProtocolError(f"a batch part answers no request of ours: {content_id[:80]!r}")
        replies[content_id] = _response(inner)
    return replies


def _parts(body: bytes, delimiter: bytes) -> list[bytes]:
    # A delimiter starts a line; JSON bodies cannot hold a raw line break, so no body hides one.
    text = b"\n" + body
    pieces = text.split(b"\n" + delimiter)
    if len(pieces) < 2:
        raise ProtocolError("Gmail's batch answer has no parts")
    parts = []
    for piece in pieces[1:]:
        if piece.startswith(b"--"):
            break  # the closing delimiter
        parts.append(piece.partition(b"\n")[2])  # drop the rest of the delimiter line
    return parts


def _split_head(chunk: bytes) -> tuple[dict[str, str], bytes]:
    normalized = chunk.replace(b"\r\n", b"\n")
    head, separator, rest = normalized.partition(b"\n\n")
    if not separator:
        raise ProtocolError("a batch part has no body")
    headers: dict[str, str] = {}
    for line in head.split(b"\n"):
        name, colon, value = line.partition(b":")
        if colon:
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return headers, rest


def _response(inner: bytes) -> Reply:
    match = _STATUS_LINE.match(inner)
    if match is None:
        raise ProtocolError(f"a batch part is not an HTTP response: {inner[:40]!r}")
    head, _, body = inner.partition(b"\n\n")
    headers: dict[str, str] = {}
    for line in head.split(b"\n")[1:]:
        name, colon, value = line.partition(b":")
        if colon:
            headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    return Reply(int(match.group(1)), headers, body.rstrip(b"\r\n"))
