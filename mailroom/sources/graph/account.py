"""What is checked of a Microsoft 365 account when it is connected, before its mailbox is
saved: that Graph can read its mail (a mailbox kept on an on-premises Exchange server cannot
be)."""

from __future__ import annotations

from mailroom.errors import AuthError, InvalidInputError
from mailroom.settings import Settings
from mailroom.sources.graph.client import GraphClient
from mailroom.sources.graph.errors import OnPremises
from mailroom.sources.retry import RetryPolicy

AT_CONNECT = RetryPolicy(base=0.5, max_backoff=5.0, server_attempts=2, throttled_attempts=3)


class _Given:
    """The access token the consent just gave: nothing to refresh it with yet."""

    def __init__(self, token: str) -> None:
        self.token = token

    async def current(self) -> str:
        return self.token

    async def refreshed(self, rejected: str) -> str:
        raise AuthError("Microsoft refused the access token it had just issued; connect again")


async def check_mailbox(settings: Settings, access_token: str) -> None:
    """Raises InvalidInputError, saying why, for a mailbox Mailroom cannot sync."""
    # A person waits for this page: a few short tries, not a sync's patience.
    async with GraphClient(settings, _Given(access_token), retry=AT_CONNECT) as client:
        try:
            await client.folder("inbox")
        except OnPremises as error:
            raise InvalidInputError(str(error)) from None
