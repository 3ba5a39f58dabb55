"""A member's mailboxes: default sharing, connecting IMAP, reconnecting, removing; the rules
(who may, plans, checks) are the service layer's, the same as the command line's."""

from __future__ import annotations

from typing import Annotated

import strawberry

from mailroom.graphql.context import Info
from mailroom.graphql.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    LoginFailed,
    NotFound,
    mutation,
)
from mailroom.graphql.ids import parse_id
from mailroom.graphql.workspace.types import MailboxType, SharingLevel
from mailroom.models import Provider, Sharing
from mailroom.sources.imap.accounts import connection_for
from mailroom.workspace import (
    add_imap_mailbox,
    mailbox_by_id,
    reconnect_imap_mailbox,
    remove_mailbox,
    set_mailbox_sharing,
)

MailboxResult = Annotated[MailboxType | NotFound | Forbidden, strawberry.union("MailboxResult")]
ConnectResult = Annotated[
    MailboxType | InvalidInput | Conflict | LoginFailed | Forbidden | NotFound,
    strawberry.union("ConnectResult"),
]


@strawberry.type
class RemovedMailbox:
    id: strawberry.ID
    messages_removed: int


RemoveResult = Annotated[
    RemovedMailbox | NotFound | Forbidden, strawberry.union("RemoveMailboxResult")
]


@strawberry.input
class ImapInput:
    host: str
    username: str
    password: str
    port: int | None = None
    security: str = "tls"
    address: str | None = strawberry.field(
        default=None, description="The mailbox's address, if the login name is not one."
    )


@strawberry.type
class MailboxMutations:
    @mutation
    async def set_mailbox_sharing(
        self, info: Info, mailbox: strawberry.ID, level: SharingLevel
    ) -> MailboxResult:
        """Only its owner may; it applies to the mail already synced too."""
        row = await mailbox_by_id(info.context.workspace, parse_id(mailbox))
        changed = await set_mailbox_sharing(info.context.actor, row, Sharing(level.value))
        return MailboxType.of(changed)

    @mutation
    async def connect_imap_mailbox(self, info: Info, input: ImapInput) -> ConnectResult:  # noqa: A002
        """The viewer's own IMAP mailbox, with the same checks as the command line."""
        context = info.context
        connection = connection_for(input.host, input.port, input.security, input.username)
        row = await add_imap_mailbox(
            context.settings,
            context.workspace,
            context.member,
            connection,
            input.password,
            input.address,
        )
        return MailboxType.of(row)

    @mutation
    async def reconnect_mailbox(
        self, info: Info, mailbox: strawberry.ID, password: str | None = None
    ) -> ConnectResult:
        context = info.context
        row = await mailbox_by_id(context.workspace, parse_id(mailbox), Provider.IMAP)
        row = await reconnect_imap_mailbox(context.settings, row, password, by=context.actor)
        return MailboxType.of(row)

    @mutation
    async def remove_mailbox(self, info: Info, mailbox: strawberry.ID) -> RemoveResult:
        """Its mail goes unless another mailbox also has it; people and companies stay."""
        row = await mailbox_by_id(info.context.workspace, parse_id(mailbox))
        removed = await remove_mailbox(info.context.actor, row)
        return RemovedMailbox(id=strawberry.ID(str(row.id)), messages_removed=removed)
