"""The workspace's record creation rules: who is a member, what is blocked, which of a
message's participants may become records under the record creation mode."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from uuid import UUID

from mailroom.db import Statement, uuid_of
from mailroom.envelope import Address, Envelope
from mailroom.models import BlockKind, Member, RecordCreationMode, Workspace
from mailroom.parsing.addresses.owners import is_free_mail, is_role, registrable_domain, within


class Rule:
    """Why the resolver made a record; stored in its provenance."""

    ALL = "ALL:participant"
    SELECTIVE = "SELECTIVE:member-sent-to"
    COMPANY = "company-of-person"
    MEETING_ALL = "ALL:attendee"
    MEETING_SELECTIVE = "SELECTIVE:member-met"


@dataclass(frozen=True, slots=True)
class WorkspaceRules:
    workspace_id: UUID
    mode: RecordCreationMode
    members: dict[str, UUID]  # every member address and alias -> member id
    member_domains: frozenset[str]  # registrable domains of members, free-mail ones excepted
    blocked_addresses: frozenset[str]
    blocked_domains: frozenset[str]
    # is_contact's answers: a batch asks about the same people message after message.
    _contact: dict[str, bool] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    async def load(cls, workspace_id: UUID) -> WorkspaceRules:
        return await cls.of(await Workspace.get(id=workspace_id))

    @classmethod
    async def of(cls, workspace: Workspace) -> WorkspaceRules:
        """The rules of a workspace row already read (the API reads it with the token)."""
        workspace_id = workspace.id
        members: dict[str, UUID] = {}
        blocked: list[tuple[str, str]] = []
        # One statement of our own for both: the API reads the rules on every request, and on
        # PostgreSQL each statement is a round trip that costs the API's core more than the
        # reading (bench/RESULTS.md, api). A member's row has its id; an entry's has none.
        statement = Statement()
        sql = (
            "SELECT id, email, CAST(aliases AS TEXT) FROM member"
            f" WHERE workspace_id = {statement.mark(workspace_id)}"
            " UNION ALL SELECT NULL, kind, value FROM blocklist_entry"
            f" WHERE workspace_id = {statement.mark(workspace_id)}"
        )
        for member_id, first, second in await statement.tuples(sql):
            if member_id is None:
                blocked.append((first, second))
                continue
            # Aliases are JSON, given as text (the entries' values are text).
            for address in Member.addresses_of(first, json.loads(second)):
                members[address] = uuid_of(member_id)
        domains = {registrable_domain(a.rpartition("@")[2]) for a in members}
        member_domains = frozenset(d for d in domains if d and not is_free_mail(d))
        return cls(
            workspace_id=workspace_id,
            mode=workspace.record_creation_mode,
            members=members,
            member_domains=member_domains,
            blocked_addresses=frozenset(v for k, v in blocked if k == BlockKind.ADDRESS),
            blocked_domains=frozenset(v for k, v in blocked if k == BlockKind.DOMAIN),
        )

    def is_member(self, address: str) -> bool:
        return address in self.members

    def is_blocked(self, address: str) -> bool:
        domain = address.rpartition("@")[2]
        return address in self.blocked_addresses or within(domain, self.blocked_domains)

    def exclusion(self, address: str) -> str | None:
        """Why this address never makes a record, or None if it may."""
        local, _, domain = address.rpartition("@")
        if self.is_member(address):
            return "member"
        if within(domain, self.member_domains):
            return "member-domain"
        if self.is_blocked(address):
            return "blocked"
        if is_role(local):
            return "role"
        if domain.startswith("[") or "." not in domain:
            return "no-public-domain"
        return None

    def is_contact(self, address: str) -> bool:
        """Whether interactions with this address count in relationship figures: not a
        member's, not of a member domain, not blocklisted, at a public domain. Role addresses
        (sales@) count, for their company: they make no person."""
        found = self._contact.get(address)
        if found is None:
            found = self._contact[address] = self.exclusion(address) in (None, "role")
        return found

    def may_make_company(self, domain: str) -> str | None:
        """The registrable domain a company may be made for, or None."""
        registrable = registrable_domain(domain)
        if registrable is None or is_free_mail(registrable):
            return None
        if registrable in self.member_domains or within(registrable, self.blocked_domains):
            return None
        return registrable

    def qualifying(self, envelope: Envelope) -> list[tuple[Address, str]]:
        """The participants that become people under the mode, with the rule that says so."""
        if self.mode is RecordCreationMode.NONE or envelope.bulk:
            return []
        recipients = envelope.to + envelope.cc + envelope.bcc
        if self.mode is RecordCreationMode.ALL:
            chosen, rule = envelope.from_ + recipients, Rule.ALL
        elif envelope.from_ and self.is_member(envelope.from_[0].address):
            chosen, rule = recipients, Rule.SELECTIVE
        else:
            return []
        return [(a, rule) for a in chosen if self.exclusion(a.address) is None]
