"""Turning bytes labelled with a (possibly wrong) charset into text without ever failing.

Mail declares charsets that Python does not know (`ks_c_5601-1987`, `x-unknown`), that are
subsets of what was really used (`gb2312` for GB18030 text, `iso-8859-1` for Windows-1252), or
none at all for 8-bit text. The order tried is the declared charset strictly, then UTF-8, then
Windows-1252 with replacement, which decodes every byte string.
"""

from __future__ import annotations

import codecs
from functools import lru_cache

# Labels seen in real mail mapped to the codec that decodes what senders actually wrote. The
# supersets follow the WHATWG Encoding Standard (what browsers, and so webmail, do). None means
# "no usable label": fall through to UTF-8 and Windows-1252.
_ALIASES: dict[str, str | None] = {
    "utf8": "utf-8",
    "utf-8": "utf-8",
    "us-ascii": "ascii",
    "ascii": "ascii",
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "iso_8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "iso-8859-9": "cp1254",
    "iso-8859-11": "cp874",
    "tis-620": "cp874",
    "windows-874": "cp874",
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-8-e": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6",
    "ks_c_5601-1987": "cp949",
    "ks_c_5601": "cp949",
    "ksc5601": "cp949",
    "euc-kr": "cp949",
    "gb2312": "gb18030",
    "gb_2312-80": "gb18030",
    "csgb2312": "gb18030",
    "euc-cn": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "x-sjis": "cp932",
    "sjis": "cp932",
    "windows-31j": "cp932",
    "iso-2022-jp": "iso2022_jp_ext",
    "unicode-1-1-utf-7": "utf-7",
    "x-unknown": None,
    "unknown": None,
    "unknown-8bit": None,
    "x-user-defined": None,
    "default": None,
    "charset": None,
}

_VALID_PER_BROKEN = 4

# Python codecs that are not charsets at all or that would interpret text rather than decode it.
_REFUSED_CODECS = frozenset(
    {"idna", "punycode", "raw-unicode-escape", "unicode-escape", "undefined", "mbcs", "oem"}
)


@lru_cache(maxsize=512)
def resolve_charset(label: str | None) -> str | None:
    """The Python codec name for a charset label, or None when the label is unusable."""
    if not label:
        return None
    name = label.strip().strip("\"'").partition("*")[0].strip().lower()
    if name in _ALIASES:
        return _ALIASES[name]
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if info.name in _REFUSED_CODECS or not getattr(info, "_is_text_encoding", True):
        return None
    return info.name


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode `data` as the declared charset, else UTF-8, else Windows-1252 (never fails)."""
    text = _decode(data, resolve_charset(charset))
    # NUL is never meaningful in mail text and PostgreSQL refuses it in text columns.
    return text.replace("\x00", "") if "\x00" in text else text


def _decode(data: bytes, codec: str | None) -> str:
    if codec is not None and codec != "utf-8":
        try:
            return data.decode(codec)
        except (UnicodeError, LookupError):
            pass
    text = decode_utf8(data)
    return text if text is not None else data.decode("cp1252", "replace")


def decode_utf8(data: bytes) -> str | None:
    """`data` as UTF-8 if it is, or mostly is (a few broken bytes), else None.

    Senders and gateways cut UTF-8 text in the middle of a character (Yahoo truncates long
    filenames so); one bad byte among valid multibyte characters is still UTF-8. Legacy
    single-byte text almost never forms valid multibyte sequences, so it is not taken for UTF-8.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    text = data.decode("utf-8", "replace")
    broken = text.count("\ufffd")
    valid = len(text) - len(text.encode("ascii", "ignore")) - broken
    return text if valid >= _VALID_PER_BROKEN * broken else None
