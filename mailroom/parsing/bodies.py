"""The MIME walk: which parts are the body, which are attachments, which are calendar data.

Bodies are chosen as a mail client shows them. In multipart/alternative the last plain and the
last HTML alternative win; in multipart/related the root part (`start`, else the first) is the
body and the rest are its inline resources; in multipart/mixed and unknown multiparts every
inline text part counts, in order. Embedded messages (message/rfc822) are attachments, never
merged into the body.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import Message

from mailroom.envelope import Attachment, CalendarPart
from mailroom.parsing.attachments import attachment, calendar_part, embedded_message
from mailroom.parsing.charsets import decode_bytes
from mailroom.parsing.html.text import html_to_text
from mailroom.parsing.limits import Limits
from mailroom.parsing.parts import PartInfo, part_info

_TEXT_TYPES = frozenset({"text/plain", "text/html"})
_META_CHARSET = re.compile(
    rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([A-Za-z0-9._:-]{1,40})", re.I
)
_NEWLINES = re.compile(r"\r\n?")


@dataclass
class Segment:
    """One displayed piece of the body: plain text, HTML, or both (from an alternative)."""

    text: str | None = None
    html: str | None = None


@dataclass
class Bodies:
    """Everything the walk found."""

    text: str | None = None
    html: str | None = None
    attachments: list[Attachment] = field(default_factory=list)
    calendar: list[CalendarPart] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)  # report-types of multipart/report parts


def collect_bodies(message: Message, limits: Limits, charset: str | None = None) -> Bodies:
    """Walk `message` within `limits` and pick its bodies, attachments and calendar parts."""
    walker = _Walker(limits, charset)
    walker.walk(message, depth=0, related=False, alternative=False)
    return walker.finish()


@dataclass
class _Walker:
    limits: Limits
    charset: str | None
    found: Bodies = field(default_factory=Bodies)
    segments: list[Segment] = field(default_factory=list)
    parts: int = 0
    stopped: bool = False

    def walk(self, part: Message, *, depth: int, related: bool, alternative: bool) -> None:
        self.parts += 1
        if self.parts > self.limits.max_parts or depth > self.limits.max_depth:
            if not self.stopped:
                limit = "parts" if self.parts > self.limits.max_parts else "levels"
                self.found.defects.append(f"more MIME {limit} than allowed: walk stopped")
            self.stopped = True
            return
        info = part_info(part, self.limits, self.charset)
        if info.maintype == "message" and part.is_multipart():  # the parser nests a message
            self._message(part, info)
        elif part.is_multipart():
            self._multipart(part, info, depth)
        else:
            self._leaf(part, info, depth=depth, related=related, alternative=alternative)
        # Read last: decoding the payload adds defects (bad base64) to the part.
        self.found.defects.extend(info.defects)
        self.found.defects.extend(type(defect).__name__ for defect in part.defects)

    def _multipart(self, part: Message, info: PartInfo, depth: int) -> None:
        children = _children(part)
        if info.content_type == "multipart/alternative":
            self._alternative(children, depth)
            return
        if info.content_type == "multipart/report":
            self.found.reports.append((info.params.get("report-type") or "").lower())
        root = _root_index(children, info) if info.content_type == "multipart/related" else -1
        for index, child in enumerate(children):
            related = root >= 0 and index != root
            self.walk(child, depth=depth + 1, related=related, alternative=False)

    def _alternative(self, children: list[Message], depth: int) -> None:
        chosen = Segment()
        for child in children:
            outer, self.segments = self.segments, []
            self.walk(child, depth=depth + 1, related=False, alternative=True)
            inner, self.segments = self.segments, outer
            text = _joined(segment.text for segment in inner)
            html = _joined(segment.html for segment in inner)
            chosen.text = text if text and text.strip() else chosen.text
            chosen.html = html if html else chosen.html
        if chosen.text is not None or chosen.html is not None:
            self.segments.append(chosen)

    def _message(self, part: Message, info: PartInfo) -> None:
        if info.content_type == "message/delivery-status":
            self.found.reports.append("delivery-status")
        data, name = embedded_message(part, info)
        # Only a whole embedded message is worth a made-up `.eml` name.
        whole = info.content_type in ("message/rfc822", "message/global")
        self.found.attachments.append(
            attachment(info, data, related=False, name=name if whole else None)
        )

    def _leaf(
        self, part: Message, info: PartInfo, *, depth: int, related: bool, alternative: bool
    ) -> None:
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        ctype = info.content_type
        if ctype == "text/calendar":
            self.found.calendar.append(calendar_part(info, data))
            if info.disposition == "attachment":
                self.found.attachments.append(attachment(info, data, related=related))
        elif not related and _is_body(info, depth=depth, alternative=alternative):
            # Parts of multipart/related other than its root are resources the root refers to.
            text = _NEWLINES.sub("\n", decode_bytes(data, _charset(info, data)))
            html = ctype == "text/html"
            self.segments.append(Segment(html=text) if html else Segment(text=text))
        else:
            self.found.attachments.append(attachment(info, data, related=related))

    def finish(self) -> Bodies:
        if self.segments:
            texts = [_plain(segment, self.found.defects) for segment in self.segments]
            self.found.text = "\n\n".join(text for text in texts if text)
            self.found.html = _joined(segment.html for segment in self.segments)
        return self.found


def _plain(segment: Segment, defects: list[str]) -> str:
    """The plain text of a segment, derived from its HTML when it has no plain version."""
    if segment.text is not None:
        return segment.text
    return html_to_text(segment.html or "", defects)


def _is_body(info: PartInfo, *, depth: int, alternative: bool) -> bool:
    """Text shown in the message rather than offered as a file."""
    if info.disposition == "attachment":
        return False
    if info.content_type in _TEXT_TYPES:
        # A named text part deeper in the tree is an attached file (Apple Mail marks those
        # inline too); at the top, or as an alternative, it is what the reader sees.
        return depth == 0 or alternative or info.filename is None
    # A multipart the parser could not split (no boundary) is shown as text by clients.
    return info.maintype == "multipart"


def _charset(info: PartInfo, data: bytes) -> str | None:
    if info.charset or info.content_type != "text/html":
        return info.charset
    meta = _META_CHARSET.search(data, 0, 4096)
    return meta.group(1).decode("ascii") if meta else None


def _children(part: Message) -> list[Message]:
    payload = part.get_payload()
    items = payload if isinstance(payload, list) else []
    return [item for item in items if isinstance(item, Message)]


def _root_index(children: list[Message], info: PartInfo) -> int:
    """RFC 2387: the `start` parameter names the root by Content-ID; else the first part."""
    start = (info.params.get("start") or "").strip().strip("<>").strip()
    if start:
        for index, child in enumerate(children):
            for key, value in child.raw_items():
                if key.lower() == "content-id" and str(value).strip().strip("<>") == start:
                    return index
    return 0


def _joined(pieces: Iterable[str | None]) -> str | None:
    present = [piece for piece in pieces if piece is not None]
    return "\n".join(present) if present else None
