"""Tortoise's IntegrityError, translated once for the service layer: a unique constraint that
refuses a write means the name, address or domain is taken (often by another request since the
checks before the write saw it free), which callers hear as a ConflictError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tortoise.exceptions import IntegrityError

from mailroom.errors import ConflictError


@contextmanager
def conflict_if_taken(
    message: str, *, workspace: str | None = None, mailbox: str | None = None
) -> Iterator[None]:
    """Wrap a write (outside its transaction, so that the rollback comes first)."""
    try:
        yield
    except IntegrityError as error:
        raise ConflictError(message, workspace=workspace, mailbox=mailbox) from error
