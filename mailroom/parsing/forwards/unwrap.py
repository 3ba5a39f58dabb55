"""Recovering the original message from a forward that a member sent to a workspace address.

Members forward mail so that its original sender, recipients, date and subject are recorded,
not their own wrapper. `unwrap_forward` tells four cases apart:

- ATTACHED: the original is a message/rfc822 part ("forward as attachment"); its exact bytes.
- INLINE: the body quotes it under a header block (Gmail, Outlook, Outlook on the web, Apple
  Mail, Thunderbird, Yahoo, in a dozen languages); rebuilt as a message from that block.
- NOT_FORWARD: nothing says forward (a BCC), or the subject says reply: a reply that quotes a
  forward is the member's own message.
- UNRECOVERABLE: something says forward, but no original with a known sender was found.

Evidence is weighed in this order. A quoted header block wins over an attached message, since
the forwarded mail may carry attached mail of its own; but Outlook's blocks, which replies write
too, count only when the subject says forward, while a separator only forwards write (`Forwarded
message`, `Begin forwarded message:`) counts on its own. An attached message counts when
something says forward: the subject, the same subject as the attached message's, or no text of
the member's own around it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import tzinfo
from email.message import Message
from enum import StrEnum

from mailroom.parsing.bodies import Bodies, collect_bodies
from mailroom.parsing.dates import parse_date
from mailroom.parsing.forwards.attached import Attached, find_attached
from mailroom.parsing.forwards.blocks import HeaderBlock, Scan, scan_text
from mailroom.parsing.forwards.inline import rebuild
from mailroom.parsing.forwards.markers import Intent, subject_intent
from mailroom.parsing.headers import read_headers
from mailroom.parsing.headertext import header_text, recover_8bit, unfold
from mailroom.parsing.html.text import html_to_text
from mailroom.parsing.limits import Limits
from mailroom.parsing.parser import Parsed, parse_message
from mailroom.parsing.subjects import normalize_subject

__all__ = ["UNWRAP_LIMITS", "ForwardKind", "Unwrapped", "unwrap_forward"]

# What unwrapping reads a message with (a reader reuses its parse when its own limits match).
UNWRAP_LIMITS = Limits()
_MAX_HTML = 2 * 1024 * 1024  # turned to text only to look for a block the plain text lacks
_MAX_DEFECTS = 20


class ForwardKind(StrEnum):
    """What a message sent to a workspace address turned out to be."""

    NOT_FORWARD = "not-forward"
    ATTACHED = "attached"
    INLINE = "inline"
    UNRECOVERABLE = "unrecoverable"


@dataclass(frozen=True, slots=True)
class Unwrapped:
    """The result of `unwrap_forward`.

    `original` is the RFC 5322 message that was forwarded (ATTACHED and INLINE only). `client`
    names the format recognized (`gmail`, `outlook`, `outlook-web`, `apple-mail`, `thunderbird`,
    `yahoo`, `generic`, or `attached`). `defects` says why nothing was recovered, or what was
    guessed on the way. `parsed` is the message as parsed with the default limits, when no
    original was found: a reader that keeps the message as it came normalizes that rather than
    parsing it a second time (which costs as much as the first: a second on a 3 MB header).
    """

    kind: ForwardKind
    original: bytes | None = None
    client: str | None = None
    defects: tuple[str, ...] = ()
    parsed: Parsed | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class _Wrapper:
    """What the forward itself says: its subject's intent, time zone and bodies."""

    subject: str | None
    intent: Intent
    zone: tzinfo | None
    bodies: Bodies


def unwrap_forward(raw: bytes) -> Unwrapped:
    """Find the original message in `raw`, a message a member forwarded or BCC'd. Never raises."""
    try:
        return _unwrap(bytes(raw))
    except Exception as error:  # bad mail is data: the caller keeps the message as it came
        defect = f"unwrapping failed ({type(error).__name__}): the message is kept as it came"
        return Unwrapped(ForwardKind.UNRECOVERABLE, defects=(defect,))


def _unwrap(raw: bytes) -> Unwrapped:
    parsed = parse_message(raw, UNWRAP_LIMITS)
    found = _find(raw, parsed)
    return found if found.original is not None else replace(found, parsed=parsed)


