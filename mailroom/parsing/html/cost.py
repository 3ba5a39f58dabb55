"""What building the tree of an HTML body would cost, estimated in one linear pass over its tags.

The HTML tree builder (lexbor's, like every browser's, follows the WHATWG algorithm) is linear on
real mail and quadratic on hostile bodies: every tag may walk the stack of open elements (`has a
p element in button scope`), formatting elements (`<b>`, `<font>`) are compared with the open
ones of their name and cloned again after every block that closed them, the attributes of an
element are checked against each other, and an `<option>` against those before it in its
`<select>`. 150,000 nested `<div>`s (1.6 MB) took minutes. `tree_cost` adds that work up from
the tags alone, so that a body over budget is read by a linear fallback instead.

The estimate must never be far below the real work, so its stack pops only what the tree
builder certainly pops, as the algorithm decides it: an end tag pops up to its element when it
finds it near the top with nothing in between that stops it (a table, a block for `</b>`), a
start tag closes a `<p>` in scope or an element of its own kind (`<li>` after `<li>`).
Whatever it cannot be sure of stays open, so sloppy real mail merely looks somewhat more
expensive than it is. Tags are read as the tokenizer reads them in HTML content; in foreign
content (`<svg>`, `<math>`), in a `<select>` and in scripts with `<!--`, where the tokenizer's
state is harder to follow, they are read up to the first `>` (no tag start can hide from that)
and nothing is popped any more.
"""

from __future__ import annotations

from mailroom.parsing.html.tokens import ATTRIBUTE, RAW_TEXT_END, ROUGH_TOKEN, TOKEN, past_end_tag

# Where following the tokenizer needs more than the data state, reading turns rough.
_ROUGH_FROM = frozenset({"svg", "math", "select", "frameset"})

_VOID = frozenset(
    "area base basefont bgsound br col embed frame hr image img input keygen link meta param"
    " source track wbr".split()
)
_FORMATTING = frozenset("a b big code em font i nobr s small strike strong tt u".split())
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
# The elements the algorithm treats as structure; an end tag passes only over the others.
_SPECIAL = frozenset(
    "address applet area article aside base basefont bgsound blockquote body br button caption"
    " center col colgroup dd details dir div dl dt embed fieldset figcaption figure footer form"
    " frame frameset head header hgroup hr html iframe img input keygen li link listing main"
    " marquee menu meta nav noembed noframes noscript object ol p param plaintext pre script"
    " search section select source style summary table tbody td template textarea tfoot th"
    " thead title tr track ul wbr xmp".split()
).union(_HEADINGS)
# What an end tag of a special element does not reach past ("has an element in scope").
_SCOPE = frozenset("applet caption html table td th marquee object template".split())
_WIDER_SCOPE = {"p": _SCOPE | {"button"}, "li": _SCOPE | {"ol", "ul"}}
# End tags that pop nothing (`</body>` only switches mode), or only the element on top.
_NO_POP = frozenset({"body", "html", "head", "br"})
_TOP_ONLY = frozenset({"form"})
_CLOSES_P = frozenset(
    "address article aside blockquote center details dialog dir div dl fieldset figcaption"
    " figure footer header hgroup main menu nav ol p search section summary ul pre listing"
    " form hr xmp li dd dt h1 h2 h3 h4 h5 h6".split()
)
# A start tag closes an open element of its kind: the nearest one found before a barrier
# (None: only the element on top).
_LIST_BARRIER = _SPECIAL - {"address", "div", "p"}
_P = frozenset({"p"})
_CLOSES_OWN_KIND: dict[str, tuple[frozenset[str], frozenset[str] | None]] = {
    "li": (frozenset({"li"}), _LIST_BARRIER),
    "dd": (frozenset({"dd", "dt"}), _LIST_BARRIER),
    "dt": (frozenset({"dd", "dt"}), _LIST_BARRIER),
    "option": (frozenset({"option"}), None),
    "optgroup": (frozenset({"option", "optgroup"}), None),
    "td": (frozenset({"td", "th"}), None),
    "th": (frozenset({"td", "th"}), None),
    **{name: (frozenset(_HEADINGS), None) for name in _HEADINGS},
}
# How far below the top an end tag's element is looked for: misnesting in real mail is local,
# and a bounded look keeps this pass linear. Deeper, nothing is popped (the estimate grows).
_REACH = 8
# What one step costs, relative to visiting one open element (about a nanosecond): cloning a
# formatting element again after a block closed it creates an element and copies attributes;
# the adoption agency walks the stack up to eight times.
_CLONE = 200
_ADOPTION = 8


