"""A mailbox's CalDAV account: its URL and login (from what a user typed, or from the stored
row), its password (sealed by the vault) and a check that the calendars can be read. Whether a
member may connect a mailbox at all (the plan) is the workspace's rule.

The IMAP account's safety rules apply: the password is stored only encrypted; the host must be
a public address unless private hosts are allowed (by settings, or for this mailbox by the
operator's `--allow-private-host`); a password goes in clear text (http://) only to such a
private host.
"""

from __future__ import annotations

import httpx

from mailroom.errors import InvalidInputError, NotFoundError
from mailroom.intake.events import CalendarRules
from mailroom.models import Mailbox
from mailroom.settings import Settings
from mailroom.sources.caldav.client import Account, CalDavClient
from mailroom.sources.caldav.discovery import Collection, discover
from mailroom.vault import Vault

MAX_URL = 2000


def account_for(
    settings: Settings, url: str, username: str, password: str, *, allow_private: bool = False
) -> Account:
    """An account from what a user typed; InvalidInputError for a URL that cannot be one."""
    allowed = allow_private or settings.caldav_allow_private_hosts
    text = url.strip()
    try:
        parsed = httpx.URL(text)
    except (httpx.InvalidURL, ValueError) as error:
        raise InvalidInputError(f"{url!r} is not a URL") from error
    if parsed.scheme not in ("https", "http") or not parsed.host or len(text) > MAX_URL:
        raise InvalidInputError(f"{url!r} is not an https:// URL of a CalDAV server")
    if parsed.userinfo:
        raise InvalidInputError("put the login in --username, not in the URL")
    if parsed.scheme == "http" and not allowed:
        # Basic authentication sends the password as it is: only to this machine or its network.
        raise InvalidInputError(
            "an unencrypted URL (http://) is only for private hosts, which are not allowed "
            "(--allow-private-host or MAILROOM_CALDAV_ALLOW_PRIVATE_HOSTS)"
        )
    if not username.strip():
        raise InvalidInputError("a CalDAV login needs a username")
    return Account(str(parsed.copy_with(fragment=None)), username.strip(), password, allowed)


def stored_connection(account: Account, *, allow_private: bool) -> dict[str, object]:
    """What `Mailbox.connection` keeps: where the calendars are, never a secret. Private hosts
    are kept allowed only when the operator allowed them for this mailbox."""
    return {"url": account.url, "username": account.username, "allow_private_host": allow_private}


def account_of(settings: Settings, mailbox: Mailbox, password: str | None = None) -> Account:
    """The stored account, with its sealed password (or `password`, to try a new one)."""
    c = mailbox.connection
    if password is None:
        if not mailbox.credentials:
            raise NotFoundError(
                f"{mailbox.address} has no stored credentials", mailbox=mailbox.address
            )
        password = str(Vault(settings.secret_key).open(mailbox.credentials)["password"])
    allowed = bool(c.get("allow_private_host")) or settings.caldav_allow_private_hosts
    return Account(str(c["url"]), str(c["username"]), password, allowed)


def calendar_rules(settings: Settings) -> CalendarRules:
    return CalendarRules(
        days_back=settings.calendar_days_back,
        days_ahead=settings.calendar_days_ahead,
        max_occurrences=settings.calendar_max_occurrences,
        max_attendees=settings.calendar_max_attendees,
    )


async def check_account(settings: Settings, account: Account) -> list[Collection]:
    """Log in and find the event calendars: an AuthError for a refused login, a
    ProtocolError for a server that is no CalDAV server or has no calendar, a
    TransientError for one that cannot be reached, HostRefusedError for a private host."""
    async with CalDavClient(account, timeout=settings.caldav_timeout) as client:
        return await discover(client)
