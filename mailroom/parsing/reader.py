"""Reading stored bytes into an envelope: normalize, after unwrapping what a member forwarded.

Runs in ingest's process or in its worker processes, so it is pure like `normalize`.
`read_header_block` is the bounded reading of last resort, for a message whose full reading
took too long or crashed its worker.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from mailroom.envelope import Envelope
from mailroom.parsing.forwards.unwrap import UNWRAP_LIMITS, ForwardKind, unwrap_forward
from mailroom.parsing.normalize import Limits, normalize, normalize_header_block


@dataclass(frozen=True, slots=True)
class Reading:
    envelope: Envelope
    forwarded: bool  # the envelope is the original of a forward, not the bytes as received


def read_message(raw: bytes, arrival: datetime, limits: Limits, unwrap: bool) -> Reading:
    if unwrap:
        unwrapped = unwrap_forward(raw)
        if unwrapped.original is not None:
            envelope = normalize(unwrapped.original, arrival=arrival, limits=limits)
            return Reading(_with_defects(envelope, unwrapped.defects), True)
        # The wrapper was parsed to look for the original: read that parse, not the bytes again.
        parsed = unwrapped.parsed if limits == UNWRAP_LIMITS else None
        if unwrapped.kind is ForwardKind.UNRECOVERABLE:
            envelope = normalize(raw, arrival=arrival, limits=limits, parsed=parsed)
            reasons = "; ".join(unwrapped.defects) or "no original found"
            defect = f"forwarded message whose original could not be recovered: {reasons}"
            return Reading(_with_defects(envelope, (defect,)), False)
        return Reading(normalize(raw, arrival=arrival, limits=limits, parsed=parsed), False)
    return Reading(normalize(raw, arrival=arrival, limits=limits), False)


def read_header_block(raw: bytes, arrival: datetime, limits: Limits, defect: str) -> Reading:
    """The message read from its top header block alone (never unwrapped), `defect` saying why."""
    envelope = normalize_header_block(raw, arrival=arrival, limits=limits, defect=defect)
    return Reading(envelope, False)


def _with_defects(envelope: Envelope, defects: tuple[str, ...]) -> Envelope:
    if not defects:
        return envelope
    return dataclasses.replace(envelope, defects=envelope.defects + defects)
