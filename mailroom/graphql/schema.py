"""The schema: the domains' queries and mutations merged, with the abuse limits."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    DisableIntrospection,
    MaskErrors,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from mailroom import logs
from mailroom.errors import MailroomError
from mailroom.graphql.context import Context
from mailroom.graphql.emails.queries import EmailQueries
from mailroom.graphql.events.queries import EventQueries
from mailroom.graphql.execution import Execution
from mailroom.graphql.measure import Limits, RequestChecks
from mailroom.graphql.metering import Metering
from mailroom.graphql.mutations import Mutation
from mailroom.graphql.people.queries import PeopleQueries
from mailroom.graphql.workspace.queries import WorkspaceQueries
from mailroom.settings import Settings

log = logging.getLogger(__name__)
Query = merge_types("Query", (WorkspaceQueries, PeopleQueries, EmailQueries, EventQueries))


def _masked(error: GraphQLError) -> bool:
    """Our own errors say what is wrong in terms a client can act on; anything else could show
    internals (SQL, paths) and becomes "Unexpected error."."""
    original = error.original_error
    return original is not None and not isinstance(original, MailroomError | GraphQLError)


class _Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log errors without the request's text. Strawberry logs `str(error)`, which quotes
        the lines of the query around the error, with whatever literal values they hold (a
        password given inline, say), and so can a validation error's message ("String cannot
        represent a non string value: ..."): a client's mistakes are logged as where and what
        kind, without a traceback, and are the client's to read, in the response. Unexpected
        errors are logged with their traceback, still without the query."""
        asking = _asking(execution_context)
        for error in errors:
            original = error.original_error
            if original is None or isinstance(original, MailroomError):
                kind = type(original).__name__ if original else "invalid"
                line = logs.fields(original, where=_where(error), error=kind, **asking)
                log.info("refused a GraphQL request", extra=line)
            else:
                line = logs.fields(where=_where(error), **asking)
                log.error("unexpected error in a GraphQL request", exc_info=original, extra=line)


def _asking(execution_context: ExecutionContext | None) -> dict[str, str]:
    """Who sent the request, for the log."""
    context = execution_context.context if execution_context else None
    if not isinstance(context, Context):
        return {}
    return {"workspace": context.workspace.slug, "member": context.member.email}


def _where(error: GraphQLError) -> str:
    if error.path:
        return ".".join(str(p) for p in error.path)
    if error.locations:
        return ", ".join(f"line {p.line} column {p.column}" for p in error.locations)
    return "the request"


def build_schema(settings: Settings) -> strawberry.Schema:
    limits = Limits(
        max_fields=settings.graphql_max_fields,
        max_depth=settings.graphql_max_depth,
        max_aliases=settings.graphql_max_aliases,
        max_cost=settings.graphql_max_cost,
    )
    # Factories: Strawberry makes each extension afresh for every operation.
    extensions: list[Callable[[], SchemaExtension]] = [
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
        # Before validation, and in time linear in the document (see `limits`); it then
        # validates, caching the result for the documents clients send again and again.
        partial(RequestChecks, limits=limits),
        partial(MaskErrors, should_mask_error=_masked),
        # Parse each document once: the cache is LRU bounded, so unique documents cannot
        # grow it.
        partial(ParserCache, maxsize=256),
        Metering,
    ]
    if not settings.graphql_introspection:
        extensions.append(DisableIntrospection)
    return _Schema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        execution_context_class=Execution,
        config=StrawberryConfig(disable_field_suggestions=not settings.graphql_introspection),
    )


def schema_sdl() -> str:
    """The schema in SDL, as committed in schema.graphql."""
    return build_schema(Settings(graphql_introspection=True)).as_str() + "\n"
