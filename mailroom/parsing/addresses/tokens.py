"""The lexical tokens of RFC 5322 structured headers, scanned in linear time.

One regular expression recognises every token; comments, which nest, are closed by a counting
scan. Anything that cannot be a token becomes an `error` token, and an unterminated quoted
string, comment or domain literal ends the scan, because what follows it reads one way if it is
closed and another way if it is not.
"""

from __future__ import annotations

import re

Token = tuple[str, str, int]  # kind, text, offset in the header value

# Anything that is not whitespace, a control character or an RFC 5322 special is atom text; this
# admits UTF-8 (RFC 6532). `other` catches what is left, one character at a time.
ATEXT = r"[^\x00-\x20\x7f()<>\[\]:;@\\,.\"]"
_TOKEN = re.compile(
    r"(?P<ws>[ \t\r\n]+)"
    rf"|(?P<atom>{ATEXT}+)"
    r'|(?P<quoted>"(?:[^"\\]|\\.)*")'
    r"|(?P<literal>\[(?:[^\[\]\\]|\\.)*\])"
    r"|(?P<special>[,:;@.<>])"
    r"|(?P<comment>\()"
    r"|(?P<other>.)",
    re.DOTALL,
)
_COMMENT_SPECIALS = re.compile(r"[()\\]")
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)


def tokenize(text: str) -> list[Token]:
    """Tokens of `text`: ws, atom, quoted, literal, comment (inner text), error, or a special."""
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
                tokens.append(("error", f"unbalanced {char!r}", pos))
                break  # the rest of the header is inside the quote in one reading only
            tokens.append(("error", f"unexpected {char!r}", pos))
        else:
            tokens.append((match.group() if kind == "special" else kind, match.group(), pos))
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


def unquote(quoted: str) -> str:
    """The content of a quoted string token, its quoted pairs resolved."""
    return unquote_pairs(quoted[1:-1])


def unquote_pairs(text: str) -> str:
    return _QUOTED_PAIR.sub(r"\1", text) if "\\" in text else text
