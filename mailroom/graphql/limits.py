"""The estimated cost of a query, refused above a limit before anything runs.

Depth, alias and token limits come from Strawberry; a query can stay within all of them and
still ask for 100 people x 100 emails x every participant. The estimate multiplies each field
by the page sizes (`first`, default 20) of the connections above it, so that cost tracks the
rows a query may read.
"""

from __future__ import annotations

from typing import Any

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    VariableNode,
)

DEFAULT_PAGE = 20


def cost_limit_rule(max_cost: int) -> type[ASTValidationRule]:
    class CostLimit(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            self.fragments = {
                f.name.value: f
                for f in context.document.definitions
                if isinstance(f, FragmentDefinitionNode)
            }

        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            cost = self._cost(node.selection_set, 1, frozenset())
            if cost > max_cost:
                self.report_error(
                    GraphQLError(
                        f"query too expensive: estimated cost {cost} is over the limit "
                        f"{max_cost}; ask for smaller pages or fewer nested lists",
                        node,
                    )
                )

        def _cost(
            self, selection: SelectionSetNode | None, weight: int, seen: frozenset[str]
        ) -> int:
            if selection is None:
                return 0
            total = 0
            for item in selection.selections:
                if isinstance(item, FieldNode):
                    inner = weight * _page(item) if _is_list(item) else weight
                    total += weight + self._cost(item.selection_set, inner, seen)
                elif isinstance(item, InlineFragmentNode):
                    total += self._cost(item.selection_set, weight, seen)
                elif isinstance(item, FragmentSpreadNode) and item.name.value not in seen:
                    fragment = self.fragments.get(item.name.value)
                    if fragment is not None:
                        deeper = seen | {item.name.value}
                        total += self._cost(fragment.selection_set, weight, deeper)
            return total

    return CostLimit


def _is_list(field: FieldNode) -> bool:
    """A connection or list field: one with a page size argument."""
    return any(argument.name.value == "first" for argument in field.arguments or ())


def _page(field: FieldNode) -> int:
    for argument in field.arguments or ():
        if argument.name.value == "first":
            if isinstance(argument.value, IntValueNode):
                return max(1, int(argument.value.value))
            if isinstance(argument.value, VariableNode):
                return 100  # not known before execution: assume the largest page
    return DEFAULT_PAGE
