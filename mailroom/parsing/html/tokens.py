"""Tags found in HTML by regular expressions, in linear time, as the HTML tokenizer finds them.

Shared by the cost estimate of an HTML body (`htmlcost`) and the text read without building its
tree (`htmlflat`). Every repeat is possessive and every branch may end at the end of input, so
no match backtracks and no failed match rescans what follows it.
"""

from __future__ import annotations

import re

SPACE = "\t\n\f\r "
_VALUE = rf"(?:[{SPACE}]*+=[{SPACE}]*+(?:\"[^\"]*+\"?|'[^']*+'?|[^{SPACE}>]*+))?"
# One attribute of a tag's attribute text (group 3 of `TOKEN`).
ATTRIBUTE = re.compile(rf"[^{SPACE}/>][^{SPACE}/>=]*+{_VALUE}")
# A tag as the tokenizer reads it in the data state (a quoted `>` does not end it): groups are
# the `/` of an end tag, the name and the attribute text. Comments and doctypes match with no
# groups.
TOKEN = re.compile(
    rf"<(/?)([A-Za-z][^{SPACE}/>]*+)((?:[{SPACE}/]++|[^{SPACE}/>][^{SPACE}/>=]*+{_VALUE})*+)>?"
    r"|<!--(?:-?>|.*?(?:--!?>|\Z))"  # a comment (`<!-->` is an empty one)
    r"|<[!?/][^>]*+>?",  # a doctype or bogus comment
    re.DOTALL,
)
# The same groups, with a tag ending at its first `>`: where the tokenizer's state is unknown,
# no tag start the tokenizer could see is hidden from this reading.
ROUGH_TOKEN = re.compile(rf"<(/?)([A-Za-z][^{SPACE}/>]*+)([^>]*+)>?")
# Elements whose content is text up to their end tag (in HTML content), and that end tag.
RAW_TEXT_END = {
    name: re.compile(rf"</{name}[{SPACE}/>]", re.IGNORECASE)
    for name in ("script", "style", "xmp", "iframe", "noembed", "noframes", "title", "textarea")
}


def past_end_tag(html: str, found: re.Match[str]) -> int:
    """The offset after the end tag whose start `found` (a `RAW_TEXT_END` match) is."""
    tail = TOKEN.match(html, found.start())
    return tail.end() if tail is not None else found.end()
