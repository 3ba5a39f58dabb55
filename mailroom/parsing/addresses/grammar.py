"""One element of an address list read as a mailbox, or rejected with the reason why.

An element is `name <addr-spec>`, a bare `addr-spec` (with the obsolete `(Name)` comment form),
a bare phrase that may be the first half of a display name with an unquoted comma, or nothing.
Anything else raises `InvalidElement`: the element cannot be trusted to mean one address.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailroom.parsing.addresses.domains import normalize_domain
from mailroom.parsing.addresses.tokens import ATEXT, Token, unquote, unquote_pairs
from mailroom.parsing.headertext import decode_encoded_words

PHRASE_KINDS = frozenset({"atom", "quoted", ".", "ws", "comment"})
_DOT_ATOM_TEXT = re.compile(rf"{ATEXT}+(?:\.{ATEXT}+)*")
_SPACES = re.compile(r"\s+")
_SNIPPET = 80


class InvalidElement(Exception):
    """An element that must not yield an address; the message says why."""


@dataclass(frozen=True)
class Mailbox:
    """A normalized address with its display name; `name_addr` if written `name <addr>`."""

    address: str
    name: str | None
    name_addr: bool


def read_element(tokens: list[Token]) -> Mailbox | str | None:
    """The mailbox of one list element, a bare phrase (str), or None for an empty element."""
    for kind, text, _ in tokens:
        if kind == "error":
            raise InvalidElement(text)
    significant = [t for t in tokens if t[0] not in ("ws", "comment")]
    if not significant:
        return None  # an empty list element (obs-addr-list) or a group with no members
    angles = sum(1 for t in significant if t[0] == "<")
    if angles > 1:
        raise InvalidElement("more than one angle-addr")
    if angles == 1:
        return _name_addr(tokens)
    if is_phrase(significant) and not any(t[0] == "@" for t in significant):
        return phrase_text(tokens)
    return Mailbox(addr_spec(significant), _comment_name(tokens), name_addr=False)


def _name_addr(tokens: list[Token]) -> Mailbox:
    open_at = next(i for i, t in enumerate(tokens) if t[0] == "<")
    close_at = next(i for i, t in enumerate(tokens) if t[0] == ">")
    if any(t[0] not in ("ws", "comment") for t in tokens[close_at + 1 :]):
        raise InvalidElement("text after '>'")
    inner = [t for t in tokens[open_at + 1 : close_at] if t[0] not in ("ws", "comment")]
    if not inner:
        raise InvalidElement("empty angle-addr")
    address = addr_spec(strip_route(inner))
    # The phrase is the name even when it looks like an address: it is never taken as one.
    name = phrase_text(tokens[:open_at]) or _comment_name(tokens)
    return Mailbox(address, name or None, name_addr=True)


def strip_route(tokens: list[Token]) -> list[Token]:
    """Drop an obsolete source route (`@relay1,@relay2:`) in front of the addr-spec."""
    colons = [i for i, t in enumerate(tokens) if t[0] == ":"]
    if not colons:
        return tokens
    route, rest = tokens[: colons[-1]], tokens[colons[-1] + 1 :]
    if route[:1] and route[0][0] == "@" and all(t[0] in ("@", ",", ".", "atom") for t in route):
        return rest
    raise InvalidElement("':' inside an angle-addr that is not a route")


def addr_spec(tokens: list[Token]) -> str:
    """`local@domain` from its tokens (no whitespace or comments), normalized."""
    ats = [i for i, t in enumerate(tokens) if t[0] == "@"]
    if not ats:
        raise InvalidElement("no '@'")
    if len(ats) > 1:
        raise InvalidElement("more than one '@'")
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
                raise InvalidElement("words not separated by '.' in the local part")
            quoted = quoted or kind == "quoted"
            words.append(unquote(text) if kind == "quoted" else text)
        elif kind != ".":
            raise InvalidElement(f"unexpected {text!r} in the local part")
        else:
            words.append(".")  # obsolete forms (`a..b`, `.a`) are odd but not ambiguous
        previous = kind
    local = "".join(words)
    if not local.strip("."):
        raise InvalidElement("empty local part")
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
            raise InvalidElement(f"invalid domain {short(raw)!r}")
        if tokens[-1][0] != "atom":
            raise InvalidElement(f"empty label in domain {short(raw)!r}")
    domain = normalize_domain(raw)
    if domain is None:
        raise InvalidElement(f"invalid domain {short(raw)!r}")
    return domain


def is_phrase(tokens: list[Token]) -> bool:
    return all(t[0] in PHRASE_KINDS for t in tokens)


def phrase_text(tokens: list[Token]) -> str:
    """A display name as written: quoted strings unquoted, whitespace collapsed, words decoded."""
    parts: list[str] = []
    for kind, text, _ in tokens:
        if kind == "quoted":
            parts.append(unquote(text))
        elif kind == "ws":
            parts.append(" ")
        elif kind != "comment":
            parts.append(text)
    return clean_name("".join(parts))


def clean_name(text: str) -> str:
    """Encoded words decoded, whitespace collapsed (after decoding: words may encode newlines)."""
    return _SPACES.sub(" ", decode_encoded_words(text)).replace("\x00", "").strip()


def _comment_name(tokens: list[Token]) -> str | None:
    """The obsolete `bob@example.org (Bob)` form: comments give the name."""
    comments = [unquote_pairs(t[1]) for t in tokens if t[0] == "comment"]
    return clean_name(" ".join(comments)) or None


def short(text: str) -> str:
    """`text` cut to a length fit for a defect message."""
    return text if len(text) <= _SNIPPET else text[: _SNIPPET - 1] + "…"
