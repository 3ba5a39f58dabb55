"""A member's mailboxes: default sharing, connecting IMAP or an account by consent (Google),
reconnecting, removing; the rules (who may, plans, checks) are the service layer's, the same
as the command line's."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import strawberry

from mailroom.choices import AccountProvider
from mailroom.errors import InvalidInputError
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
from mailroom.sources.caldav import account_for
from mailroom.sources.imap.accounts import connection_for
from mailroom.workspace import (
    ConsentLink,
    add_caldav_mailbox,
    add_imap_mailbox,
    mailbox_by_id,
    reconnect_caldav_mailbox,
    reconnect_imap_mailbox,
    remove_mailbox,
    set_mailbox_sharing,
    start_connection,
    start_reconnection,
)


@strawberry.enum(name="AccountProvider", description="Accounts connected by consent (OAuth).")
class AccountProviderType(Enum):
    GOOGLE = "GOOGLE"
    MICROSOFT = "MICROSOFT"


@strawberry.type(
    description="The account's owner opens `url` in their browser, signs in to the provider "
    "and allows Mailroom; the mailbox is saved (or its access renewed) once they have. The URL "
    "works once, until `expiresAt`."
)
class ConsentRequired:
    url: str
    provider: str = strawberry.field(description="As people name it: Google.")
    expires_at: datetime

    @classmethod
    def of(cls, link: ConsentLink) -> ConsentRequired:
        return cls(url=link.url, provider=link.provider, expires_at=link.expires_at)


MailboxResult = Annotated[MailboxType | NotFound | Forbidden, strawberry.union("MailboxResult")]
# ConsentRequired: what reconnecting a mailbox connected by consent answers.
ConnectResult = Annotated[
    MailboxType | ConsentRequired | InvalidInput | Conflict | LoginFailed | Forbidden | NotFound,
    strawberry.union("ConnectResult"),
]
ConnectMailboxResult = Annotated[
    ConsentRequired | InvalidInput | Conflict | Forbidden | NotFound,
    strawberry.union("ConnectMailboxResult"),
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


@strawberry.input
class CaldavInput:
    url: str = strawberry.field(
        description="The account's (its calendars are found) or one calendar's."
    )
    username: str
    password: str
    address: str | None = strawberry.field(
        default=None, description="The mailbox's address, if the login name is not one."
    )


# Mailboxes connected by the account owner's consent, renewed by consent too.
BY_CONSENT = frozenset({Provider.GMAIL, Provider.MICROSOFT})


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
    async def connect_caldav_mailbox(self, info: Info, input: CaldavInput) -> ConnectResult:  # noqa: A002
        """The viewer's own CalDAV calendars, with the same checks as `mailroom mailbox
        add-caldav`. Hosts on private networks are refused unless the operator allows them
        (MAILROOM_CALDAV_ALLOW_PRIVATE_HOSTS): a member may not point Mailroom inside its
        network."""
        context = info.context
        account = account_for(context.settings, input.url, input.username, input.password)
        row, _ = await add_caldav_mailbox(
            context.settings, context.workspace, context.member, account, address=input.address
        )
        return MailboxType.of(row)

    @mutation
    async def connect_mailbox(
        self, info: Info, provider: AccountProviderType
    ) -> ConnectMailboxResult:
        """The viewer's own account, by their consent: the answer is the URL where they give
        it. The same checks as the command line."""
        context = info.context
        account = AccountProvider(provider.value)
        link = await start_connection(context.settings, context.workspace, context.member, account)
        return ConsentRequired.of(link)

    @mutation
    async def reconnect_mailbox(
        self, info: Info, mailbox: strawberry.ID, password: str | None = None
    ) -> ConnectResult:
        """An IMAP or CalDAV mailbox: its login checked again (with `password` if given),
        answered with the Mailbox. A mailbox connected by consent: ConsentRequired, whose URL
        its account's owner opens to renew Mailroom's access."""
        context = info.context
        row = await mailbox_by_id(context.workspace, parse_id(mailbox))
        if row.provider is Provider.CALDAV:
            row = await reconnect_caldav_mailbox(context.settings, row, password, by=context.actor)
            return MailboxType.of(row)
        if row.provider in BY_CONSENT:
            if password is not None:
                raise InvalidInputError(f"{row.address} is reconnected by consent, not a password")
            link = await start_reconnection(context.settings, row, by=context.actor)
            return ConsentRequired.of(link)
        row = await mailbox_by_id(context.workspace, parse_id(mailbox), Provider.IMAP)
        row = await reconnect_imap_mailbox(context.settings, row, password, by=context.actor)
        return MailboxType.of(row)

    @mutation
    async def remove_mailbox(self, info: Info, mailbox: strawberry.ID) -> RemoveResult:
        """Its mail goes unless another mailbox also has it; people and companies stay."""
        row = await mailbox_by_id(info.context.workspace, parse_id(mailbox))
        removed = await remove_mailbox(info.context.actor, row)
        return RemovedMailbox(id=strawberry.ID(str(row.id)), messages_removed=removed)
