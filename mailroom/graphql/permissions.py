"""Who may read the fields that are not for every member: the workspace's blocklist is for
admins; a mailbox's errors (which can name hosts, logins and server replies) for those who may
manage the mailbox, its owner and admins. The rules are the service layer's (`Actor`); who may
change something is decided there too, as a ForbiddenError."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission

from mailroom.graphql.context import Info


class IsAdmin(BasePermission):
    message = "only the workspace's admins may see this"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.actor.is_admin


class IsAdminOrMailboxOwner(BasePermission):
    message = "only admins and the mailbox's owner may see this"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.actor.may_manage(source.owner_id)
