"""Expected failures of mutations, as types of their result unions (not exceptions): a client
handles them like data. Unexpected errors are masked by the schema."""

from __future__ import annotations

import strawberry


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
