"""Domain names of addresses in the one form used as a key: lowercase Unicode (IDNA U-labels)."""

from __future__ import annotations

import re
from functools import lru_cache

import idna

# Plain lowercase letter-digit-hyphen labels are already in their final form; only these skip the
# (slow) idna package, which is the common case by far.
_LDH_DOMAIN = re.compile(
    r"(?:(?!xn--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*"
    r"(?!xn--)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
)
_IPV4_LITERAL = re.compile(r"\[\d{1,3}(?:\.\d{1,3}){3}\]")
_IPV6_LITERAL = re.compile(r"\[ipv6:[0-9a-f:.]+\]")
_MAX_DOMAIN = 253


def normalize_domain(domain: str) -> str | None:
    """The domain lowercased and mapped through IDNA (UTS #46) to U-labels, or None if invalid.

    Domain literals (`[192.0.2.1]`, `[IPv6:...]`) are kept as written, lowercased.
    """
    lowered = domain.lower()
    if len(lowered) <= _MAX_DOMAIN and _LDH_DOMAIN.fullmatch(lowered):
        return lowered
    if lowered.startswith("["):
        valid = _IPV4_LITERAL.fullmatch(lowered) or _IPV6_LITERAL.fullmatch(lowered)
        return lowered if valid else None
    if len(domain) > _MAX_DOMAIN:
        return None  # too long in any form, and kept out of the cache
    return _idna_domain(domain)


@lru_cache(maxsize=4096)
def _idna_domain(domain: str) -> str | None:
    try:
        unicode_form: str = idna.decode(idna.encode(domain, uts46=True))
    except (idna.IDNAError, UnicodeError, ValueError):
        return None
    # idna accepts the root label's trailing dot; in a mail address it is an empty label.
    return unicode_form if unicode_form and not unicode_form.endswith(".") else None
