"""The SMTP hooks: who may send (MAIL), to which address (RCPT), and what happens to the message
(DATA). Nothing is acknowledged before its bytes are committed; parsing beyond the headers
happens after the reply, in the ingest pipeline.

Rate limits count accepted messages only, per member the message is admitted for and per client
host: MAIL FROM claims anything, so nobody's commands can use up a member's allowance. A client
over its allowance is refused at MAIL, before it sends the message.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from tortoise.exceptions import BaseORMException

from mailroom.intake.pipeline import Pipeline
from mailroom.intake.port import Incoming, SourceFacts
from mailroom.parsing.headers import scan_header_block
from mailroom.ratelimit import SlidingWindow
from mailroom.settings import Settings
from mailroom.sources.smtp import journal
from mailroom.sources.smtp.admission import FORWARDED_FOR, Delivery, Kind, Letter, Refused, admit
from mailroom.sources.smtp.authenticity import Authenticator, Verdict
from mailroom.sources.smtp.connections import client_of
from mailroom.sources.smtp.directory import Directory
from mailroom.sources.smtp.replies import Reply

log = logging.getLogger(__name__)
# What admission and the refusal log read of a message before it is accepted.
READ_HEADERS = frozenset({"from", "message-id", "received", *(h.lower() for h in FORWARDED_FOR)})


class GatewayHandler:
    """aiosmtpd handler; one for the whole server."""

    def __init__(self, settings: Settings, pipeline: Pipeline, authenticator: Authenticator):
        self.pipeline = pipeline
        self.authenticator = authenticator
        self.mail_domain = settings.mail_domain.lower()
        self.hostname = settings.smtp_hostname or settings.mail_domain
        self.max_recipients = settings.smtp_max_recipients
        self.max_hops = settings.smtp_max_hops
        self.members = SlidingWindow(settings.smtp_messages_per_sender_per_minute)
        self.clients = SlidingWindow(settings.smtp_messages_per_client_per_minute)
        self.directory = Directory(self.mail_domain)
        journal.start()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        """aiosmtpd offers AUTH once TLS is on; there is no account to log in to."""
        session.host_name = hostname
        return [line for line in responses if not line[4:].upper().startswith("AUTH")]

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        client = client_of(session.peer)
        if not self.clients.permits(client):
            seen = journal.Seen(client=client, mail_from=address)
            return journal.refused(seen, Reply.CLIENT_RATE_LIMITED)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        envelope.recipients = []
        return Reply.SENDER_OK.value

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        seen = journal.Seen(client=str(session.peer[0]), mail_from=envelope.mail_from)
        if len(envelope.rcpt_tos) >= self.max_recipients:
            return journal.refused(seen, Reply.TOO_MANY_RECIPIENTS)
        try:
            recipient = await self.directory.recipient(address)
        except BaseORMException:
            log.exception("recipient lookup failed")
            return journal.refused(seen, Reply.STORAGE_FAILED)
        if recipient is None:
            return journal.refused(seen, Reply.NO_SUCH_RECIPIENT, address=address)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        envelope.recipients.append(recipient)
        return Reply.RECIPIENT_OK.value

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw: bytes = envelope.original_content
        headers = scan_header_block(raw, READ_HEADERS)
        message_id = (headers.first("message-id") or "").strip() or None
        letter = Letter.read(headers, envelope.mail_from or "")
        client = str(session.peer[0])
        seen = journal.Seen(
            client, envelope.mail_from, letter.sender, message_id, len(envelope.rcpt_tos), len(raw)
        )
        hops = len(headers.all("received"))
        if hops >= self.max_hops:
            return journal.refused(seen, Reply.TOO_MANY_HOPS, hops=hops)
        try:
            deliveries = await admit(
                letter,
                envelope.recipients,
                self.directory.members,
                _once(
                    lambda: self.authenticator.verify(
                        raw, client, session.host_name or "", envelope.mail_from or ""
                    )
                ),
            )
        except Refused as refusal:
            return journal.refused(seen, refusal.kind, **refusal.values)
        except BaseORMException:
            log.exception("admission of %s failed", message_id)
            return journal.refused(seen, Reply.STORAGE_FAILED)
        limited = [d.member for d in deliveries if not self.members.permits(str(d.member.id))]
        if limited:
            return journal.refused(seen, Reply.RATE_LIMITED, sender=limited[0].email)
        return await self._store(raw, deliveries, session, envelope, seen)

    async def _store(
        self,
        raw: bytes,
        deliveries: list[Delivery],
        session: Any,
        envelope: Any,
        seen: journal.Seen,
    ) -> str:
        now = datetime.now(UTC)
        queue_id = f"{now.timestamp():.6f}".replace(".", "")
        trace = self._received(session, envelope, queue_id, now) + raw
        try:
            items = [
                (await self.directory.mailbox(d.member), Incoming(trace, _facts(d, queue_id, now)))
                for d in deliveries
            ]
            await self.pipeline.submit(items)
        except Exception:
            log.exception("storing %s failed; refused with a temporary error", seen.message_id)
            return journal.refused(seen, Reply.STORAGE_FAILED)
        for delivery in deliveries:
            self.members.record(str(delivery.member.id))
        self.clients.record(client_of(session.peer))
        journal.accepted(seen, queue_id, len(items))
        return Reply.ACCEPTED.format(id=queue_id)

    def _received(self, session: Any, envelope: Any, queue_id: str, now: datetime) -> bytes:
        """Our trace header, as every MTA adds one (it also counts toward loop detection)."""
        helo = session.host_name or "unknown"
        line = (
            f"Received: from {helo} ([{session.peer[0]}])\r\n"
            f"\tby {self.hostname} (Mailroom) with ESMTP id {queue_id}\r\n"
            f"\tfor <{envelope.rcpt_tos[0]}>; {_date(int(now.timestamp()))}\r\n"
        )
        return line.encode("utf-8", "replace")


@functools.lru_cache(maxsize=2)
def _date(second: int) -> str:
    """The RFC 5322 date of a second (format_datetime costs more than the rest of the header,
    and a busy gateway asks for the same second many times)."""
    return format_datetime(datetime.fromtimestamp(second, UTC))


def _facts(delivery: Delivery, queue_id: str, now: datetime) -> SourceFacts:
    return SourceFacts(
        provider_id=queue_id,
        received_at=now,
        labels=(delivery.kind.value,),
        unwrap=delivery.kind is Kind.FROM_MEMBER,
    )


def _once(check: Callable[[], Awaitable[Verdict]]) -> Callable[[], Awaitable[Verdict]]:
    """Authenticate at most once per message, and only if a recipient's policy asks."""
    done: list[Verdict] = []

    async def verdict() -> Verdict:
        if not done:
            done.append(await check())
        return done[0]

    return verdict
