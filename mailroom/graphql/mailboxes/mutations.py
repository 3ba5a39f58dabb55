"""A member's mailboxes: default sharing, connecting IMAP, reconnecting, removing."""

from __future__ import annotations

from typing import Annotated

import strawberry

from mailroom.errors import ConflictError, InvalidInputError, NotFoundError, SettingsError
from mailroom.graphql.context import Info
from mailroom.graphql.errors import Conflict, Forbidden, InvalidInput, LoginFailed, NotFound
from mailroom.graphql.ids import parse_id
from mailroom.graphql.workspace.types import MailboxType, SharingLevel
from mailroom.intake.removal import remove_mailbox
from mailroom.models import Mailbox, Provider, Sharing
from mailroom.sources.imap.accounts import (
    add_imap_mailbox,
    connection_for,
    reconnect_imap_mailbox,
)
from mailroom.sources.imap.errors import AuthError, SyncError

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
    @strawberry.mutation
    async def set_mailbox_sharing(
        self, info: Info, mailbox: strawberry.ID, level: SharingLevel
    ) -> MailboxResult:
        """Only its owner may; it applies to the mail already synced too."""
        row = await _mailbox(info, mailbox)
        if row is None:
            return NotFound()
        if row.owner_id != info.context.member.id:
            return Forbidden(message="only the mailbox's owner may change its sharing")
        row.default_sharing = Sharing(level.value)
        await row.save(update_fields=["default_sharing"])
        return MailboxType.of(row)

    @strawberry.mutation
    async def connect_imap_mailbox(self, info: Info, input: ImapInput) -> ConnectResult:  # noqa: A002
        """The viewer's own IMAP mailbox, with the same checks as the command line."""
        context = info.context
        try:
            connection = connection_for(input.host, input.port, input.security, input.username)
            row = await add_imap_mailbox(
                context.settings,
                context.workspace,
                context.member,
                connection,
                input.password,
                input.address,
            )
        except AuthError as error:
            return LoginFailed(message=str(error))
        except ConflictError as error:
            return Conflict(message=str(error))
        except (InvalidInputError, SettingsError, SyncError) as error:
            return InvalidInput(message=str(error))
        return MailboxType.of(row)

    @strawberry.mutation
    async def reconnect_mailbox(
        self, info: Info, mailbox: strawberry.ID, password: str | None = None
    ) -> ConnectResult:
        row = await _mailbox(info, mailbox)
        if row is None or row.provider is not Provider.IMAP:
            return NotFound()
        if row.owner_id != info.context.member.id and not info.context.is_admin:
            return Forbidden(message="only the mailbox's owner or an admin may reconnect it")
        try:
            row = await reconnect_imap_mailbox(info.context.settings, row, password)
        except AuthError as error:
            return LoginFailed(message=str(error))
        except (InvalidInputError, SettingsError, SyncError, NotFoundError) as error:
            return InvalidInput(message=str(error))
        return MailboxType.of(row)

    @strawberry.mutation
    async def remove_mailbox(self, info: Info, mailbox: strawberry.ID) -> RemoveResult:
        """Its mail goes unless another mailbox also has it; people and companies stay."""
        row = await _mailbox(info, mailbox)
        if row is None:
            return NotFound()
        if row.owner_id != info.context.member.id and not info.context.is_admin:
            return Forbidden(message="only the mailbox's owner or an admin may remove it")
        removed = await remove_mailbox(row.id, row.workspace_id)
        return RemovedMailbox(id=strawberry.ID(str(row.id)), messages_removed=removed)


async def _mailbox(info: Info, mailbox: strawberry.ID) -> Mailbox | None:
    return await Mailbox.get_or_none(workspace=info.context.workspace, id=parse_id(mailbox))
