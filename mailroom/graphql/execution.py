"""Executing a query: graphql-core's executor under Strawberry, with a shorter path for the
fields that are most of every page, a plain attribute of a scalar or enum type.

graphql-core resolves every field the same way: it builds a resolve info (a tuple of 14 values,
which Strawberry's basic fields never read), calls the resolver, checks whether the result is
awaitable, and completes the value through a type check per wrapper (non-null, list, leaf). For a
page of emails with their participants that is a thousand fields, and the machinery, not the
values, was most of the page's time (bench/RESULTS.md, api). A plain attribute of a leaf type
needs none of it: its value is the attribute (read by Strawberry's own resolver, so that names
and defaults stay Strawberry's), checked for null and serialized by the type, as graphql-core
would. Every other field (resolvers, arguments, lists, objects, and any field when middleware
runs) takes graphql-core's own path unchanged.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from graphql import (
    GraphQLField,
    GraphQLLeafType,
    GraphQLObjectType,
    GraphQLOutputType,
    get_nullable_type,
    is_leaf_type,
    is_non_null_type,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.pyutils import Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext


class _Plain(NamedTuple):
    """How to complete a plain leaf field."""

    resolve: Any  # Strawberry's resolver of a basic field, which reads the attribute
    type: GraphQLOutputType  # as declared, for errors
    leaf: GraphQLLeafType
    non_null: bool


def _plain_leaf(field: GraphQLField) -> _Plain | None:
    kind = field.type
    leaf = get_nullable_type(kind)
    # Strawberry marks the resolver of a field with no resolver of its own, no arguments, no
    # permission classes and no extensions: it reads the attribute, and does nothing else.
    if not getattr(field.resolve, "_is_default", False) or field.args or not is_leaf_type(leaf):
        return None
    return _Plain(field.resolve, kind, leaf, is_non_null_type(kind))


class Execution(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Each field of the query, decided once per request: None when it takes graphql-core's
        # path.
        self.plain: dict[tuple[str, str], _Plain | None] = {}
        # Strawberry always gives a middleware manager, empty unless an extension resolves.
        manager = self.middleware_manager
        self.bare = manager is None or not manager.middlewares

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: FieldDetailsList,
        path: Path,
        position_context: Any,
    ) -> Any:
        name = field_details_list[0].node.name.value
        plain = None
        if self.bare:
            key = (parent_type.name, name)
            if key not in self.plain:
                field = self.schema.get_field(parent_type, name)
                self.plain[key] = _plain_leaf(field) if field is not None else None
            plain = self.plain[key]
        if plain is None:
            return super().execute_field(
                parent_type, source, field_details_list, path, position_context
            )
        try:
            value = plain.resolve(source, None)
            if value is None:
                if plain.non_null:
                    raise TypeError(
                        f"Cannot return null for non-nullable field {parent_type.name}.{name}."
                    )
                return None
            return self.complete_leaf_value(plain.leaf, value)
        except Exception as raw_error:
            # As graphql-core does: located, and null here or in the nearest nullable parent.
            self.handle_field_error(raw_error, plain.type, field_details_list, path)
            return None
