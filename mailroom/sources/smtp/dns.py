"""DNS for sender authentication: a dnspython resolver, pointed where settings say, behind the
lookups dkimpy and pyspf make.

dkimpy accepts a `dnsfunc`. pyspf has no such parameter: every query goes through its
module-level `spf.DNSLookup` (the hook its own backend selection sets, to a dnspython function
using the deprecated `dns.resolver.query`). `spf_check` installs one function there that asks
the resolver of the check in progress, held in a context variable, so that concurrent checks in
threads or tasks each use their own.
"""

from __future__ import annotations

import contextvars
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


_SPF_RESOLVER: contextvars.ContextVar[dns.resolver.Resolver | None] = contextvars.ContextVar(
    "spf_resolver", default=None
)


class Lookups:
    """The TXT lookups of dkimpy and the SPF checks of pyspf, on one resolver."""

    def __init__(self, resolver: dns.resolver.Resolver) -> None:
        self.resolver = resolver

    def spf_check(self, ip: str, sender: str, helo: str, timeout: float = 10) -> tuple[str, str]:
        """pyspf's (result, explanation) for client `ip`, e.g. ("pass", "sender SPF
        authorized"), its records asked of this resolver."""
        spf.DNSLookup = _spf_lookup
        token = _SPF_RESOLVER.set(self.resolver)
        try:
            result, explanation = spf.check2(i=ip, s=sender, h=helo, querytime=timeout)
        finally:
            _SPF_RESOLVER.reset(token)
        return str(result), str(explanation)

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


def _spf_lookup(
    name: str, qtype: str, strict: object = True, timeout: float = 20
) -> list[tuple[tuple[str, str], Any]]:
    """pyspf's DNSLookup contract: [((name, type), value)]; TempError on a DNS failure."""
    resolver = _SPF_RESOLVER.get() or dns.resolver.get_default_resolver()
    try:
        answer = resolver.resolve(name, qtype, lifetime=timeout)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except dns.exception.DNSException as error:
        raise spf.TempError(f"DNS {error}") from error
    return [((name, qtype), _value(qtype, rdata)) for rdata in answer]


def _value(qtype: str, rdata: Any) -> Any:
    if qtype in ("A", "AAAA"):
        return rdata.address
    if qtype == "MX":
        return (rdata.preference, rdata.exchange)
    if qtype == "PTR":
        return rdata.target.to_text(True)
    return rdata.strings  # TXT, SPF
