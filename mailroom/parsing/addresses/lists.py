"""RFC 5322 address lists, parsed strictly and in linear time.

Participants become people and companies, so an address that was not meant must never come out
of here. The stdlib parsers are no help: `email.utils.getaddresses` on this Python predates the
CVE-2023-27043 fix (it reads `alice@example.org)<bob@example.org>` as alice), and the modern
header parser of `policy.default` is superlinear on long lists. This parser tokenizes with one
regular expression (`tokens`), splits the list at top-level commas, and reads each element on
its own (`mailboxes`): an element that can be read two ways (unbalanced quotes, parentheses or
brackets, two angle-addrs, text after `>`) is dropped and explained in a defect.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailroom.envelope import Address
from mailroom.parsing.addresses.domains import normalize_domain
from mailroom.parsing.addresses.grammar import (
    PHRASE_KINDS,
    InvalidElement,
    Mailbox,
    addr_spec,
    clean_name,
    read_element,
    short,
    strip_route,
)
from mailroom.parsing.addresses.tokens import Token, tokenize
from mailroom.parsing.headertext import decode_8bit, recover_8bit, unfold

# The shapes almost every header is made of (`a@b.org`, `Name <a@b.org>`, `"Name" <a@b.org>`),
# read in one match per element. They admit no comments, escapes, groups or brackets, so they
# cannot be read two ways; anything else takes the full parser.
_SIMPLE_ADDR = r"[^\x00-\x20\x7f<>@\",;:()\[\]\\]+@[^\x00-\x20\x7f<>@\",;:()\[\]\\]+"
_SIMPLE_NAME = r"\"[^\"\\\r\n]*\"|[^\x00-\x1f\x7f\",<>()\[\]:;@\\]*?"
_SIMPLE_ELEMENT = re.compile(
    rf"[ \t]*(?:(?P<name>{_SIMPLE_NAME})[ \t]*<(?P<addr>{_SIMPLE_ADDR})>|(?P<bare>{_SIMPLE_ADDR}))"
    r"[ \t]*(?:,|$)"
)
_MAX_DEFECTS = 10


def parse_address_list(
    value: str, fallback_charset: str | None = None
) -> tuple[list[Address], list[str]]:
    """The mailboxes of an address header value, and defects for every element dropped.

    Group members are addresses; group names are not kept. Display names are decoded (RFC 2047
    encoded words, also inside quoted strings) and kept as written, even when they look like an
    address. Raw 8-bit bytes (surrogate escapes from the compat32 parser) are read as UTF-8, else
    as `fallback_charset` or Windows-1252; a name may be guessed that way, an address may not.
    """
    text, known = decode_8bit(unfold(value), fallback_charset)
    addresses = _simple_list(text)
    if addresses is not None:
        defects: list[str] = []
    else:
        parser = _ListParser(text)
        parser.run()
        addresses, defects = parser.addresses, parser.defects
    if not known:
        addresses = _without_guessed(addresses, defects)
    if len(defects) > _MAX_DEFECTS:
        defects = defects[:_MAX_DEFECTS] + [f"{len(defects) - _MAX_DEFECTS} more elements dropped"]
    return addresses, defects


def normalize_address(addr: str) -> str | None:
    """The normalized form of one bare address (`a@b.org` or `<a@b.org>`), or None if invalid."""
    tokens = [t for t in tokenize(recover_8bit(addr)) if t[0] not in ("ws", "comment")]
    if len(tokens) >= 2 and tokens[0][0] == "<" and tokens[-1][0] == ">":
        tokens = tokens[1:-1]
    try:
        return addr_spec(strip_route(tokens))
    except InvalidElement:
        return None


def _simple_list(text: str) -> list[Address] | None:
    """The addresses of a header made only of simple elements, else None."""
    addresses: list[Address] = []
    pos, end = 0, len(text)
    while pos < end:
        match = _SIMPLE_ELEMENT.match(text, pos)
        if match is None or match.end() == pos:
            return None
        pos = match.end()
        local, _, domain = (match.group("addr") or match.group("bare")).rpartition("@")
        normalized = normalize_domain(domain)
        if normalized is None or not local.strip("."):
            return None  # the full parser explains the defect
        name = match.group("name")
        if name and name.startswith('"'):
            name = name[1:-1]
        name = clean_name(name) if name else None
        addresses.append(Address(address=f"{local.lower()}@{normalized}", name=name or None))
    return addresses


def _without_guessed(addresses: list[Address], defects: list[str]) -> list[Address]:
    """Drop addresses whose non-ASCII characters come from bytes that were not UTF-8."""
    kept: list[Address] = []
    for address in addresses:
        if address.address.isascii():
            kept.append(address)
        else:
            defects.append(f"dropped {short(address.address)!r}: undecodable 8-bit address")
    return kept


@dataclass
class _ListParser:
    """Splits the token stream into list elements, tracking angle brackets and groups."""

    text: str
    addresses: list[Address] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    element: list[Token] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)  # bare phrases: `Doe` in `Doe, John <j@x>`
    start: int = 0
    in_angle: bool = False
    in_group: bool = False
    phrase_only: bool = True

    def run(self) -> None:
        for token in tokenize(self.text):
            self._feed(token)
        if self.in_angle:
            self.element.append(("error", "unbalanced '<'", len(self.text)))
        self._finish(len(self.text))
        self._drop_pending()

    def _feed(self, token: Token) -> None:
        kind = token[0]
        if self.in_angle:
            self.in_angle = kind != ">"
            if kind == "<":
                token = ("error", "'<' inside an angle-addr", token[2])
        elif kind == "<":
            self.in_angle = True
        elif kind == ">":
            token = ("error", "unbalanced '>'", token[2])
        elif kind in (",", ";") or (kind == ":" and not self.in_group and self.phrase_only):
            self._separator(token)
            return
        elif kind == ":":
            token = ("error", "unexpected ':'", token[2])
        # Tracked as tokens arrive so that deciding on a ':' never rescans the element.
        self.phrase_only = self.phrase_only and token[0] in PHRASE_KINDS
        self.element.append(token)

    def _separator(self, token: Token) -> None:
        kind, _, pos = token
        if kind == ":":
            # The element so far is the group's display name, which is not kept.
            self.element = []
            self.phrase_only = True
            self._drop_pending()
            self.in_group = True
        else:
            self._finish(pos)
        self.start = pos + 1
        if kind == ";":
            if not self.in_group:
                self.defects.append("';' used as a list separator")
            self._drop_pending()
            self.in_group = False

    def _finish(self, end: int) -> None:
        tokens, self.element = self.element, []
        self.phrase_only = True
        try:
            found = read_element(tokens)
        except InvalidElement as invalid:
            self._drop_pending()
            source = self.text[self.start : end].strip()
            self.defects.append(f"dropped {short(source)!r}: {invalid}")
            return
        if isinstance(found, str):
            self.pending.append(found)
        elif found is not None:
            self._add(found)

    def _drop_pending(self) -> None:
        if self.pending:
            self.defects.append(f"dropped {short(', '.join(self.pending))!r}: not an address")
            self.pending.clear()

    def _add(self, mailbox: Mailbox) -> None:
        name = mailbox.name
        if mailbox.name_addr and self.pending:
            # `Doe, John <j@x.org>`: the bare words before were the start of this display name.
            name = ", ".join([*self.pending, name] if name else self.pending)
            self.pending.clear()
        self._drop_pending()
        self.addresses.append(Address(address=mailbox.address, name=name or None))
