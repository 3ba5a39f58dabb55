"""HTML bodies as plain text, roughly as a mail client would lay them out.

The text comes from the tree lexbor builds, unless building it would cost more than the body's
size allows (`htmlcost`: hostile nesting makes it quadratic); such a body is read tag by tag
instead (`htmlflat`), and a defect says so.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

from mailroom.parsing.html.cost import tree_cost
from mailroom.parsing.html.flat import flat_marked_text

_DROPPED = ["script", "style", "head", "title", "template", "noscript"]
_BLOCK_NAMES = (
    "p,div,br,li,tr,h1,h2,h3,h4,h5,h6,table,ul,ol,dl,dt,dd,blockquote,pre,hr,section,article,"
    "header,footer,nav,aside,main,address,figure,figcaption,form,center"
)
_BLOCKS = frozenset(_BLOCK_NAMES.split(","))
_CELLS = "td,th"
# Stand-ins inserted as text at block edges; private-use characters never met in real mail text.
_BREAK = "\ue000"
_CELL = "\ue001"
_SPACES = re.compile(r"[ \t\r\n\f\v\u00a0]+")
_BREAKS = re.compile(r" ?\ue000[\ue000 ]*")
_MAX_BLANK_LINES = re.compile(r"\n{3,}")
# The tree is built when its estimated cost (about a nanosecond per unit) stays within this
# much per character plus a constant: real mail stays under 30 per character, nested or
# repeated hostile markup grows with the square of its size.
TREE_COST_PER_CHAR = 100
TREE_COST_BASE = 1_000_000


def html_to_text(html: str, defects: list[str] | None = None) -> str:
    """Visible text of `html`: one line per block, entities unescaped, blank lines collapsed.

    When the body is read without its tree, a sentence saying so is added to `defects`.
    """
    if not html.strip():
        return ""
    cost, budget = tree_cost(html), TREE_COST_BASE + TREE_COST_PER_CHAR * len(html)
    if cost <= budget:
        text = _tree_text(html)
    else:
        text = flat_marked_text(html, _BLOCKS, _BREAK, _CELL)
        if defects is not None:
            defects.append(
                f"HTML body too deeply nested or repetitive to lay out (estimated cost {cost:,},"
                f" over {budget:,}): its text was read tag by tag"
            )
    text = _SPACES.sub(" ", text).replace(_CELL, " ")
    text = _BREAKS.sub(lambda match: "\n" * min(match.group().count(_BREAK), 2), text)
    return _MAX_BLANK_LINES.sub("\n\n", text).strip().replace("\x00", "")


def _tree_text(html: str) -> str:
    """The text of the tree, with stand-ins at block edges and before table cells."""
    tree = LexborHTMLParser(html)
    tree.strip_tags(_DROPPED)
    for node in tree.css(_BLOCK_NAMES):
        node.insert_before(_BREAK)
        if node.tag != "br":
            node.insert_after(_BREAK)
    for node in tree.css(_CELLS):
        node.insert_before(_CELL)
    root = tree.root
    return root.text(deep=True) if root is not None else ""
