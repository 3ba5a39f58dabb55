"""Is this mail really from who it says? The domains a message is authenticated for.

A domain counts as authenticated when a DKIM signature of that domain verifies (dkimpy), when
SPF passes for the envelope sender's domain and the connecting host (pyspf), or when a trusted
relay's Authentication-Results header says either passed. The gateway then asks whether the
From domain is aligned (same registrable domain, as DMARC's relaxed alignment) with one of them.
The libraries block on DNS, so the checks run in a worker thread.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import authres
import dkim
import spf

from mailroom.parsing.addresses.owners import registrable_domain
from mailroom.sources.smtp.dns import Lookups

log = logging.getLogger(__name__)
# Signatures checked per message: each may cost a DNS lookup and an RSA verification.
MAX_SIGNATURES = 5


@dataclass(frozen=True, slots=True)
class Verdict:
    """The domains a message is authenticated for, and how (for logs and refusals)."""

    domains: frozenset[str]
    evidence: tuple[str, ...] = field(default=())

    def aligned(self, domain: str) -> bool:
        """The domain, or its organisation's, is one the message is authenticated for."""
        mine = registrable_domain(domain) or domain
        return any((registrable_domain(d) or d) == mine for d in self.domains)


@dataclass(frozen=True, slots=True)
class TrustedRelays:
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    authserv_ids: frozenset[str]

    @classmethod
    def parse(cls, networks: Iterable[str], authserv_ids: Iterable[str]) -> TrustedRelays:
        return cls(
            tuple(ipaddress.ip_network(n, strict=False) for n in networks),
            frozenset(a.lower() for a in authserv_ids),
        )

    def covers(self, client_ip: str) -> bool:
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        return any(address in network for network in self.networks)


class Authenticator:
    def __init__(self, lookups: Lookups, relays: TrustedRelays) -> None:
        self.lookups = lookups
        self.relays = relays

    async def verify(self, raw: bytes, client_ip: str, helo: str, mail_from: str) -> Verdict:
        return await asyncio.to_thread(self._verify, raw, client_ip, helo, mail_from)

    def _verify(self, raw: bytes, client_ip: str, helo: str, mail_from: str) -> Verdict:
        found: dict[str, str] = {}
        for domain in self._dkim(raw):
            found.setdefault(domain, f"dkim=pass header.d={domain}")
        spf_domain = self._spf(client_ip, helo, mail_from)
        if spf_domain:
            found.setdefault(spf_domain, f"spf=pass smtp.mailfrom={spf_domain}")
        if self.relays.covers(client_ip):
            for domain, how in self._trusted_results(raw):
                found.setdefault(domain, how)
        return Verdict(frozenset(found), tuple(found.values()))

    def _dkim(self, raw: bytes) -> list[str]:
        passed = []
        try:
            checker = dkim.DKIM(raw, timeout=5)
            count = len([h for h in checker.headers if h[0].lower() == b"dkim-signature"])
            for index in range(min(count, MAX_SIGNATURES)):
                if checker.verify(idx=index, dnsfunc=self.lookups.dkim_txt) and checker.domain:
                    passed.append(checker.domain.decode("ascii", "replace").lower())
        except (dkim.DKIMException, ValueError, IndexError, TypeError) as error:
            log.debug("DKIM check failed: %s", error)
        return passed

    def _spf(self, client_ip: str, helo: str, mail_from: str) -> str | None:
        """The domain SPF passed for: the envelope sender's, or the HELO name for bounces."""
        sender = mail_from or f"postmaster@{helo}"
        try:
            result, _ = self.lookups.spf_check(client_ip, sender, helo or "unknown")
        except (spf.TempError, spf.PermError, ValueError) as error:
            log.debug("SPF check failed: %s", error)
            return None
        return sender.rpartition("@")[2].lower() if result == "pass" else None

    def _trusted_results(self, raw: bytes) -> list[tuple[str, str]]:
        """dkim/spf passes in Authentication-Results headers written by a trusted relay."""
        found = []
        for value in _header_values(raw, b"authentication-results"):
            try:
                header = authres.AuthenticationResultsHeader.parse_value(value)
            except (authres.AuthResError, ValueError, TypeError):
                continue
            if str(header.authserv_id).lower() not in self.relays.authserv_ids:
                continue
            for result in header.results:
                domain = _result_domain(result)
                if result.result == "pass" and domain:
                    found.append((domain, f"{result.method}=pass via {header.authserv_id}"))
        return found


def _result_domain(result: authres.AuthenticationResult) -> str | None:
    for prop in result.properties:
        name = f"{prop.type}.{prop.name}".lower()
        if name in ("header.d", "header.i", "smtp.mailfrom", "header.from"):
            value = str(prop.value).rpartition("@")[2].lower()
            return value or None
    return None


def _header_values(raw: bytes, name: bytes) -> list[str]:
    """Values of a header in the top header block, unfolded."""
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    values: list[str] = []
    current: list[bytes] | None = None
    for line in head.splitlines():
        if line[:1] in (b" ", b"\t"):
            if current is not None:
                current.append(line.strip())
            continue
        if current is not None:
            values.append(b" ".join(current).decode("utf-8", "replace"))
            current = None
        key, colon, rest = line.partition(b":")
        if colon and key.strip().lower() == name:
            current = [rest.strip()]
    if current is not None:
        values.append(b" ".join(current).decode("utf-8", "replace"))
    return values
