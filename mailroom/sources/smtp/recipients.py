"""Which workspace (and member) an address at the mail domain belongs to.

`acme@mail.example.com` is workspace `acme`'s address; `acme+TOKEN@mail.example.com` is the
personal address of the member whose forwarding token is TOKEN.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailroom.models import Member, Workspace
from mailroom.parsing.addresses.lists import normalize_address


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    workspace: Workspace
    member: Member | None  # set for a personal address


async def find_recipient(address: str, mail_domain: str) -> Recipient | None:
    normalized = normalize_address(address)
    if normalized is None:
        return None
    local, _, domain = normalized.rpartition("@")
    if domain != mail_domain.lower():
        return None
    slug, plus, token = local.partition("+")
    workspace = await Workspace.get_or_none(slug=slug)
    if workspace is None:
        return None
    if not plus:
        return Recipient(normalized, workspace, None)
    member = await Member.get_or_none(workspace_id=workspace.id, forwarding_token=token)
    return Recipient(normalized, workspace, member) if member else None
