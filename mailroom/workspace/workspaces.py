"""Workspaces and their settings: creating, listing and removing them, finding one by slug, and
changing its name, plan, record creation mode and sender policy."""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailroom.errors import ConflictError, InvalidInputError, NotFoundError
from mailroom.intake.removal import remove_workspace as delete_workspace
from mailroom.models import (
    Company,
    Mailbox,
    Member,
    Message,
    Person,
    Plan,
    RecordCreationMode,
    SenderPolicy,
    Workspace,
)
from mailroom.sources.smtp import recipients
from mailroom.workspace.actors import Actor, require_admin
from mailroom.workspace.store import conflict_if_taken

_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


async def create_workspace(slug: str, name: str | None = None, plan: Plan = Plan.FREE) -> Workspace:
    if not _SLUG.match(slug):
        raise InvalidInputError(
            f"invalid workspace slug {slug!r}: use 1-64 lowercase letters, digits and inner hyphens"
        )
    taken = f"workspace {slug!r} already exists"
    if await Workspace.filter(slug=slug).exists():
        raise ConflictError(taken, workspace=slug)
    with conflict_if_taken(taken, workspace=slug):
        return await Workspace.create(slug=slug, name=name or slug, plan=plan)


async def get_workspace(slug: str) -> Workspace:
    workspace = await Workspace.get_or_none(slug=slug)
    if workspace is None:
        raise NotFoundError(f"no workspace {slug!r}", workspace=slug)
    return workspace


async def workspaces() -> list[Workspace]:
    """Every workspace, by slug."""
    return await Workspace.all().order_by("slug")


@dataclass(frozen=True, slots=True)
class WorkspaceSize:
    members: int
    mailboxes: int
    messages: int
    people: int
    companies: int


async def workspace_size(workspace: Workspace) -> WorkspaceSize:
    """What the workspace holds: what `workspace list` shows and removing it takes away."""
    where = {"workspace_id": workspace.id}
    return WorkspaceSize(
        members=await Member.filter(**where).count(),
        mailboxes=await Mailbox.filter(**where).count(),
        messages=await Message.filter(**where).count(),
        people=await Person.filter(**where).count(),
        companies=await Company.filter(**where).count(),
    )


async def remove_workspace(workspace: Workspace) -> None:
    """Remove a workspace with everything in it: members, tokens, mailboxes, mail, people and
    companies. The operator's verb: no member may."""
    await delete_workspace(workspace.id)


async def update_workspace(
    workspace: Workspace,
    *,
    name: str | None = None,
    plan: Plan | None = None,
    record_creation_mode: RecordCreationMode | None = None,
    sender_policy: SenderPolicy | None = None,
) -> Workspace:
    """Change the given settings of a workspace; the others stay as they are. The operator's
    verb: members change the record creation mode through `set_record_creation_mode`."""
    changes = {
        "name": name,
        "plan": plan,
        "record_creation_mode": record_creation_mode,
        "sender_policy": sender_policy,
    }
    for field, value in changes.items():
        if value is not None:
            setattr(workspace, field, value)
    await workspace.save()
    return workspace


async def set_record_creation_mode(
    actor: Actor, workspace: Workspace, mode: RecordCreationMode
) -> Workspace:
    """Admins only. Not retroactive: the mode decides what new mail makes, and nothing already
    made is removed."""
    require_admin(actor, workspace)
    workspace.record_creation_mode = mode
    await workspace.save(update_fields=["record_creation_mode"])
    return workspace


async def set_sender_policy(actor: Actor, workspace: Workspace, policy: SenderPolicy) -> Workspace:
    """Admins only: how the forwarding gateway decides that mail comes from a member."""
    require_admin(actor, workspace)
    workspace.sender_policy = policy
    await workspace.save(update_fields=["sender_policy"])
    return workspace


def workspace_address(workspace: Workspace, mail_domain: str) -> str:
    """The address the whole workspace forwards or BCCs to."""
    return recipients.workspace_address(workspace.slug, mail_domain)
