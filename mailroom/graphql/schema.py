"""The schema: the domains' queries and mutations merged, with the abuse limits."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import strawberry
from graphql import ASTValidationRule, GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaskErrors,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from mailroom.errors import MailroomError
from mailroom.graphql.emails.queries import EmailQueries
from mailroom.graphql.limits import cost_limit_rule
from mailroom.graphql.mutations import Mutation
from mailroom.graphql.people.queries import PeopleQueries
from mailroom.graphql.workspace.queries import WorkspaceQueries
from mailroom.settings import Settings

Query = merge_types("Query", (WorkspaceQueries, PeopleQueries, EmailQueries))


def _masked(error: GraphQLError) -> bool:
    """Our own errors say what is wrong in terms a client can act on; anything else could show
    internals (SQL, paths) and becomes "Unexpected error."."""
    original = error.original_error
    return original is not None and not isinstance(original, MailroomError)


def _validation_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """The depth, alias and cost rules, made once. Strawberry's limiter extensions make a new
    rule class each time they are built, which is every request; validation results are cached
    by their rules, so the cache would never hit."""
    depth = QueryDepthLimiter(max_depth=settings.graphql_max_depth)
    aliases = MaxAliasesLimiter(max_alias_count=settings.graphql_max_aliases)
    return [
        *depth.validation_rules,
        *aliases.validation_rules,
        cost_limit_rule(settings.graphql_max_cost),
    ]


def build_schema(settings: Settings) -> strawberry.Schema:
    # Factories: Strawberry makes each extension afresh for every operation.
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
        partial(AddValidationRules, _validation_rules(settings)),
        partial(MaskErrors, should_mask_error=_masked),
        # Clients send the same few documents again and again: parse and validate each once
        # (validation, limits included, is most of a small query's time). The caches are LRU
        # bounded, so unique documents cannot grow them.
        partial(ParserCache, maxsize=256),
        partial(ValidationCache, maxsize=256),
    ]
    if not settings.graphql_introspection:
        extensions.append(DisableIntrospection)
    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        config=StrawberryConfig(disable_field_suggestions=not settings.graphql_introspection),
    )


def schema_sdl() -> str:
    """The schema in SDL, as committed in schema.graphql."""
    return build_schema(Settings(graphql_introspection=True)).as_str() + "\n"
