"""Raw message bytes to an `Envelope`: pure, no I/O, and never raising.

Everything here is bounded by `Limits`; whatever could not be read is absent from the envelope
and explained in its `defects` (stdlib defect class names and this package's own sentences).
"""

from __future__ import annotations

from datetime import UTC, datetime

from mailroom.envelope import Address, DateSource, Envelope, Role
from mailroom.parsing.addresses.lists import parse_address_list
from mailroom.parsing.bodies import Bodies, collect_bodies
from mailroom.parsing.dates import choose_date
from mailroom.parsing.headers import HeaderTable, read_headers
from mailroom.parsing.headertext import header_text, recover_8bit, unfold
from mailroom.parsing.limits import DEFAULT_LIMITS, Limits
from mailroom.parsing.msgids import capped, extract_ids, first_id
from mailroom.parsing.params import parse_params
from mailroom.parsing.parser import Parsed, parse_header_block, parse_message
from mailroom.parsing.signals import bulk_signals
from mailroom.parsing.snippet import make_snippet
from mailroom.parsing.subjects import normalize_subject

__all__ = [
    "DEFAULT_LIMITS",
    "HEADER_BLOCK_BYTES",
    "Limits",
    "bare_envelope",
    "normalize",
    "normalize_header_block",
]

_ADDRESS_HEADERS = (
    (Role.FROM, "From"),
    (Role.SENDER, "Sender"),
    (Role.REPLY_TO, "Reply-To"),
    (Role.TO, "To"),
    (Role.CC, "Cc"),
    (Role.BCC, "Bcc"),
)
_SINGLE_HEADERS = ("From", "Sender")
_MAX_DEFECTS = 200
# What a header-only reading reads at most: real header blocks stay far below (long DKIM and
# Received chains make tens of kilobytes).
HEADER_BLOCK_BYTES = 1024 * 1024


def normalize(
    raw: bytes,
    *,
    arrival: datetime | None = None,
    limits: Limits = DEFAULT_LIMITS,
    parsed: Parsed | None = None,
) -> Envelope:
    """Normalize one raw message. `arrival` (default: now, UTC) is the date of last resort;
    `parsed` is `raw` as `parse_message` read it with these `limits`, if that was done already."""
    moment = _aware(arrival)
    try:
        return _build(parsed or parse_message(raw, limits), len(raw), moment, limits)
    except Exception as error:  # bad mail is data: keep what the header block still gives
        return _salvage(raw, moment, limits, error)


def _build(parsed: Parsed, size: int, arrival: datetime, limits: Limits) -> Envelope:
    message = parsed.message
    headers = read_headers(message, limits.max_headers, limits.max_header_length)
    charset = _message_charset(headers)
    defects = [*parsed.defects, *headers.defects]
    roles = _participants(headers, charset, defects)
    if parsed.headers_only:
        bodies = Bodies(defects=[type(defect).__name__ for defect in message.defects])
    else:
        bodies = collect_bodies(message, limits, charset)
    defects.extend(bodies.defects)
    subject_value = headers.first("subject")
    subject = header_text(subject_value, charset) if subject_value is not None else None
    date, date_source, date_defect = choose_date(
        _optional_text(headers.first("date")), headers.all("received"), arrival
    )
    if date_defect:
        defects.append(date_defect)
    bulk = bulk_signals(headers, roles[Role.FROM], bodies.reports)
    return Envelope(
        message_id=first_id(_optional_text(headers.first("message-id"))),
        in_reply_to=capped(_ids(headers, "in-reply-to")),
        references=capped(_ids(headers, "references")),
        subject=subject,
        normalized_subject=normalize_subject(subject),
        date=date,
        date_source=date_source,
        from_=roles[Role.FROM],
        sender=roles[Role.SENDER],
        reply_to=roles[Role.REPLY_TO],
        to=roles[Role.TO],
        cc=roles[Role.CC],
        bcc=roles[Role.BCC],
        text=bodies.text,
        html=bodies.html,
        snippet=make_snippet(bodies.text),
        attachments=tuple(bodies.attachments),
        calendar=tuple(bodies.calendar),
        list_id=bulk.list_id,
        list_unsubscribe=bulk.list_unsubscribe,
        precedence=bulk.precedence,
        auto_submitted=bulk.auto_submitted,
        delivery_report=bulk.delivery_report,
        bulk_signals=bulk.signals,
        defects=_capped_defects(defects),
        size=size,
        headers_only=parsed.headers_only,
    )


