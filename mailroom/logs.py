"""How Mailroom's log lines read: one format for every logger (Mailroom's, uvicorn's, aiosmtpd's),
as text for a person or as one JSON object per line for a log shipper, each line with the
structured fields its call gave (`fields`).

    log.info("accepted", extra=fields(queue_id=queue_id, message_id=message_id, size=len(raw)))

text:  2026-03-02 09:30:00,123 INFO mailroom.sources.smtp.journal accepted queue_id=1772 ...
json:  {"time": "2026-03-02T09:30:00.123+00:00", "level": "INFO", "logger": "...",
        "message": "accepted", "queue_id": "1772...", ...}

The JSON formatter is the standard library's `json` over the same fields the text formatter
prints, rather than python-json-logger: that library takes every non-standard attribute of a
record as a field, which would also publish what other libraries attach (uvicorn's
`color_message`, with its terminal escapes); here only what a call names with `fields` is a
field, in both formats alike.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal

from mailroom.errors import MailroomError

LogFormat = Literal["text", "json"]
FIELDS = "mailroom_fields"  # the record attribute `fields` fills
# A field's value is cut here: a Message-ID or address is whatever a sender wrote, up to the
# 64 KB a header may hold, and a log line should stay a line.
MAX_VALUE = 256
_CORE = ("time", "level", "logger", "message")
_BARE = re.compile(r"[^\s\"'=\\\x00-\x1f\x7f]+")


def fields(error: BaseException | None = None, /, **values: object) -> dict[str, Any]:
    """`extra=` for a log call: the line's structured fields, those that are None left out,
    with what a MailroomError is about (workspace, mailbox, message_id)."""
    found: dict[str, object] = dict(error.context) if isinstance(error, MailroomError) else {}
    found.update((key, value) for key, value in values.items() if value is not None)
    return {FIELDS: found}


def record_fields(record: logging.LogRecord) -> dict[str, object]:
    """A record's fields, with the context of the MailroomError it logs, if it does."""
    found: dict[str, object] = {}
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, MailroomError):
        found.update(error.context)
    found.update(getattr(record, FIELDS, None) or {})
    return {key: _bounded(value) for key, value in found.items() if key not in _CORE}


def _bounded(value: object) -> object:
    if isinstance(value, bool | int | float) or value is None:
        return value
    text = str(value)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "..."


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message key=value ...`, one line per record (a traceback follows on
    lines of its own). Values with spaces, quotes or control characters are quoted as JSON
    strings, and line breaks in the message are escaped: what a sender or server wrote cannot
    start a line that looks like another record."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage().replace("\r", "\\r").replace("\n", "\\n")
        parts = [self.formatTime(record), record.levelname, record.name, message]
        parts += [f"{key}={_text(value)}" for key, value in record_fields(record).items()]
        line = " ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def _text(value: object) -> str:
    text = str(value)
    return text if _BARE.fullmatch(text) else json.dumps(text, ensure_ascii=False)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (ISO 8601, UTC), level, logger, message, the fields, and
    the traceback as `exception` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **record_fields(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(log_format: LogFormat, level: int = logging.INFO) -> None:
    """Send every logger's records to stderr in `log_format`, replacing what was set before."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # aiosmtpd logs every command at INFO: a log line per SMTP command costs more than the
    # command. Its warnings (limits hit, bad input) still show; Mailroom's own line per message
    # says what an operator needs (sources/smtp/journal.py).
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    # uvicorn's loggers pass their records up to this handler (uvicorn is started without a
    # logging configuration of its own).
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
