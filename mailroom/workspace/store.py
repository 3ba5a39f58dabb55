"""Where the service layer meets the store, in the same way for every rule: rows found by the
ids the API hands out, always within the asking workspace, and a unique index's refusal of a
write translated once, from Tortoise's IntegrityError to a ConflictError."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID

from tortoise.exceptions import IntegrityError
from tortoise.models import Model

from mailroom.errors import ConflictError, NotFoundError
from mailroom.models import Workspace

M = TypeVar("M", bound=Model)
# The same words whatever was asked for: "not yours" and "none" must not differ, so that an
# answer tells a client nothing about other workspaces.
NOT_FOUND = "Not found"


async def in_workspace(model: type[M], workspace: Workspace, row_id: UUID, **where: Any) -> M:
    """The row of `model` with this id in the workspace (and matching `where`)."""
    row = await model.get_or_none(workspace_id=workspace.id, id=row_id, **where)
    if row is None:
        raise NotFoundError(NOT_FOUND, workspace=workspace.slug)
    return row


@contextmanager
def conflict_if_taken(
    message: str, *, workspace: str | None = None, mailbox: str | None = None
) -> Iterator[None]:
    """Wrap a write that a unique index may refuse: the name, address or domain is taken, often
    by another request since the checks before the write saw it free. Wrap it outside its
    transaction, so that the rollback comes first."""
    try:
        yield
    except IntegrityError as error:
        raise ConflictError(message, workspace=workspace, mailbox=mailbox) from error