def _participants(
    headers: HeaderTable, charset: str | None, defects: list[str]
) -> dict[Role, tuple[Address, ...]]:
    """Every address header parsed, duplicates within one role dropped (first one kept)."""
    roles: dict[Role, tuple[Address, ...]] = {}
    for role, name in _ADDRESS_HEADERS:
        values = headers.all(name.lower())
        if len(values) > 1 and name in _SINGLE_HEADERS:
            defects.append(f"{name}: header appears {len(values)} times")
        found: dict[str, Address] = {}
        for value in values:
            addresses, problems = parse_address_list(value, charset)
            defects.extend(f"{name}: {problem}" for problem in problems)
            for address in addresses:
                found.setdefault(address.address, address)
        roles[role] = tuple(found.values())
    return roles


def _ids(headers: HeaderTable, name: str) -> list[str]:
    ids: list[str] = []
    for value in headers.all(name):
        ids.extend(extract_ids(recover_8bit(unfold(value))))
    return list(dict.fromkeys(ids))


def _optional_text(value: str | None) -> str | None:
    return recover_8bit(unfold(value)) if value is not None else None


def _message_charset(headers: HeaderTable) -> str | None:
    """The top-level charset, used to read raw 8-bit headers that are not UTF-8."""
    content_type = headers.first("content-type")
    return parse_params(unfold(content_type)).get("charset") if content_type else None


def _capped_defects(defects: list[str]) -> tuple[str, ...]:
    unique = list(dict.fromkeys(defects))
    if len(unique) <= _MAX_DEFECTS:
        return tuple(unique)
    return (*unique[:_MAX_DEFECTS], f"{len(unique) - _MAX_DEFECTS} more defects")


def _aware(arrival: datetime | None) -> datetime:
    if arrival is None:
        return datetime.now(UTC)
    return arrival if arrival.tzinfo is not None else arrival.replace(tzinfo=UTC)


def normalize_header_block(
    raw: bytes, *, arrival: datetime | None = None, limits: Limits = DEFAULT_LIMITS, defect: str
) -> Envelope:
    """An envelope from the top header block of `raw` alone, with `defect` saying why.

    The reading of last resort for a message whose full reading failed or took too long: it
    reads at most `HEADER_BLOCK_BYTES`, and never raises.
    """
    moment = _aware(arrival)
    try:
        block = raw[: min(limits.max_bytes, HEADER_BLOCK_BYTES)]
        parsed = Parsed(parse_header_block(block), True, [defect])
        return _build(parsed, len(raw), moment, limits)
    except Exception:  # nothing readable at all
        return bare_envelope(len(raw), moment, (defect,))


def bare_envelope(size: int, arrival: datetime, defects: tuple[str, ...]) -> Envelope:
    """An envelope that knows nothing of its message but its size, arrival and defects."""
    return Envelope(
        message_id=None,
        in_reply_to=(),
        references=(),
        subject=None,
        normalized_subject="",
        date=arrival,
        date_source=DateSource.ARRIVAL,
        defects=defects,
        size=size,
        headers_only=True,
    )


def _salvage(raw: bytes, arrival: datetime, limits: Limits, error: Exception) -> Envelope:
    """After an unexpected failure: the header block alone, else an envelope of defects."""
    defect = f"normalize failed ({type(error).__name__}): only the header block was read"
    if not isinstance(raw, bytes | bytearray):
        return bare_envelope(0, arrival, (defect,))
    return normalize_header_block(raw, arrival=arrival, limits=limits, defect=defect)
