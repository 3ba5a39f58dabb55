"""A reconciliation: what a provider holds for a mailbox against what Mailroom stored for it,
by the provider's keys (Gmail message ids; IMAP folder, UIDVALIDITY and UID). `mailroom mailbox
reconcile` prints it, `--repair` fetches what is missing and removes what is extra, and the
mailbox keeps the last one for the API."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

# Keys kept on the mailbox and shown, at most: the counts are always whole.
SHOWN = 1000


@dataclass(frozen=True, slots=True)
class Reconciliation:
    provider: int  # messages the provider holds (that the sync keeps)
    stored: int  # provider keys the mailbox holds
    missing: tuple[str, ...]  # at the provider, not stored
    extra: tuple[str, ...]  # stored, no longer at the provider
    repaired: bool = False

    def to_json(self, at: datetime | None = None) -> dict[str, Any]:
        return {
            "at": (at or datetime.now(UTC)).isoformat(),
            "provider": self.provider,
            "stored": self.stored,
            "missing": len(self.missing),
            "extra": len(self.extra),
            "missing_items": list(self.missing[:SHOWN]),
            "extra_items": list(self.extra[:SHOWN]),
            "repaired": self.repaired,
        }
