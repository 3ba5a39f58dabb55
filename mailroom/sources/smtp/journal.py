"""The gateway's journal: one log line and one count for every message accepted, and for every
connection, recipient or message refused, with what an operator asks about it (queue id,
Message-ID, senders, recipients, size, and for a refusal its reason and the reply given).

A refusal is logged at INFO when it is the sender's doing (a stranger, a loop, a message too
big), at WARNING when a limit meant to protect the service was hit or Mailroom could not store
the message: those are what an operator may have to act on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mailroom import logs
from mailroom.metrics import SMTP_ACCEPTED, SMTP_REFUSED
from mailroom.sources.smtp.replies import Reply

log = logging.getLogger(__name__)

# The refusals journaled (the others are about a session, not a message: AUTH, timeouts).
REFUSALS = frozenset(Reply) - {
    Reply.ACCEPTED,
    Reply.SENDER_OK,
    Reply.RECIPIENT_OK,
    Reply.IDLE,
    Reply.TOO_SLOW,
    Reply.TLS_ACTIVE,
    Reply.NO_AUTH,
}
_WARNING = frozenset(
    {
        Reply.RATE_LIMITED,
        Reply.CLIENT_RATE_LIMITED,
        Reply.TOO_MANY_CONNECTIONS,
        Reply.TOO_BUSY,
        Reply.NO_ROOM,
        Reply.STORAGE_FAILED,
    }
)


@dataclass(frozen=True, slots=True)
class Seen:
    """What is known of a message (or of the connection, before one) when it is answered."""

    client: str | None = None
    mail_from: str | None = None  # the envelope sender
    sender: str | None = None  # the From address
    message_id: str | None = None
    recipients: int | None = None
    size: int | None = None


def reason(reply: Reply) -> str:
    """The metric label and log field naming a refusal: its reply's name, `not_a_member`."""
    return reply.name.lower()


def start() -> None:
    """Show every refusal reason at 0 from the start, so that a rate over it is defined."""
    for reply in REFUSALS:
        SMTP_REFUSED.labels(reason(reply))


def accepted(seen: Seen, queue_id: str, members: int) -> None:
    SMTP_ACCEPTED.inc()
    log.info("accepted", extra=logs.fields(queue_id=queue_id, members=members, **_fields(seen)))


def refused(seen: Seen, reply: Reply, **values: object) -> str:
    """Count and log a refusal; returns the reply's text (with `values`), for the caller to
    give."""
    text = reply.format(**values)
    SMTP_REFUSED.labels(reason(reply)).inc()
    level = logging.WARNING if reply in _WARNING else logging.INFO
    log.log(level, "refused", extra=logs.fields(reason=reason(reply), reply=text, **_fields(seen)))
    return text


def _fields(seen: Seen) -> dict[str, object]:
    return {
        "message_id": seen.message_id,
        "mail_from": seen.mail_from,
        "sender": seen.sender,
        "recipients": seen.recipients,
        "size": seen.size,
        "client": seen.client,
    }
