"""How big a GraphQL request is, measured before it is validated or run, and refused above the
limits: field selections once its fragments are spread, depth, aliases, and an estimated cost.

Fragments are what make this hard: 22 fragments that each spread the next twice are 900 bytes
and four million fields. Walking the document with every spread expanded (as Strawberry's depth
and alias limiters do) takes time exponential in the document; a bomb froze the server for
22 s before it was refused. Here each fragment is measured once and its measure reused at every
spread, so the work is linear in the document whatever it expands to, and the figures (Python
integers, capped) can be compared with the limits before anything expands it.

The cost counts each field once per row it may return: a connection multiplies what is below
it by its page size (`first`, its default when not given, the variable's value when it is one),
a plain list by an estimate of its length.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    validate,
)
from strawberry.extensions import SchemaExtension

from mailroom.graphql import inputs

MAX_PAGE = 100
# What a plain list (participants, attachments, members) is assumed to hold.
LIST_ESTIMATE = 20
# Measures stop growing here: enough to compare with any limit, small enough to stay cheap.
CAP = 10**15


@dataclass(frozen=True, slots=True)
class Limits:
    max_fields: int
    max_depth: int
    max_aliases: int
    max_cost: int


@dataclass(frozen=True, slots=True)
class Measure:
    fields: int = 0  # field selections, every fragment spread expanded
    aliases: int = 0
    depth: int = 0  # levels of fields below this point
    cost: int = 0

    def __add__(self, other: Measure) -> Measure:
        return Measure(
            min(self.fields + other.fields, CAP),
            min(self.aliases + other.aliases, CAP),
            max(self.depth, other.depth),
            min(self.cost + other.cost, CAP),
        )


class _Measurer:
    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]
    ) -> None:
        self.schema = schema
        self.variables = variables
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.measured: dict[str, Measure] = {}
        self.open: set[str] = set()  # fragments being measured: a cycle counts nothing

    def operation(self, operation: OperationDefinitionNode) -> Measure:
        root = self.schema.get_root_type(operation.operation)
        return self.selections(operation.selection_set, root)

    def selections(self, selection: SelectionSetNode, parent: GraphQLNamedType | None) -> Measure:
        total = Measure()
        for item in selection.selections:
            if isinstance(item, FieldNode):
                total += self.field(item, parent)
            elif isinstance(item, InlineFragmentNode):
                condition = item.type_condition
                typed = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selections(item.selection_set, typed)
            elif isinstance(item, FragmentSpreadNode):
                total += self.fragment(item.name.value)
        return total

    def fragment(self, name: str) -> Measure:
        if name in self.measured:
            return self.measured[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.open:
            return Measure()  # validation reports unknown fragments and cycles
        self.open.add(name)
        measure = self.selections(
            definition.selection_set, self.schema.get_type(definition.type_condition.name.value)
        )
        self.open.discard(name)
        self.measured[name] = measure
        return measure

    def field(self, node: FieldNode, parent: GraphQLNamedType | None) -> Measure:
        alias = 1 if node.alias else 0
        definition = _field(parent, node.name.value)
        if node.name.value.startswith("__") or definition is None:
            # Introspection, or a field validation will refuse: counted, never multiplied.
            inner = Measure()
            if node.selection_set is not None:
                inner = self.selections(node.selection_set, _named(definition))
            return Measure(1, alias, 0, 1) + Measure(inner.fields, inner.aliases, 0, 0)
        inner = Measure()
        if node.selection_set is not None:
            inner = self.selections(node.selection_set, _named(definition))
        rows = self.rows(node, definition, parent)
        return Measure(
            min(1 + inner.fields, CAP),
            min(alias + inner.aliases, CAP),
            1 + inner.depth,
            min(1 + rows * inner.cost, CAP),
        )

    def rows(
        self, node: FieldNode, definition: GraphQLField, parent: GraphQLNamedType | None
    ) -> int:
        """How many rows the field may return, for the cost of what is below it."""
        if "first" in definition.args:
            return self.page_size(node, definition)
        if _is_list(definition) and not _is_connection(parent):
            return LIST_ESTIMATE
        return 1

    def page_size(self, node: FieldNode, definition: GraphQLField) -> int:
        value: Any = definition.args["first"].default_value
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            if isinstance(argument.value, IntValueNode):
                value = int(argument.value.value)
            elif isinstance(argument.value, VariableNode):
                value = self.variables.get(argument.value.name.value, MAX_PAGE)
            else:
                value = MAX_PAGE
        if not isinstance(value, int) or isinstance(value, bool):
            return MAX_PAGE
        return max(1, min(value, MAX_PAGE))


def _field(parent: GraphQLNamedType | None, name: str) -> GraphQLField | None:
    if isinstance(parent, GraphQLObjectType | GraphQLInterfaceType):
        found: GraphQLField | None = parent.fields.get(name)
        return found
    return None


def _named(definition: GraphQLField | None) -> GraphQLNamedType | None:
    if definition is None:
        return None
    kind: Any = definition.type
    while isinstance(kind, GraphQLNonNull | GraphQLList):
        kind = kind.of_type
    return kind if isinstance(kind, GraphQLNamedType) else None


def _is_list(definition: GraphQLField) -> bool:
    kind: Any = definition.type
    if isinstance(kind, GraphQLNonNull):
        kind = kind.of_type
    return isinstance(kind, GraphQLList)


def _is_connection(parent: GraphQLNamedType | None) -> bool:
    """A page's `nodes` and `edges` hold the rows its `first` already counted."""
    return isinstance(parent, GraphQLObjectType) and "pageInfo" in parent.fields


