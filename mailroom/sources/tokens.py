"""A mailbox's OAuth access tokens as a provider's API client asks for them (Gmail, Graph):
`TokenSource` is the port, `MailboxTokens` binds the process's `AccessTokens` to a mailbox."""

from __future__ import annotations

from typing import Protocol

from mailroom.models import Mailbox
from mailroom.oauth.tokens import AccessTokens


class TokenSource(Protocol):
    """`refreshed(rejected)` returns a token other than `rejected`, refreshing if no one has
    yet; both raise AuthError when the grant is gone."""

    async def current(self) -> str: ...

    async def refreshed(self, rejected: str) -> str: ...


class MailboxTokens:
    """A mailbox's access tokens, as the client asks for them."""

    def __init__(self, tokens: AccessTokens, mailbox: Mailbox) -> None:
        self.tokens = tokens
        self.mailbox = mailbox

    async def current(self) -> str:
        return await self.tokens.current(self.mailbox)

    async def refreshed(self, rejected: str) -> str:
        return await self.tokens.refreshed(self.mailbox, rejected)
