"""HTML bodies as plain text, roughly as a mail client would lay them out."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

_DROPPED = ["script", "style", "head", "title", "template", "noscript"]
_BLOCKS = (
    "p,div,br,li,tr,h1,h2,h3,h4,h5,h6,table,ul,ol,dl,dt,dd,blockquote,pre,hr,section,article,"
    "header,footer,nav,aside,main,address,figure,figcaption,form,center"
)
_CELLS = "td,th"
# Stand-ins inserted as text at block edges; private-use characters never met in real mail text.
_BREAK = "\ue000"
_CELL = "\ue001"
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0]+")
_BREAKS = re.compile(r" ?\ue000[\ue000 ]*")
_MAX_BLANK_LINES = re.compile(r"\n{3,}")


def html_to_text(html: str) -> str:
    """Visible text of `html`: one line per block, entities unescaped, blank lines collapsed."""
    if not html.strip():
        return ""
    tree = LexborHTMLParser(html)
    tree.strip_tags(_DROPPED)
    for node in tree.css(_BLOCKS):
        node.insert_before(_BREAK)
        if node.tag != "br":
            node.insert_after(_BREAK)
    for node in tree.css(_CELLS):
        node.insert_before(_CELL)
    root = tree.root
    text = root.text(deep=True) if root is not None else ""
    text = _SPACES.sub(" ", text).replace(_CELL, " ")
    text = _BREAKS.sub(lambda match: "\n" * min(match.group().count(_BREAK), 2), text)
    return _MAX_BLANK_LINES.sub("\n\n", text).strip().replace("\x00", "")