def measure(
    schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any]
) -> Iterator[tuple[str, Measure]]:
    """Each operation of the document, by name, with its measure."""
    measurer = _Measurer(schema, document, variables)
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            name = definition.name.value if definition.name else "anonymous"
            yield name, measurer.operation(definition)


def refusals(
    schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any], limits: Limits
) -> list[GraphQLError]:
    """What is wrong with the document's size, in words a client can act on."""
    # Of the variables, only whole numbers can change a measure (a page's size, `page_size`):
    # clients send the same few documents with other ids, and the measure is kept for them.
    sizes = tuple(
        sorted(
            (k, v) for k, v in variables.items() if isinstance(v, int) and not isinstance(v, bool)
        )
    )
    return [GraphQLError(message) for message in _refusals(schema, document, sizes, limits)]


@lru_cache(maxsize=256)
def _refusals(
    schema: GraphQLSchema,
    document: DocumentNode,
    sizes: tuple[tuple[str, int], ...],
    limits: Limits,
) -> tuple[str, ...]:
    errors = []
    for name, found in measure(schema, document, dict(sizes)):
        if found.fields > limits.max_fields:
            errors.append(
                f"'{name}' is too large: {found.fields} fields once its fragments are spread, "
                f"more than the {limits.max_fields} allowed"
            )
        if found.depth - 1 > limits.max_depth:
            errors.append(f"'{name}' exceeds maximum operation depth of {limits.max_depth}")
        if found.aliases > limits.max_aliases:
            errors.append(f"{found.aliases} aliases found. Allowed: {limits.max_aliases}")
        if found.cost > limits.max_cost:
            errors.append(
                f"query too expensive: estimated cost {found.cost} is over the limit "
                f"{limits.max_cost}; ask for smaller pages or fewer nested lists"
            )
    return tuple(errors)


@lru_cache(maxsize=256)
def _validated(
    schema: GraphQLSchema, document: DocumentNode, rules: tuple[Any, ...]
) -> list[GraphQLError]:
    # Clients send the same few documents again and again; validation is most of a small
    # query's time. Bounded, so that unique documents cannot grow it.
    return validate(schema, document, rules)


class RequestChecks(SchemaExtension):
    """Measures the document against the limits and checks its text, then validates it
    (cached), in that order: a document over the limits is never walked by anything that
    expands it."""

    def __init__(self, *, limits: Limits) -> None:
        super().__init__()
        self.limits = limits

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        schema = context.schema._schema
        variables = context.variables or {}
        errors = refusals(schema, context.graphql_document, variables, self.limits)
        errors += inputs.refusals(context.graphql_document, variables)
        if not errors:
            errors = _validated(schema, context.graphql_document, tuple(context.validation_rules))
        context.pre_execution_errors = errors
        yield
