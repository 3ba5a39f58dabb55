"""What every resolver knows about the request: who asks (member and workspace; as the actor of
the service layer's rules, and as the viewer of the visibility policy), the settings, and the
request's DataLoaders."""

from __future__ import annotations

from dataclasses import dataclass, field

from starlette.requests import Request
from starlette.responses import Response
from strawberry.types import Info as StrawberryInfo

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

    def __post_init__(self) -> None:
        self.loaders = Loaders(
            self.viewer,
            self.settings.api_max_response_body_bytes,
            relationships.thresholds(self.settings),
        )

    async def team(self) -> WorkspaceRules:
        """The workspace's members, their domains and its blocklist, read once per request."""
        if self._team is None:
            self._team = await WorkspaceRules.load(self.workspace.id)
        return self._team

    @property
    def viewer(self) -> Viewer:
        return Viewer(self.workspace.id, self.member.id)

    @property
    def actor(self) -> Actor:
        """Who asks, for the service layer's rules of who may."""
        return Actor(self.member)


Info = StrawberryInfo[Context, None]
