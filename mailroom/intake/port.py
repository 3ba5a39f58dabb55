"""What flows into ingest and what comes out: where a message was seen, the bytes waiting to be
processed, and the report of what happened to them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


@dataclass(frozen=True, slots=True)
class SourceFacts:
    """What the edge knows about where a message was seen."""

    provider_id: str | None = None
    folder: str | None = None
    provider_thread_id: str | None = None
    labels: tuple[str, ...] = ()
    received_at: datetime | None = None
    # None: OUTBOUND when the From is the mailbox owner's address or alias.
    outbound: bool | None = None
    # The member sent this to the gateway: if it forwards a message, ingest that original.
    unwrap: bool = False
    # The provider's key of this message in the mailbox, kept so that its deletion there can
    # remove the copy; for IMAP also its UIDVALIDITY and UID in `folder`.
    item: str | None = None
    uidvalidity: int | None = None
    uid: int | None = None
    # The source fetched only the header block of a message this large (bytes), over the
    # message size limit: the message is kept, with a defect saying so.
    truncated_from: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "provider_id": self.provider_id,
            "folder": self.folder,
            "provider_thread_id": self.provider_thread_id,
            "labels": list(self.labels),
            "outbound": self.outbound,
            "unwrap": self.unwrap,
            "item": self.item,
            "uidvalidity": self.uidvalidity,
            "uid": self.uid,
            "truncated_from": self.truncated_from,
        }
        if self.received_at is not None:
            data["received_at"] = self.received_at.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SourceFacts:
        received = data.get("received_at")
        return cls(
            provider_id=data.get("provider_id"),
            folder=data.get("folder"),
            provider_thread_id=data.get("provider_thread_id"),
            labels=tuple(data.get("labels") or ()),
            received_at=datetime.fromisoformat(received) if received else None,
            outbound=data.get("outbound"),
            unwrap=bool(data.get("unwrap")),
            item=data.get("item"),
            uidvalidity=data.get("uidvalidity"),
            uid=data.get("uid"),
            truncated_from=data.get("truncated_from"),
        )


@dataclass(frozen=True, slots=True)
class Incoming:
    raw: bytes
    facts: SourceFacts = SourceFacts()


class Outcome(StrEnum):
    NEW = "new"  # stored for the first time
    DUPLICATE = "duplicate"  # already stored; this mailbox's copy was added
    UNCHANGED = "unchanged"  # this mailbox already had it
    FAILED = "failed"  # kept pending, to be retried


@dataclass(slots=True)
class IngestReport:
    new: int = 0
    duplicate: int = 0
    unchanged: int = 0
    failed: int = 0
    defective: int = 0
    people_created: int = 0
    companies_created: int = 0
    # One (outcome, message id) per item of the last call, in order; None when failed.
    outcomes: list[tuple[Outcome, UUID | None]] = field(default_factory=list)

    def count(self, outcome: Outcome, message_id: UUID | None) -> None:
        setattr(self, outcome.value, getattr(self, outcome.value) + 1)
        self.outcomes.append((outcome, message_id))

    def merge(self, other: IngestReport) -> None:
        for name in (
            "new",
            "duplicate",
            "unchanged",
            "failed",
            "defective",
            "people_created",
            "companies_created",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.outcomes.extend(other.outcomes)


@dataclass(frozen=True, slots=True)
class Pending:
    """Stored bytes waiting to be processed (a `PendingIngest` row)."""

    id: UUID
    workspace_id: UUID
    mailbox_id: UUID
    raw_message_id: UUID
    facts: SourceFacts
    raw: bytes
    attempts: int = 0