class _Active:
    """The list of active formatting elements as the estimate sees it.

    An element is active while open and, once popped by another element's end tag, while stale:
    the tree builder clones those again at the next text, until their own end tag comes. It
    keeps at most three with the same name and attributes (the "Noah's Ark" clause), so
    formatting that real mail repeats without closing it stays cheap.
    """

    def __init__(self) -> None:
        self.count = 0  # entries in the list
        self.by_name: dict[str, int] = {}  # entries in the list, by tag name
        self.open: dict[str, int] = {}  # elements on the stack, by tag name
        self._same: dict[str, int] = {}  # elements open or stale, by name and attributes
        self._stale: dict[str, list[str]] = {}  # stale elements' keys by name, latest last

    def push(self, name: str, key: str) -> None:
        self.open[name] = self.open.get(name, 0) + 1
        self._add(name, key, 1)

    def closed(self, name: str, key: str) -> None:
        """Popped by its own end tag: no longer active."""
        self.open[name] -= 1
        self._add(name, key, -1)

    def popped(self, name: str, key: str) -> None:
        """Popped by another element: active until its own end tag."""
        self.open[name] -= 1
        self._stale.setdefault(name, []).append(key)

    def retire(self, name: str) -> None:
        """An end tag for `name` with none open: the latest stale one leaves the list."""
        stale = self._stale.get(name)
        if stale and not self.open.get(name):
            self._add(name, stale.pop(), -1)

    def _add(self, name: str, key: str, change: int) -> None:
        before = self._same.get(key, 0)
        self._same[key] = before + change
        listed = min(3, before + change) - min(3, before)
        self.by_name[name] = self.by_name.get(name, 0) + listed
        self.count += listed


class _Scan:
    """The open elements as the estimate sees them, and the work added up so far."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.keys: list[str] = []  # a formatting element's name and attributes, else ""
        self.active = _Active()
        self.options = 0  # `<option>`s since the outermost open `<select>` opened
        self.rough = False  # tags read up to the first `>`, nothing popped
        self.cost = 0

    def run(self, html: str) -> int:
        pos, end = 0, len(html)
        while pos < end:
            match = (ROUGH_TOKEN if self.rough else TOKEN).search(html, pos)
            if match is None:
                break
            pos = match.end()
            closing, name, attributes = match.group(1, 2, 3)
            if name is None:
                continue  # a comment or doctype
            name = name.lower()
            if closing:
                self.end(name)
                continue
            self.start(name, attributes)
            if self.rough:
                continue
            if name in _ROUGH_FROM:
                self.rough = True
            elif name == "plaintext":
                break  # the rest is text
            elif name in RAW_TEXT_END:
                pos = self._past_raw_text(html, pos, name)
        return self.cost

    def start(self, name: str, attributes: str) -> None:
        names, active = self.names, self.active
        if not self.rough and names:
            if name in _CLOSES_P:  # "close a p element", when one is in button scope
                self._pop(self._reach(_P, _WIDER_SCOPE["p"]))
            own_kind = _CLOSES_OWN_KIND.get(name)
            if own_kind is not None:
                self._pop(self._reach(*own_kind))
        count = len(ATTRIBUTE.findall(attributes)) if attributes else 0
        pairs = (count + 1) * (count + 1)  # attributes checked against each other
        cost = len(names) + pairs + _CLONE * active.count
        key = ""
        if name in _FORMATTING:
            # Compared with every active one of its name, attribute by attribute.
            cost += active.by_name.get(name, 0) * pairs
            if name == "a" or name == "nobr":
                cost += _ADOPTION * (len(names) + active.count)
            key = f"{name} {' '.join(attributes.split())}"
            active.push(name, key)
        elif name == "option" or name == "optgroup":
            self.options += 1
            cost += self.options  # the select's options are walked for each new one
        self.cost += cost
        if name not in _VOID:
            names.append(name)
            self.keys.append(key)
        elif key:
            active.closed(name, key)  # not an element that stays open

    def end(self, name: str) -> None:
        names, active = self.names, self.active
        cost = len(names) + _CLONE * active.count
        formatting = name in _FORMATTING
        if formatting:
            cost += _ADOPTION * (len(names) + active.count)
        self.cost += cost
        if self.rough or name in _NO_POP:
            return
        reach = self._end_reach(name)
        self._pop(reach - 1)
        if reach:
            names.pop()
            key = self.keys.pop()
            if key:
                active.closed(name, key)
            elif name == "select":
                self.options = 0
        elif formatting:
            active.retire(name)

    def _pop(self, count: int) -> None:
        """Pop `count` elements, for another element's end tag or start tag."""
        for _ in range(count):
            name, key = self.names.pop(), self.keys.pop()
            if key:
                self.active.popped(name, key)

    def _end_reach(self, name: str) -> int:
        """How many elements `name`'s end tag pops: up to its element, if certainly so."""
        if name in _TOP_ONLY:
            return self._reach(frozenset({name}), None)
        if name in _SPECIAL:
            return self._reach(frozenset({name}), _WIDER_SCOPE.get(name, _SCOPE))
        # Formatting and other elements are found only past elements that are not special.
        return self._reach(frozenset({name}), _SPECIAL)

    def _reach(self, targets: frozenset[str], barrier: frozenset[str] | None) -> int:
        """The depth of the nearest element in `targets` below no element in `barrier` (None:
        the top one only), or 0."""
        names = self.names
        for depth in range(1, min(len(names), _REACH) + 1):
            above = names[-depth]
            if above in targets:
                return depth
            if barrier is None or above in barrier:
                return 0
        return 0

    def _past_raw_text(self, html: str, pos: int, name: str) -> int:
        """Past the content of a raw text element and its end tag (or to the end)."""
        found = RAW_TEXT_END[name].search(html, pos)
        stop = found.start() if found is not None else len(html)
        if name == "script" and "<!--" in html[pos:stop]:
            # Escaped script text may run past this end tag: read on roughly from here.
            self.rough = True
            return pos
        self.end(name)
        if found is None:
            return stop
        return past_end_tag(html, found)


def tree_cost(html: str) -> int:
    """The work of building `html`'s tree, in visits of one open element (roughly ns)."""
    return _Scan().run(html)
