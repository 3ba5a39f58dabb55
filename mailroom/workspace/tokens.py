"""API tokens: made for a member and shown once; only their SHA-256 is kept, and a request's
token is looked up by it."""

from __future__ import annotations

import hashlib
import secrets

from mailroom.models import ApiToken, Member, Workspace

TOKEN_PREFIX = "mr_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(member: Member) -> str:
    """Create an API token for a member and return it; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await ApiToken.create(
        workspace_id=member.workspace_id,
        member=member,
        token_hash=hash_token(token),
        prefix=token[:10],
    )
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
    member: Member = row.member
    workspace: Workspace = member.workspace
    return member, workspace
