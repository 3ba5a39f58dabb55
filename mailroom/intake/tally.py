"""What became of processed messages, counted for /metrics by the provider of the mailbox that
saw them (IMPORT, FORWARDING, IMAP...)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from uuid import UUID

from mailroom.intake.port import Outcome
from mailroom.metrics import MESSAGES_STORED
from mailroom.models import Mailbox


class Tally:
    """Knows each mailbox's provider once it has been looked up (a mailbox never changes
    provider); counting itself does no I/O, so it cannot fail a batch already committed."""

    def __init__(self) -> None:
        self._providers: dict[UUID, str] = {}

    async def learn(self, mailbox_ids: Iterable[UUID]) -> None:
        """Look up the providers of the mailboxes not known yet (one query, usually none)."""
        unknown = sorted(set(mailbox_ids) - self._providers.keys())
        if unknown:
            rows = await Mailbox.filter(id__in=unknown).values_list("id", "provider")
            self._providers.update((UUID(str(id_)), str(provider)) for id_, provider in rows)

    def count(self, outcomes: Iterable[tuple[UUID, Outcome]]) -> None:
        for (mailbox_id, outcome), n in Counter(outcomes).items():
            provider = self._providers.get(mailbox_id, "unknown")
            MESSAGES_STORED.labels(provider, outcome.value).inc(n)
