"""The schema's mutations, merged from the domains."""

from __future__ import annotations

from strawberry.tools import merge_types

from mailroom.graphql.emails.mutations import EmailMutations
from mailroom.graphql.mailboxes.mutations import MailboxMutations
from mailroom.graphql.people.mutations import PeopleMutations
from mailroom.graphql.workspace.members import MemberMutations
from mailroom.graphql.workspace.mutations import WorkspaceMutations

Mutation = merge_types(
    "Mutation",
    (WorkspaceMutations, MemberMutations, MailboxMutations, PeopleMutations, EmailMutations),
)
