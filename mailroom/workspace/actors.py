"""Who asks for a change, and the two rules of who may: a workspace's settings are its admins'
to change, and a mailbox is managed by its owner or an admin.

The API acts for the member whose token it was given; the command line acts for the operator,
who runs Mailroom and may do whatever an admin may.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from mailroom.errors import ForbiddenError
from mailroom.models import Mailbox, Member, MemberRole, Workspace

ADMINS_ONLY = "only an admin of the workspace may change this"


@dataclass(frozen=True, slots=True)
class Actor:
    member: Member | None  # None: the operator, at the command line

    @property
    def is_admin(self) -> bool:
        return self.member is None or self.member.role is MemberRole.ADMIN

    def owns(self, owner_id: UUID | None) -> bool:
        return self.member is not None and self.member.id == owner_id

    def may_manage(self, owner_id: UUID | None) -> bool:
        """Whether the actor may manage (reconnect, remove, read the errors of) a mailbox."""
        return self.is_admin or self.owns(owner_id)


OPERATOR = Actor(None)


def require_admin(actor: Actor, workspace: Workspace) -> None:
    if not actor.is_admin:
        raise ForbiddenError(ADMINS_ONLY, workspace=workspace.slug)


def require_manager(actor: Actor, mailbox: Mailbox, verb: str) -> None:
    """`verb`: what is refused, as the message says it ("reconnect", "remove")."""
    if not actor.may_manage(mailbox.owner_id):
        raise ForbiddenError(
            f"only the mailbox's owner or an admin may {verb} it", mailbox=mailbox.address
        )


def require_owner(actor: Actor, mailbox: Mailbox, what: str) -> None:
    """`what`: the change refused, as the message says it ("change its sharing")."""
    if not actor.owns(mailbox.owner_id):
        raise ForbiddenError(f"only the mailbox's owner may {what}", mailbox=mailbox.address)
