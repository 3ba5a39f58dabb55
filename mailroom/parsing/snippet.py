"""The one-line preview of a body shown in lists: no quoted text, whitespace collapsed."""

from __future__ import annotations

SNIPPET_LENGTH = 200


def make_snippet(text: str | None, length: int = SNIPPET_LENGTH) -> str:
    """At most `length` characters of `text`, skipping quoted (`>`) lines."""
    if not text:
        return ""
    words: list[str] = []
    size, pos, end = 0, 0, len(text)
    # Line by line, stopping as soon as there is enough: bodies can be megabytes long.
    while pos < end and size <= length:
        stop = text.find("\n", pos)
        stop = end if stop < 0 else stop
        line = text[pos:stop].split()
        pos = stop + 1
        if line and not line[0].startswith(">"):
            words.extend(line)
            size += sum(len(word) + 1 for word in line)
    return " ".join(words)[:length].rstrip()
