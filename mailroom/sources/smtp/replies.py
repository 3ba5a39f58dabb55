"""Every reply the gateway gives, in one table: the SMTP code, the enhanced status code
(RFC 3463) and the text."""

from __future__ import annotations

from enum import Enum


class Reply(Enum):
    ACCEPTED = "250 2.0.0 Ok: queued as {id}"
    SENDER_OK = "250 2.1.0 Ok"
    RECIPIENT_OK = "250 2.1.5 Ok"
    NO_SUCH_RECIPIENT = "550 5.1.1 <{address}>: no such recipient here"
    TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
    RATE_LIMITED = "451 4.7.1 Too many messages from <{sender}>, try again later"
    CLIENT_RATE_LIMITED = "451 4.7.1 Too many messages from your host, try again later"
    TOO_MANY_HOPS = "554 5.4.6 Too many hops ({hops} Received headers): mail loop"
    NO_FROM = "550 5.6.0 The message has no readable From address"
    NOT_A_MEMBER = "550 5.7.1 <{sender}> is not a member of this workspace"
    NOT_THIS_MEMBER = "550 5.7.1 Only the owner of this address may send to it"
    NOT_AUTHENTICATED = (
        "550 5.7.26 <{sender}> could not be verified: no DKIM signature or SPF pass "
        "aligned with {domain}"
    )
    STORAGE_FAILED = "451 4.3.0 The message could not be stored, try again later"
    TOO_MANY_CONNECTIONS = "421 4.7.0 Too many connections from your host, try again later"
    TOO_BUSY = "421 4.3.2 Too many connections, try again later"
    TOO_MANY_COMMANDS = "421 4.7.0 Too many commands before DATA"
    TOO_BIG = "552 5.3.4 Message too big for this system"
    LINE_TOO_LONG = "500 5.5.2 Line too long (RFC 5321 4.5.3.1.6)"
    # Messages held in memory at once are bounded (inflight.py): a message past the bound waits.
    NO_ROOM = "452 4.3.1 Insufficient system storage, try again later"
    IDLE = "421 4.4.2 {hostname} Idle too long, closing the connection"
    TOO_SLOW = "421 4.4.2 {hostname} Message not received in time, closing the connection"
    TLS_REQUIRED = "530 5.7.0 Must issue a STARTTLS command first"
    TLS_ACTIVE = "503 5.5.1 TLS is already active"
    # Members are known by address (and DKIM or SPF), not by account: there is nothing to log
    # in to, so AUTH is not offered.
    NO_AUTH = "502 5.5.1 Authentication is not available here"

    def format(self, **values: object) -> str:
        return str(self.value).format(**values)


# aiosmtpd's own replies for limits it enforces, without enhanced status codes, and ours.
_STOCK = {
    "552 Error: message size exceeds fixed maximum message size": Reply.TOO_BIG,
    "530 Must issue a STARTTLS command first": Reply.TLS_REQUIRED,
}


def stock(status: str) -> Reply | None:
    """Ours of a refusal aiosmtpd wrote itself (it lacks an enhanced status code), if it is
    one."""
    return _STOCK.get(status)
