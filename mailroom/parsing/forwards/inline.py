"""An inline forward's quoted header block written back as the RFC 5322 message it shows.

Quoted addresses come in client shapes that are not RFC 5322: Outlook's `Jane [mailto:j@x.org]`,
`;` between recipients, links converted to text (`j@x.org<mailto:j@x.org>`). They are rewritten
to `Name <addr>` and then parsed by the gateway's strict address parser, so that nothing is
read here that normalize would not read in a real header.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import tzinfo
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address as HeaderAddress
from email.message import EmailMessage
from email.utils import format_datetime

from mailroom.envelope import Address
from mailroom.parsing.addresses.lists import parse_address_list
from mailroom.parsing.forwards.blocks import HeaderBlock
from mailroom.parsing.forwards.dates import forwarded_date
from mailroom.parsing.msgids import first_id

_ASCII_POLICY = policy.SMTP.clone(cte_type="7bit")
_UTF8_POLICY = policy.SMTPUTF8
# These run over whole recipient lists, which may be long: no pattern may backtrack over more
# than a bounded stretch, nor start again inside a run it already failed on.
_MAILTO_LINK = re.compile(r"\s{0,4}<mailto:([^\s<>\[\]]{1,320})>", re.IGNORECASE)
_MAILTO_BRACKETS = re.compile(r"\[mailto:\s*+([^\[\]\s]++)\s*+\]", re.IGNORECASE)
_MAILTO = re.compile(r"<\s*mailto:", re.IGNORECASE)
_SINGLE_QUOTED = re.compile(r"'([^'\s<>,;@]++@[^'\s<>,;]++)'")
_BOLD_NAME = re.compile(r"(?<!\*)\*++([^*<>]+?)\*++(?=\s*+<)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_MAX_VALUE = 8192
MARK_HEADER = "X-Mailroom-Unwrapped"


@dataclass
class Rebuilt:
    """The original message, or None when its sender cannot be known; and defects either way."""

    original: bytes | None
    defects: list[str] = field(default_factory=list)


def rebuild(block: HeaderBlock, client: str, zone: tzinfo | None) -> Rebuilt:
    """Write `block` back as a message; `zone` is the forwarder's, for dates shown without one."""
    defects: list[str] = []
    shown_from = block.fields.get("from", "")
    senders = _writable("From", _addresses("From", shown_from, [])[:1], defects)
    if not senders:
        shown = _CONTROL.sub(" ", shown_from).strip()[:80]
        reason = f"forwarded From shows no address ({shown!r})" if shown else "no forwarded From"
        return Rebuilt(None, [f"{reason}: the original sender cannot be known"])
    message = EmailMessage(policy=_ASCII_POLICY)
    message["From"] = senders
    for name, key in (("To", "to"), ("Cc", "cc"), ("Reply-To", "reply-to")):
        found = _writable(name, _addresses(name, block.fields.get(key, ""), defects), defects)
        if found:
            message[name] = found
    subject = _CONTROL.sub(" ", block.fields.get("subject", "")).strip()
    if subject:
        message["Subject"] = subject
    _set_date(message, block, zone, defects)
    message_id = first_id(block.fields.get("message-id"))
    if message_id is not None and message_id.isascii() and message_id.isprintable():
        message["Message-ID"] = f"<{message_id}>"
    message[MARK_HEADER] = f"inline; client={client}"
    message.set_content(block.body + "\n", charset="utf-8")
    return Rebuilt(_serialized(message), defects)


def _set_date(
    message: EmailMessage, block: HeaderBlock, zone: tzinfo | None, defects: list[str]
) -> None:
    if "date" not in block.fields:
        defects.append("forwarded header block shows no date; Date left out")
        return
    moment, problem = forwarded_date(block.fields["date"], block.languages, zone)
    if moment is not None:
        message["Date"] = format_datetime(moment)
    if problem is not None:
        defects.append(problem)


def _addresses(name: str, value: str, defects: list[str]) -> list[Address]:
    if not value.strip():
        return []
    text = _without_links(value[:_MAX_VALUE])
    text = _MAILTO.sub("<", _MAILTO_BRACKETS.sub(r"<\1>", text))
    text = _BOLD_NAME.sub(r"\1", _SINGLE_QUOTED.sub(r"\1", text))
    if '"' not in text:
        text = text.replace(";", ",")  # Outlook's list separator
    addresses, problems = parse_address_list(text)
    defects.extend(f"forwarded {name}: {problem}" for problem in problems)
    return [_without_quotes(address) for address in addresses]


def _without_links(text: str) -> str:
    """`j@x.org<mailto:j@x.org>` (a link turned to text) as `j@x.org`."""
    out: list[str] = []
    pos = 0
    for match in _MAILTO_LINK.finditer(text):
        address = match.group(1)
        shown = text[max(pos, match.start() - len(address)) : match.start()]
        if "@" in address and shown.lower() == address.lower():
            out.append(text[pos : match.start()])
            pos = match.end()
    out.append(text[pos:])
    return "".join(out)


def _without_quotes(address: Address) -> Address:
    """Outlook writes `'Jane Doe' <j@x.org>`: the single quotes are not part of the name."""
    name = address.name
    if name and len(name) > 1 and name[0] == name[-1] == "'":
        return Address(address.address, name[1:-1].strip() or None)
    return address


def _writable(name: str, addresses: list[Address], defects: list[str]) -> list[HeaderAddress]:
    written: list[HeaderAddress] = []
    for address in addresses:
        try:
            written.append(HeaderAddress(address.name or "", addr_spec=address.address))
        except (ValueError, IndexError, HeaderParseError):  # valid for normalize, not for stdlib
            defects.append(f"forwarded {name}: dropped {address.address!r}: cannot be written")
    return written


def _serialized(message: EmailMessage) -> bytes:
    """Seven-bit, unless an address has no ASCII form: then raw UTF-8 headers (RFC 6532)."""
    ascii_only = all(
        address.addr_spec.isascii()
        for name in ("From", "To", "Cc", "Reply-To")
        for address in getattr(message[name], "addresses", ())
    )
    try:
        return message.as_bytes(policy=_ASCII_POLICY if ascii_only else _UTF8_POLICY)
    except UnicodeError:  # a display name the seven-bit folder cannot encode
        return message.as_bytes(policy=_UTF8_POLICY)
