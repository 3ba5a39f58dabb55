"""Connecting an IMAP mailbox, and reconnecting it after its login stopped working.

The same checks whoever asks (CLI now, API later): the member's plan allows another mailbox,
the host is one the workspace may reach, the login works; only then is the mailbox saved, its
password encrypted by the vault.
"""

from __future__ import annotations

from mailroom.errors import ConflictError, InvalidInputError, NotFoundError
from mailroom.models import Mailbox, MailboxStatus, Member, Plan, Provider, Workspace
from mailroom.parsing.addresses.lists import normalize_address
from mailroom.settings import Settings
from mailroom.sources.imap.client import Connection, ImapSession
from mailroom.sources.imap.meter import SessionLimits
from mailroom.vault import Vault
from mailroom.workspaces import SYNCED_PROVIDERS

# Connected mailboxes per member by plan; None: no limit.
MAILBOXES_PER_MEMBER: dict[Plan, int | None] = {
    Plan.FREE: 1,
    Plan.PLUS: 1,
    Plan.PRO: 2,
    Plan.ENTERPRISE: None,
}
SECURITY = ("tls", "starttls", "none")


async def add_imap_mailbox(
    settings: Settings,
    workspace: Workspace,
    member: Member,
    connection: Connection,
    password: str,
    address: str | None = None,
) -> Mailbox:
    """`address` is the mailbox's email address; by default the login name if it is one,
    else the member's address."""
    vault = Vault(settings.secret_key)  # before anything: no key, no stored password
    if address is not None:
        given = normalize_address(address)
        if given is None:
            raise InvalidInputError(f"{address!r} is not a valid email address")
        address = given
    await _check_plan(workspace, member)
    await _check_connection(settings, connection, password)
    address = address or normalize_address(connection.username) or member.email
    if await Mailbox.filter(workspace=workspace, provider=Provider.IMAP, address=address).exists():
        raise ConflictError(f"{address} is already connected in {workspace.slug!r}")
    return await Mailbox.create(
        workspace=workspace,
        owner=member,
        provider=Provider.IMAP,
        address=address,
        status=MailboxStatus.PENDING,
        connection=_describe(connection),
        credentials=vault.seal({"password": password}),
    )


async def reconnect_imap_mailbox(
    settings: Settings, mailbox: Mailbox, password: str | None
) -> Mailbox:
    """Check the login again (with a new password, if given) and let the mailbox sync again."""
    vault = Vault(settings.secret_key)
    secret = password if password is not None else imap_password(settings, mailbox)
    await _check_connection(settings, connection_of(mailbox), secret)
    await Mailbox.filter(id=mailbox.id).update(
        credentials=vault.seal({"password": secret}),
        status=MailboxStatus.PENDING,
        failures=0,
        last_error=None,
        last_error_at=None,
        lease_until=None,
    )
    await mailbox.refresh_from_db()
    return mailbox


def connection_of(mailbox: Mailbox) -> Connection:
    c = mailbox.connection
    return Connection(str(c["host"]), int(c["port"]), str(c["security"]), str(c["username"]))


def imap_password(settings: Settings, mailbox: Mailbox) -> str:
    if not mailbox.credentials:
        raise NotFoundError(f"{mailbox.address} has no stored credentials")
    return str(Vault(settings.secret_key).open(mailbox.credentials)["password"])


def connection_for(host: str, port: int | None, security: str, username: str) -> Connection:
    if security not in SECURITY:
        raise InvalidInputError(f"security must be one of {', '.join(SECURITY)}")
    default_port = 993 if security == "tls" else 143
    return Connection(host.strip().lower(), port or default_port, security, username)


async def _check_plan(workspace: Workspace, member: Member) -> None:
    limit = MAILBOXES_PER_MEMBER[workspace.plan]
    if limit is None:
        return
    connected = await Mailbox.filter(owner=member, provider__in=SYNCED_PROVIDERS).count()
    if connected >= limit:
        raise ConflictError(
            f"{member.email} already has {connected} connected mailbox(es), the most the "
            f"{workspace.plan} plan allows"
        )


async def _check_connection(settings: Settings, connection: Connection, password: str) -> None:
    if connection.security == "none" and not settings.imap_allow_private_hosts:
        raise InvalidInputError(
            "an unencrypted connection (--security none) is only for local hosts, which "
            "settings do not allow (MAILROOM_IMAP_ALLOW_PRIVATE_HOSTS)"
        )
    # Opening resolves the host and refuses addresses the workspace may not reach.
    session = await ImapSession.open(connection, password, SessionLimits.of(settings))
    await session.close()


def _describe(connection: Connection) -> dict[str, object]:
    return {
        "host": connection.host,
        "port": connection.port,
        "security": connection.security,
        "username": connection.username,
    }
