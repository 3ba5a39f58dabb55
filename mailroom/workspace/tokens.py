"""API tokens: made for a member by an admin (or the operator) and shown once; only their
SHA-256 is kept, and a request's token is looked up by it. Admins list and revoke them; a member
may revoke their own. A revoked token is kept, refused, and no longer listed."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

from mailroom.errors import ForbiddenError, NotFoundError
from mailroom.models import ApiToken, Member, Workspace
from mailroom.workspace.actors import ADMINS_ONLY, OPERATOR, Actor, require_admin
from mailroom.workspace.store import NOT_FOUND

TOKEN_PREFIX = "mr_"
# When a token was last used, to within this: one write per token per interval, not one per
# request.
LAST_USED_PRECISION = timedelta(minutes=15)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str  # shown once, never stored
    row: ApiToken


async def issue_token(actor: Actor, member: Member) -> IssuedToken:
    """A new API token for a member of the actor's workspace, admins only; only its hash is
    kept."""
    if not actor.is_admin or (
        actor.member is not None and actor.member.workspace_id != member.workspace_id
    ):
        raise ForbiddenError(ADMINS_ONLY)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = await ApiToken.create(
        workspace_id=member.workspace_id,
        member=member,
        token_hash=hash_token(token),
        prefix=token[:10],
    )
    return IssuedToken(token, row)


async def create_token(member: Member) -> str:
    """Create an API token for a member, as the operator does, and return it."""
    return (await issue_token(OPERATOR, member)).token


async def tokens_of(
    actor: Actor, workspace: Workspace, member: Member | None = None
) -> list[ApiToken]:
    """The workspace's tokens that are not revoked (only `member`'s, if given), oldest first,
    each with its member; admins only."""
    require_admin(actor, workspace)
    query = ApiToken.filter(workspace_id=workspace.id, revoked_at=None)
    if member is not None:
        query = query.filter(member_id=member.id)
    return await query.order_by("created_at").select_related("member")


async def find_token(workspace: Workspace, reference: str) -> ApiToken:
    """A token of the workspace that is not revoked, with its member, by its id or by the
    prefix `token list` shows (the token's first ten characters)."""
    text = reference.strip()
    query = ApiToken.filter(workspace_id=workspace.id, revoked_at=None).select_related("member")
    try:
        query = query.filter(id=UUID(text))
    except ValueError:
        query = query.filter(prefix=text)
    found = await query.limit(2)
    if len(found) == 1:
        return found[0]
    if found:
        message = f"two tokens of {workspace.slug!r} begin {text}: give the id instead"
    else:
        message = f"no token {text!r} in workspace {workspace.slug!r}"
    raise NotFoundError(
        f"{message} (`mailroom token list {workspace.slug}` shows them)", workspace=workspace.slug
    )


async def token_by_id(workspace: Workspace, token_id: UUID) -> ApiToken:
    """A token of the workspace that is not revoked, by id."""
    row = await ApiToken.get_or_none(workspace_id=workspace.id, id=token_id, revoked_at=None)
    if row is None:
        raise NotFoundError(NOT_FOUND, workspace=workspace.slug)
    return row


async def revoke_token(actor: Actor, workspace: Workspace, token: ApiToken) -> ApiToken:
    """Revoke a token, as an admin or its own member may: it is refused from the next request
    on. Returns the row, revoked."""
    if not (actor.is_admin or actor.owns(token.member_id)):
        raise ForbiddenError(
            "only an admin or the token's own member may revoke it", workspace=workspace.slug
        )
    token.revoked_at = datetime.now(UTC)
    await token.save(update_fields=["revoked_at"])
    return token


async def token_holder(token: str) -> tuple[Member, Workspace] | None:
    """The token's member and workspace, or None for a token unknown or revoked. Read afresh
    for every request (one query), so that a revoked token or a changed role counts at once."""
    row = (
        await ApiToken.filter(token_hash=hash_token(token), revoked_at=None)
        .select_related("member__workspace")
        .first()
    )
    if row is None:
        return None
    now = datetime.now(UTC)
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_PRECISION:
        await ApiToken.filter(id=row.id).update(last_used_at=now)
    member: Member = row.member
    workspace: Workspace = member.workspace
    return member, workspace
