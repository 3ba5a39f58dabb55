"""What every resolver knows about the request: who asks (member and workspace; as the actor of
the service layer's rules, and as the viewer of the visibility policy), the settings, and the
request's DataLoaders."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from graphql.pyutils import Path
from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import Info as StrawberryInfo
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from mailroom.graphql.loaders import Loaders
from mailroom.models import Member, Workspace
from mailroom.resolver.rules import WorkspaceRules
from mailroom.settings import Settings
from mailroom.workspace import Actor, Viewer, relationships


@dataclass
class Context:
    request: Request
    response: Response | None
    settings: Settings
    member: Member
    workspace: Workspace
    loaders: Loaders = field(init=False)
    _team: WorkspaceRules | None = field(default=None, init=False)
    _below: dict[tuple[tuple[str, ...], str], list[SelectedField]] = field(
        default_factory=dict, init=False
    )

    def __post_init__(self) -> None:
        self.loaders = Loaders(
            self.viewer,
            self.settings.api_max_response_body_bytes,
            relationships.thresholds(self.settings),
            self.team,
        )

    async def team(self) -> WorkspaceRules:
        """The workspace's members, their domains and its blocklist, read once per request."""
        if self._team is None:
            # From the workspace read with the token, for this request.
            self._team = await WorkspaceRules.of(self.workspace)
        return self._team

    def below(self, info: StrawberryInfo[Any, Any], name: str) -> list[SelectedField]:
        """The fields called `name` anywhere under the field being resolved (through fragments
        and nested fields): what a page resolver prepares for before its items resolve. Each
        item of a list resolves the same field of the document and asks the same question:
        it is answered once per request."""
        key = (_field_path(info.path), name)
        if key not in self._below:
            self._below[key] = [f for s in info.selected_fields for f in _under(s, name)]
        return self._below[key]

    @property
    def viewer(self) -> Viewer:
        return Viewer(self.workspace.id, self.member.id)

    @property
    def actor(self) -> Actor:
        """Who asks, for the service layer's rules of who may."""
        return Actor(self.member)


Info = StrawberryInfo[Context, None]


def selects(selection: Selection, name: str) -> bool:
    """Whether `selection`'s own fields, or its fragments' fields, include `name`."""
    return any(
        (isinstance(s, SelectedField) and s.name == name)
        or (isinstance(s, InlineFragment | FragmentSpread) and selects(s, name))
        for s in selection.selections
    )


def _under(selection: Selection, name: str) -> Iterator[SelectedField]:
    # A document's depth is bounded before execution (schema.Limits), and so is this walk.
    for s in selection.selections:
        if isinstance(s, SelectedField) and s.name == name:
            yield s
        yield from _under(s, name)


def _field_path(path: Path) -> tuple[str, ...]:
    """The response keys from the root to a field, without the indexes of list items: the
    same for every item of a list (aliases, which may select differently, differ)."""
    keys: list[str] = []
    node: Path | None = path
    while node is not None:
        if isinstance(node.key, str):
            keys.append(node.key)
        node = node.prev
    return tuple(keys)
