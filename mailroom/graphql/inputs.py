"""Text a client sends, checked once for the whole request before anything runs.

A NUL character is valid in a GraphQL string but not in a database's text (PostgreSQL refuses
it, SQLite keeps it and cuts it short elsewhere): refused here, in the document's literals and
in the variables alike, with an answer the client can act on.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import lru_cache
from typing import Any

from graphql import DocumentNode, GraphQLError, StringValueNode, Visitor, visit

MESSAGE = "invalid input: text must not contain NUL characters"


class _Literals(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found = False

    def enter_string_value(self, node: StringValueNode, *_: Any) -> Any:
        if "\x00" in node.value:
            self.found = True
            return self.BREAK
        return None


def _strings(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON value, keys included, without recursion (a client may
    nest it deeper than Python's stack)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            yield item
        elif isinstance(item, Mapping):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)


def refusals(document: DocumentNode, variables: Mapping[str, Any]) -> list[GraphQLError]:
    if _in_literals(document) or any("\x00" in text for text in _strings(variables)):
        return [GraphQLError(MESSAGE)]
    return []


@lru_cache(maxsize=256)
def _in_literals(document: DocumentNode) -> bool:
    # Clients send the same few documents again and again (ParserCache keeps them parsed).
    literals = _Literals()
    visit(document, literals)
    return literals.found
