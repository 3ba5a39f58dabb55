"""Expected failures of mutations, as types of their result unions (not exceptions): a client
handles them like data. They come from the service layer's errors, mapped here in one table;
unexpected errors are masked by the schema.

A mutation declared with `@mutation` lets the service raise: an error whose result type is
among the mutation's union is answered as that type; any other propagates (a MailroomError as a
GraphQL error, anything else masked).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.extensions.field_extension import AsyncExtensionResolver
from strawberry.types import Info
from strawberry.types.field import StrawberryField
from strawberry.types.union import StrawberryUnion

from mailroom.errors import (
    AuthError,
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    MailroomError,
    NotFoundError,
    SettingsError,
    SyncError,
)


@strawberry.type
class NotFound:
    message: str = "Not found"


@strawberry.type
class Forbidden:
    message: str


@strawberry.type
class InvalidInput:
    message: str


@strawberry.type
class Conflict:
    message: str


@strawberry.type
class LoginFailed:
    message: str


Refusal = NotFound | Forbidden | InvalidInput | Conflict | LoginFailed

# First match wins: an AuthError is a SyncError too, and is the member's to fix by logging in
# again; a server that fails otherwise (or a key the operator has not set) is input that cannot
# be used now.
_REFUSALS: tuple[tuple[type[MailroomError], type[Refusal]], ...] = (
    (AuthError, LoginFailed),
    (ForbiddenError, Forbidden),
    (NotFoundError, NotFound),
    (ConflictError, Conflict),
    (InvalidInputError, InvalidInput),
    (SettingsError, InvalidInput),
    (SyncError, InvalidInput),
)


def refusal(error: MailroomError) -> Refusal | None:
    """The result type that answers `error`, or None if it is not an expected one."""
    for kind, answer in _REFUSALS:
        if isinstance(error, kind):
            return answer(message=str(error))
    return None


class ExpectedErrors(FieldExtension):
    """Answers the service's expected errors as the members of the field's result union."""

    def apply(self, field: StrawberryField) -> None:
        self.field = field

    async def resolve_async(
        self, next_: AsyncExtensionResolver, source: Any, info: Info, **kwargs: Any
    ) -> Any:
        try:
            return await next_(source, info, **kwargs)
        except MailroomError as error:
            answer = refusal(error)
            if answer is None or type(answer) not in self._members():
                raise
            return answer

    def _members(self) -> tuple[Any, ...]:
        union = self.field.type
        return tuple(union.types) if isinstance(union, StrawberryUnion) else ()


def mutation(resolver: Callable[..., Awaitable[Any]]) -> StrawberryField:
    """`strawberry.mutation`, with the service's expected errors answered as result types."""
    return strawberry.mutation(resolver, extensions=[ExpectedErrors()])
