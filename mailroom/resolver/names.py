"""People's names from what messages show: a display name when it is a real name, otherwise one
derived from the address, marked as such so that a real name seen later replaces it."""

from __future__ import annotations

import re

from mailroom.parsing.addresses.owners import ROLE_LOCAL_PARTS

_QUOTES = "\"'`\u201c\u201d\u2018\u2019 \t"
_SPACES = re.compile(r"\s+")
_LETTER = re.compile(r"[^\W\d_]")
_LOCAL_WORDS = re.compile(r"[._\-]+")
_DIGITS = re.compile(r"\d+")
MAX_NAME_LENGTH = 100


def real_name(display_name: str | None, address: str) -> str | None:
    """The display name as a person's name, or None when it is not one (empty, an address, the
    local part again, a role like "Support", or no letters at all)."""
    if not display_name:
        return None
    name = _SPACES.sub(" ", display_name).strip(_QUOTES)
    if not name or len(name) > MAX_NAME_LENGTH or "@" in name or not _LETTER.search(name):
        return None
    local = address.rpartition("@")[0]
    if name.lower() in (local, address) or name.lower() in ROLE_LOCAL_PARTS:
        return None
    # "Doe, Jane" as directories write it.
    last, comma, first = name.partition(",")
    if comma and first.strip() and " " not in last.strip() and "," not in first:
        name = f"{first.strip()} {last.strip()}"
    return name


def derived_name(address: str) -> str | None:
    """A name guessed from the local part: `jane.doe` -> `Jane Doe`; None if nothing usable."""
    local = address.rpartition("@")[0].split("+", 1)[0]
    words = [w for w in (_DIGITS.sub("", w) for w in _LOCAL_WORDS.split(local)) if w.isalpha()]
    if not words:
        return None
    return " ".join(w.capitalize() for w in words)[:MAX_NAME_LENGTH]
