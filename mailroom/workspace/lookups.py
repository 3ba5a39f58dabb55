"""Finding a workspace's rows by the ids the API hands out. Every lookup is scoped to the
asking workspace, so that a row of another workspace is not found, exactly like an id that
matches nothing: the answer tells a client nothing about other workspaces."""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from tortoise.models import Model

from mailroom.errors import NotFoundError
from mailroom.models import Workspace

M = TypeVar("M", bound=Model)
# The same words whatever was asked for: they must not differ between "not yours" and "none".
NOT_FOUND = "Not found"


async def in_workspace(model: type[M], workspace: Workspace, row_id: UUID, **where: Any) -> M:
    """The row of `model` with this id in the workspace (and matching `where`)."""
    row = await model.get_or_none(workspace_id=workspace.id, id=row_id, **where)
    if row is None:
        raise NotFoundError(NOT_FOUND, workspace=workspace.slug)
    return row
