"""DNS for sender authentication: one dnspython resolver, pointed where settings say, behind
the lookup functions dkimpy and pyspf take.

dkimpy accepts a `dnsfunc`. pyspf has no such parameter: it calls its module-level
`spf.DNSLookup`, which it sets itself to a dnspython backend using the deprecated
`dns.resolver.query`; `use_resolver` replaces that function, which is the hook pyspf's own
backend selection uses.
"""

from __future__ import annotations

from typing import Any

import dns.exception
import dns.name
import dns.rdatatype
import dns.resolver
import spf


def make_resolver(nameservers: list[str], timeout: float = 5.0) -> dns.resolver.Resolver:
    """A resolver for `host` or `host:port` entries; the system's when the list is empty."""
    if not nameservers:
        resolver = dns.resolver.Resolver()
    else:
        resolver = dns.resolver.Resolver(configure=False)
        hosts, ports = [], set()
        for entry in nameservers:
            host, _, port = entry.partition(":") if entry.count(":") == 1 else (entry, "", "")
            hosts.append(host)
            ports.add(int(port or 53))
        if len(ports) > 1:
            raise ValueError("all DNS servers must listen on the same port")
        resolver.nameservers = hosts
        resolver.port = ports.pop()
    resolver.lifetime = timeout
    return resolver


class Lookups:
    """The TXT lookups of dkimpy and the record lookups of pyspf, on one resolver."""

    def __init__(self, resolver: dns.resolver.Resolver) -> None:
        self.resolver = resolver

    def dkim_txt(self, name: bytes | str, timeout: float = 5) -> bytes | None:
        """dkimpy's `dnsfunc`: the first TXT record of `name`, its strings joined."""
        qname = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        try:
            answer = self.resolver.resolve(qname, "TXT", lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer, dns.resolver.NoNameservers):
            return None
        except (dns.exception.DNSException, ValueError):
            return None
        for rdata in answer:
            return b"".join(rdata.strings)
        return None

    def spf_lookup(
        self, name: str, qtype: str, strict: bool = True, timeout: float = 20
    ) -> list[tuple[tuple[str, str], Any]]:
        """pyspf's `DNSLookup`: [((name, type), value)], TempError on a DNS failure."""
        try:
            answer = self.resolver.resolve(name, qtype, lifetime=timeout)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
            raise spf.TempError(f"DNS {error}") from error
        except dns.exception.DNSException as error:
            raise spf.PermError(f"DNS {error}") from error
        return [((name, qtype), _value(qtype, rdata)) for rdata in answer]


def _value(qtype: str, rdata: Any) -> Any:
    if qtype in ("A", "AAAA"):
        return rdata.address
    if qtype == "MX":
        return (rdata.preference, rdata.exchange)
    if qtype == "PTR":
        return rdata.target.to_text(True)
    return rdata.strings  # TXT, SPF


def use_resolver(lookups: Lookups) -> None:
    """Point pyspf's lookups at `lookups` (process-wide: pyspf has no per-call hook)."""
    spf.DNSLookup = lookups.spf_lookup
