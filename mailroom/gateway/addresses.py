"""RFC 5322 address lists, parsed strictly and in linear time.

Participants become people and companies, so an address that was not meant must never come out
of here. The stdlib parsers are no help: `email.utils.getaddresses` on this Python predates the
CVE-2023-27043 fix (it reads `alice@example.org)<bob@example.org>` as alice), and the modern
header parser of `policy.default` is superlinear on long lists. This parser tokenizes with one
regular expression, splits the list at top-level commas, and reads each element on its own: an
element that can be read two ways (unbalanced quotes, parentheses or brackets, two angle-addrs,
text after `>`) is dropped and explained in a defect instead of guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mailroom.envelope import Address
from mailroom.gateway.domains import normalize_domain
from mailroom.gateway.headertext import decode_8bit, decode_encoded_words, recover_8bit, unfold

Token = tuple[str, str, int]  # kind, text, offset in the header value

# Anything that is not whitespace, a control character or an RFC 5322 special is atom text; this
# admits UTF-8 (RFC 6532). `other` catches what is left, one character at a time.
_TOKEN = re.compile(
    r"(?P<ws>[ \t\r\n]+)"
    r"|(?P<atom>[^\x00-\x20\x7f()<>\[\]:;@\\,.\"]+)"
    r'|(?P<quoted>"(?:[^"\\]|\\.)*")'
    r"|(?P<literal>\[(?:[^\[\]\\]|\\.)*\])"
    r"|(?P<special>[,:;@.<>])"
    r"|(?P<comment>\()"
    r"|(?P<other>.)",
    re.DOTALL,
)
_COMMENT_SPECIALS = re.compile(r"[()\\]")
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_DOT_ATOM_TEXT = re.compile(
    r"[^\x00-\x20\x7f()<>\[\]:;@\\,.\"]+(?:\.[^\x00-\x20\x7f()<>\[\]:;@\\,.\"]+)*"
)
_SPACES = re.compile(r"\s+")
# The shapes almost every header is made of (`a@b.org`, `Name <a@b.org>`, `"Name" <a@b.org>`),
# read in one match per element. They admit no comments, escapes, groups or brackets, so they
# cannot be read two ways; anything else takes the full parser.
_SIMPLE_ADDR = r"[^\x00-\x20\x7f<>@\",;:()\[\]\\]+@[^\x00-\x20\x7f<>@\",;:()\[\]\\]+"
_SIMPLE_NAME = r"\"[^\"\\\r\n]*\"|[^\x00-\x1f\x7f\",<>()\[\]:;@\\]*?"
_SIMPLE_ELEMENT = re.compile(
    rf"[ \t]*(?:(?P<name>{_SIMPLE_NAME})[ \t]*<(?P<addr>{_SIMPLE_ADDR})>|(?P<bare>{_SIMPLE_ADDR}))"
    r"[ \t]*(?:,|$)"
)
_PHRASE_KINDS = frozenset({"atom", "quoted", ".", "ws", "comment"})
_MAX_DEFECTS = 10
_SNIPPET = 80


class _Invalid(Exception):
    """An element that must not yield an address; the message says why."""


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


def _without_guessed(addresses: list[Address], defects: list[str]) -> list[Address]:
    """Drop addresses whose non-ASCII characters come from bytes that were not UTF-8."""
    kept: list[Address] = []
    for address in addresses:
        if address.address.isascii():
            kept.append(address)
        else:
            defects.append(f"dropped {_short(address.address)!r}: undecodable 8-bit address")
    return kept


def normalize_address(addr: str) -> str | None:
    """The normalized form of one bare address (`a@b.org` or `<a@b.org>`), or None if invalid."""
    tokens = [t for t in _tokenize(recover_8bit(addr)) if t[0] not in ("ws", "comment")]
    if len(tokens) >= 2 and tokens[0][0] == "<" and tokens[-1][0] == ">":
        tokens = tokens[1:-1]
    try:
        return _addr_spec(_strip_route(tokens))
    except _Invalid:
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
        name = _clean_name(name) if name else None
        addresses.append(Address(address=f"{local.lower()}@{normalized}", name=name or None))
    return addresses


def _tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    pos, end = 0, len(text)
    while pos < end:
        match = _TOKEN.match(text, pos)
        if match is None:  # unreachable: `other` matches any character
            break
        kind = match.lastgroup or "other"
        if kind == "comment":
            close = _comment_end(text, pos)
            if close < 0:
                tokens.append(("error", "unbalanced '('", pos))
                break
            tokens.append(("comment", text[pos + 1 : close], pos))
            pos = close + 1
            continue
        if kind == "other":
            char = match.group()
            if char in '"[':
                # An unterminated quote or literal swallows the rest of the header in one reading
                # and not in another: nothing after it can be trusted.
                tokens.append(("error", f"unbalanced {char!r}", pos))
                break
            tokens.append(("error", f"unexpected {char!r}", pos))
        elif kind == "special":
            tokens.append((match.group(), match.group(), pos))
        else:
            tokens.append((kind, match.group(), pos))
        pos = match.end()
    return tokens


def _comment_end(text: str, start: int) -> int:
    """Offset of the parenthesis closing the comment opened at `start`, or -1."""
    depth, pos = 0, start
    while (match := _COMMENT_SPECIALS.search(text, pos)) is not None:
        char = match.group()
        if char == "\\":
            pos = match.end() + 1
            continue
        depth += 1 if char == "(" else -1
        if depth == 0:
            return match.start()
        pos = match.end()
    return -1


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
        for token in _tokenize(self.text):
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
        self.phrase_only = self.phrase_only and token[0] in _PHRASE_KINDS
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
            _read_element(tokens, self)
        except _Invalid as invalid:
            self._drop_pending()
            source = self.text[self.start : end].strip()
            self.defects.append(f"dropped {_short(source)!r}: {invalid}")

    def _drop_pending(self) -> None:
        if self.pending:
            self.defects.append(f"dropped {_short(', '.join(self.pending))!r}: not an address")
            self.pending.clear()

    def add(self, address: str, name: str | None, name_addr: bool) -> None:
        if name_addr and self.pending:
            name = ", ".join([*self.pending, name] if name else self.pending)
            self.pending.clear()
        self._drop_pending()
        self.addresses.append(Address(address=address, name=name or None))


def _read_element(tokens: list[Token], parser: _ListParser) -> None:
    for kind, text, _ in tokens:
        if kind == "error":
            raise _Invalid(text)
    significant = [t for t in tokens if t[0] not in ("ws", "comment")]
    if not significant:
        return  # an empty list element (obs-addr-list) or a group with no members
    angles = sum(1 for t in significant if t[0] == "<")
    if angles > 1:
        raise _Invalid("more than one angle-addr")
    if angles == 1:
        address, name = _name_addr(tokens)
        parser.add(address, name, name_addr=True)
    elif _is_phrase(significant) and not any(t[0] == "@" for t in significant):
        parser.pending.append(_phrase_text(tokens))
    else:
        address = _addr_spec(significant)
        parser.add(address, _comment_name(tokens), name_addr=False)


def _name_addr(tokens: list[Token]) -> tuple[str, str | None]:
    open_at = next(i for i, t in enumerate(tokens) if t[0] == "<")
    close_at = next(i for i, t in enumerate(tokens) if t[0] == ">")
    if any(t[0] not in ("ws", "comment") for t in tokens[close_at + 1 :]):
        raise _Invalid("text after '>'")
    inner = [t for t in tokens[open_at + 1 : close_at] if t[0] not in ("ws", "comment")]
    if not inner:
        raise _Invalid("empty angle-addr")
    address = _addr_spec(_strip_route(inner))
    phrase = tokens[:open_at]
    return address, _phrase_text(phrase) or _comment_name(tokens)


def _strip_route(tokens: list[Token]) -> list[Token]:
    """Drop an obsolete source route (`@relay1,@relay2:`) in front of the addr-spec."""
    colons = [i for i, t in enumerate(tokens) if t[0] == ":"]
    if not colons:
        return tokens
    route, rest = tokens[: colons[-1]], tokens[colons[-1] + 1 :]
    if route[:1] and route[0][0] == "@" and all(t[0] in ("@", ",", ".", "atom") for t in route):
        return rest
    raise _Invalid("':' inside an angle-addr that is not a route")


def _addr_spec(tokens: list[Token]) -> str:
    ats = [i for i, t in enumerate(tokens) if t[0] == "@"]
    if not ats:
        raise _Invalid("no '@'")
    if len(ats) > 1:
        raise _Invalid("more than one '@'")
    local = _local_part(tokens[: ats[0]])
    domain = _domain(tokens[ats[0] + 1 :])
    return f"{local.lower()}@{domain}"


def _local_part(tokens: list[Token]) -> str:
    words: list[str] = []
    quoted = False
    previous = "."
    for kind, text, _ in tokens:
        if kind in ("atom", "quoted"):
            if previous != ".":
                raise _Invalid("words not separated by '.' in the local part")
            quoted = quoted or kind == "quoted"
            words.append(_unquote(text) if kind == "quoted" else text)
        elif kind != ".":
            raise _Invalid(f"unexpected {text!r} in the local part")
        else:
            words.append(".")
        previous = kind
    local = "".join(words)
    if not local.strip("."):
        raise _Invalid("empty local part")
    if quoted and not _DOT_ATOM_TEXT.fullmatch(local):
        return '"' + local.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return local


def _domain(tokens: list[Token]) -> str:
    if len(tokens) == 1 and tokens[0][0] == "literal":
        raw = tokens[0][1]
    else:
        raw = "".join(t[1] for t in tokens)
        # Labels and dots must alternate, starting and ending with a label.
        expected = ("atom", ".")
        if not tokens or any(t[0] != expected[i % 2] for i, t in enumerate(tokens)):
            raise _Invalid(f"invalid domain {_short(raw)!r}")
        if tokens[-1][0] != "atom":
            raise _Invalid(f"empty label in domain {_short(raw)!r}")
    domain = normalize_domain(raw)
    if domain is None:
        raise _Invalid(f"invalid domain {_short(raw)!r}")
    return domain


def _is_phrase(tokens: list[Token]) -> bool:
    return all(t[0] in _PHRASE_KINDS for t in tokens)


def _phrase_text(tokens: list[Token]) -> str:
    """A display name as written: quoted strings unquoted, whitespace collapsed, words decoded."""
    parts: list[str] = []
    for kind, text, _ in tokens:
        if kind == "quoted":
            parts.append(_unquote(text))
        elif kind == "ws":
            parts.append(" ")
        elif kind != "comment":
            parts.append(text)
    return _clean_name("".join(parts))


def _clean_name(text: str) -> str:
    return _SPACES.sub(" ", decode_encoded_words(text)).replace("\x00", "").strip()


def _comment_name(tokens: list[Token]) -> str | None:
    """The obsolete `bob@example.org (Bob)` form: comments give the name."""
    comments = [_unquote_pairs(t[1]) for t in tokens if t[0] == "comment"]
    return _clean_name(" ".join(comments)) or None


def _unquote(quoted: str) -> str:
    return _unquote_pairs(quoted[1:-1])


def _unquote_pairs(text: str) -> str:
    return _QUOTED_PAIR.sub(r"\1", text) if "\\" in text else text


def _short(text: str) -> str:
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"