def _find(raw: bytes, parsed: Parsed) -> Unwrapped:
    wrapper = _read_wrapper(parsed)
    if wrapper.intent is Intent.REPLY:
        return Unwrapped(ForwardKind.NOT_FORWARD)
    scan = _scan(wrapper)
    block = scan.block
    strong = block is not None and block.separator is not None and block.separator.strong
    if block is not None and (strong or wrapper.intent is Intent.FORWARD):
        return _inline(block, wrapper)
    attached = None if parsed.headers_only else find_attached(raw, parsed.message, UNWRAP_LIMITS)
    if attached is not None and _says_forward(attached, wrapper, scan):
        return Unwrapped(ForwardKind.ATTACHED, attached.data, "attached", attached.defects)
    return _unrecovered(wrapper, scan, attached)


def _read_wrapper(parsed: Parsed) -> _Wrapper:
    message: Message = parsed.message
    headers = read_headers(message, UNWRAP_LIMITS.max_headers, UNWRAP_LIMITS.max_header_length)
    subject_value = headers.first("subject")
    subject = header_text(subject_value) if subject_value is not None else None
    date_value = headers.first("date")
    moment = parse_date(recover_8bit(unfold(date_value))) if date_value is not None else None
    bodies = Bodies() if parsed.headers_only else collect_bodies(message, UNWRAP_LIMITS)
    zone = moment.tzinfo if moment is not None else None
    return _Wrapper(subject, subject_intent(subject), zone, bodies)


def _scan(wrapper: _Wrapper) -> Scan:
    """Scan the plain text; the HTML's text too when that finds no block but a forward is likely."""
    text = wrapper.bodies.text or ""
    scan = scan_text(text)
    likely = wrapper.intent is Intent.FORWARD or scan.marker is not None
    if scan.block is not None or scan.reply or not likely or not wrapper.bodies.html:
        return scan
    html_text = html_to_text(wrapper.bodies.html[:_MAX_HTML])
    if html_text == text:
        return scan
    second = scan_text(html_text)
    return second if second.block is not None or scan.marker is None else scan


def _inline(block: HeaderBlock, wrapper: _Wrapper) -> Unwrapped:
    client = _client(block, wrapper.bodies.html)
    rebuilt = rebuild(block, client, wrapper.zone)
    defects = tuple(rebuilt.defects[:_MAX_DEFECTS])
    if rebuilt.original is None:
        return Unwrapped(ForwardKind.UNRECOVERABLE, None, client, defects)
    return Unwrapped(ForwardKind.INLINE, rebuilt.original, client, defects)


def _client(block: HeaderBlock, html: str | None) -> str:
    """The client that wrote the block; Outlook's desktop and web blocks differ only in HTML."""
    client = block.separator.client if block.separator is not None else "outlook"
    if client not in ("outlook", "outlook-web") or not html:
        return client
    if "divRplyFwdMsg" in html:  # the id Outlook on the web gives the quoted header block
        return "outlook-web"
    if "MsoNormal" in html:  # Word's paragraph class: Outlook for Windows
        return "outlook"
    return client


def _says_forward(attached: Attached, wrapper: _Wrapper, scan: Scan) -> bool:
    """Whether an attached message is the forwarded original rather than an attachment."""
    if wrapper.intent is Intent.FORWARD or (scan.marker is not None and scan.marker.strong):
        return True
    inner = attached.subject_source.get("subject")
    inner_subject = normalize_subject(header_text(str(inner))) if inner is not None else ""
    if inner_subject and inner_subject == normalize_subject(wrapper.subject):
        return True
    return not (wrapper.bodies.text or "").strip()  # nothing but the attached message


def _unrecovered(wrapper: _Wrapper, scan: Scan, attached: Attached | None) -> Unwrapped:
    if scan.marker is not None and scan.marker.strong:
        reason = "a forward separator was found but no quoted header block with a From follows it"
    elif wrapper.intent is not Intent.FORWARD:
        skipped = "an attached message was not taken for a forward: nothing says forward"
        return Unwrapped(ForwardKind.NOT_FORWARD, defects=(skipped,) if attached else ())
    elif scan.reply:
        reason = "the original is quoted as in a reply (`On ... wrote:`), without its header block"
    else:
        reason = "the subject says forward but no quoted header block or attached message was found"
    return Unwrapped(ForwardKind.UNRECOVERABLE, defects=(reason,))
