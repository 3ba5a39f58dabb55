"""List, bulk and automated-mail signals: mail whose participants should not become records.

`X-Auto-Response-Suppress` is deliberately not a signal. MS-OXCMAIL 2.1.3.2.20 defines it as a
request to the recipient's server ("do not send me OOF or delivery reports"), not a property of
the message; Outlook writes it on meeting requests and responses, and Exchange on person-to-
person mail sent through distribution groups, so on its own it would hide real people.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mailroom.envelope import Address
from mailroom.parsing.headers import HeaderTable
from mailroom.parsing.headertext import header_text

_BULK_PRECEDENCE = frozenset({"bulk", "list", "junk", "auto_reply"})
_PRESENCE_SIGNALS = (
    ("x-autoreply", "x-autoreply"),
    ("x-autorespond", "x-autorespond"),
    ("x-auto-reply", "x-autoreply"),
    ("x-mailing-list", "x-mailing-list"),
    ("mailing-list", "mailing-list"),
)
_DAEMONS = frozenset({"mailer-daemon", "postmaster"})
_REPORT_SIGNALS = {
    "delivery-status": "delivery-report",
    "disposition-notification": "read-receipt",
    "feedback-report": "feedback-report",
}
_LIST_ID = re.compile(r"<([^<>]+)>")
_MAX_VALUE = 2000


@dataclass(frozen=True)
class BulkSignals:
    """The list and automation headers of a message and the signals they raise."""

    list_id: str | None
    list_unsubscribe: str | None
    precedence: str | None
    auto_submitted: str | None
    delivery_report: bool
    signals: tuple[str, ...]


def bulk_signals(
    headers: HeaderTable, senders: tuple[Address, ...], reports: list[str]
) -> BulkSignals:
    """Read the signals from the top-level headers, the From addresses and the report parts."""
    signals: list[str] = []
    list_id = _list_id(headers.first("list-id"), signals)
    unsubscribe = _text(headers.first("list-unsubscribe"))
    if unsubscribe:
        signals.append("list-unsubscribe")
    precedence = _token(headers.first("precedence"))
    if precedence in _BULK_PRECEDENCE:
        signals.append(f"precedence:{precedence}")
    auto_submitted = _token(headers.first("auto-submitted"))
    if auto_submitted and auto_submitted != "no":
        signals.append(f"auto-submitted:{auto_submitted}")
    signals.extend(_automation_signals(headers, senders, reports))
    return BulkSignals(
        list_id=list_id,
        list_unsubscribe=unsubscribe,
        precedence=precedence,
        auto_submitted=auto_submitted,
        # MAILER-DAEMON sends nothing but bounces, many of them plain text without a report part.
        delivery_report="delivery-status" in reports
        or any(sender.local_part == "mailer-daemon" for sender in senders),
        signals=tuple(dict.fromkeys(signals)),
    )


def _automation_signals(
    headers: HeaderTable, senders: tuple[Address, ...], reports: list[str]
) -> list[str]:
    """Signals of machine-sent mail that are not list headers."""
    signals = [signal for name, signal in _PRESENCE_SIGNALS if headers.first(name) is not None]
    if any(sender.local_part in _DAEMONS for sender in senders):
        signals.append("mailer-daemon")
    if (headers.first("return-path") or "").strip() == "<>":
        signals.append("null-return-path")  # RFC 3834: automatic responses use a null sender
    signals.extend(_REPORT_SIGNALS[kind] for kind in reports if kind in _REPORT_SIGNALS)
    return signals


def _list_id(value: str | None, signals: list[str]) -> str | None:
    text = _text(value)
    if text is None:
        return None
    signals.append("list-id")
    match = _LIST_ID.search(text)
    # RFC 2919 wants `<id>`; some list managers write the bare id.
    ident = match.group(1).strip() if match else text.split()[-1].strip("<>")
    return ident or None


def _text(value: str | None) -> str | None:
    if value is None:
        return None
    return header_text(value)[:_MAX_VALUE] or None


def _token(value: str | None) -> str | None:
    """The first word of a keyword header (`auto-replied; owner-email=...` -> `auto-replied`)."""
    text = _text(value)
    words = text.split(";")[0].split() if text else []
    return words[0].lower() if words else None
