"""The text of an HTML body read tag by tag, without building its tree: linear on any input.

Used for bodies whose tree would cost too much to build (`htmlcost`). It marks block edges and
table cells as the tree-based reading does and drops what that reading drops (scripts, styles,
titles, templates, noscript), so its text differs from a browser's only where the tree builder
would have moved or repaired content.
"""

from __future__ import annotations

import html as entities

from mailroom.parsing.html.tokens import RAW_TEXT_END, TOKEN, past_end_tag

# Elements dropped with their content; the first are raw text, the others are parsed. A head
# is not dropped: its end tag is often left out (the tree builder ends it at the first text),
# and what it holds that is not text (title, style, script, meta) is dropped anyway.
_DROPPED_RAW = frozenset({"script", "style", "title"})
_DROPPED = frozenset({"template", "noscript"})
_CELLS = frozenset({"td", "th"})


def flat_marked_text(html: str, blocks: frozenset[str], block_break: str, cell: str) -> str:
    """The text of `html`, with `block_break` at both edges of every element in `blocks` (only
    before a `br`) and `cell` before every table cell."""
    out: list[str] = []
    dropped = 0  # open elements whose content is dropped
    pos = end = 0
    while (match := TOKEN.search(html, pos)) is not None:
        if dropped == 0 and match.start() > end:
            out.append(entities.unescape(html[end : match.start()]))
        pos = end = match.end()
        closing, name, _ = match.group(1, 2, 3)
        if name is None:
            continue  # a comment or doctype
        name = name.lower()
        if name in _DROPPED:
            dropped = max(0, dropped - 1) if closing else dropped + 1
        elif name == "br" or name in blocks:
            # `</br>` is read as `<br>`, and a `br` has a break before it only.
            out.append(block_break)
        elif name in _CELLS and not closing:
            out.append(cell)
        if not closing and name in RAW_TEXT_END:
            pos = end = _past_raw_text(html, pos, name, out if dropped == 0 else None)
    if dropped == 0 and end < len(html):
        out.append(entities.unescape(html[end:]))
    return "".join(out)


def _past_raw_text(html: str, pos: int, name: str, out: list[str] | None) -> int:
    """Past a raw text element's content and end tag, keeping the content unless dropped."""
    found = RAW_TEXT_END[name].search(html, pos)
    stop = found.start() if found is not None else len(html)
    if out is not None and name not in _DROPPED_RAW:
        text = html[pos:stop]
        out.append(entities.unescape(text) if name == "textarea" else text)
    return past_end_tag(html, found) if found is not None else stop
