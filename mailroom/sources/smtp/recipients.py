"""Which workspace (and member) an address at the mail domain belongs to.

`acme@mail.example.com` is workspace `acme`'s address; `acme+TOKEN@mail.example.com` is the
personal address of the member whose forwarding token is TOKEN.
"""

from __future__ import annotations

from dataclasses import dataclass

from mailroom.models import Member, Workspace
from mailroom.parsing.addresses.lists import normalize_address


def workspace_address(slug: str, mail_domain: str) -> str:
    return f"{slug}@{mail_domain}"


def personal_address(slug: str, token: str, mail_domain: str) -> str:
    return f"{slug}+{token}@{mail_domain}"


def read_address(local: str) -> tuple[str, str | None]:
    """The workspace slug and the forwarding token (None for the workspace's own address)
    of an address's local part at the mail domain; the inverse of the two above."""
    slug, plus, token = local.partition("+")
    return slug, token if plus else None


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
    slug, token = read_address(local)
    workspace = await Workspace.get_or_none(slug=slug)
    if workspace is None:
        return None
    if token is None:
        return Recipient(normalized, workspace, None)
    member = await Member.get_or_none(workspace_id=workspace.id, forwarding_token=token)
    return Recipient(normalized, workspace, member) if member else None
