"""What one MIME part declares about itself: type, parameters, disposition, Content-ID."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message

from mailroom.parsing.headers import read_headers
from mailroom.parsing.headertext import recover_8bit, unfold
from mailroom.parsing.limits import Limits
from mailroom.parsing.params import HeaderParams, parse_params

_NO_PARAMS = HeaderParams("")


@dataclass(frozen=True)
class PartInfo:
    """The headers of a part that decide how it is read, decoded."""

    content_type: str
    params: HeaderParams
    disposition: str | None
    disposition_params: HeaderParams
    content_id: str | None
    transfer_encoding: str
    defects: tuple[str, ...]

    @property
    def maintype(self) -> str:
        return self.content_type.partition("/")[0]

    @property
    def charset(self) -> str | None:
        return self.params.get("charset")

    @property
    def filename(self) -> str | None:
        return self.disposition_params.get("filename") or self.params.get("name")


def part_info(part: Message, limits: Limits, fallback_charset: str | None = None) -> PartInfo:
    """Read the headers of `part` once; an invalid Content-Type falls back to the default."""
    headers = read_headers(part, limits.max_headers, limits.max_header_length)
    content_type = _params(headers.first("content-type"), fallback_charset)
    ctype = content_type.value
    if ctype.count("/") != 1 or not all(ctype.partition("/")[::2]):
        ctype = part.get_default_type()
    disposition = _params(headers.first("content-disposition"), fallback_charset)
    content_id = headers.first("content-id")
    encoding = headers.first("content-transfer-encoding")
    return PartInfo(
        content_type=ctype,
        params=content_type,
        disposition=disposition.value or None,
        disposition_params=disposition,
        content_id=_bare_id(content_id) if content_id else None,
        transfer_encoding=unfold(encoding).strip().lower() if encoding else "",
        defects=tuple(headers.defects),
    )


def _params(value: str | None, fallback_charset: str | None) -> HeaderParams:
    if value is None:
        return _NO_PARAMS
    return parse_params(recover_8bit(unfold(value), fallback_charset))


def _bare_id(value: str) -> str | None:
    ident = recover_8bit(unfold(value)).strip().strip("<>").strip()
    return ident or None
