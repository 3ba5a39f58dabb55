"""A mailbox's IMAP account: its connection settings (from what a user typed, or from the stored
row), its password (sealed by the vault) and a login check. Whether a member may connect a
mailbox at all (plan, hosts allowed) is the workspace's rule (`mailroom.workspace.connecting`).
"""

from __future__ import annotations

from mailroom.errors import InvalidInputError, NotFoundError
from mailroom.models import Mailbox
from mailroom.settings import Settings
from mailroom.sources.imap.client import Connection, ImapSession
from mailroom.sources.imap.meter import SessionLimits
from mailroom.vault import Vault

SECURITY = ("tls", "starttls", "none")


def connection_for(host: str, port: int | None, security: str, username: str) -> Connection:
    if security not in SECURITY:
        raise InvalidInputError(f"security must be one of {', '.join(SECURITY)}")
    default_port = 993 if security == "tls" else 143
    return Connection(host.strip().lower(), port or default_port, security, username)


def connection_of(mailbox: Mailbox) -> Connection:
    c = mailbox.connection
    return Connection(str(c["host"]), int(c["port"]), str(c["security"]), str(c["username"]))


def stored_connection(connection: Connection) -> dict[str, object]:
    """What `Mailbox.connection` keeps: how to reach the server, never a secret."""
    return {
        "host": connection.host,
        "port": connection.port,
        "security": connection.security,
        "username": connection.username,
    }


def imap_password(settings: Settings, mailbox: Mailbox) -> str:
    if not mailbox.credentials:
        raise NotFoundError(f"{mailbox.address} has no stored credentials", mailbox=mailbox.address)
    return str(Vault(settings.secret_key).open(mailbox.credentials)["password"])


async def check_login(settings: Settings, connection: Connection, password: str) -> None:
    """Log in and out. Opening resolves the host and refuses addresses the workspace may not
    reach (HostRefusedError); a refused login is an AuthError."""
    session = await ImapSession.open(connection, password, SessionLimits.of(settings))
    await session.close()
