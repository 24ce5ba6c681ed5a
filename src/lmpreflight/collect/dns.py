"""DNS facts read by the tool with dnspython: forward and reverse records, DC SRV records."""

from __future__ import annotations

from dataclasses import dataclass

import dns.exception
import dns.resolver
import dns.reversename

from lmpreflight.errors import UserError
from lmpreflight.facts.model import DnsFacts, DnsRecord, ReverseRecord, SrvTarget

LIFETIME = 5.0


@dataclass(frozen=True)
class DnsServer:
    """``--dns-server HOST[:PORT]``; ``None`` uses the system's resolver configuration."""

    address: str | None = None
    port: int = 53

    @classmethod
    def parse(cls, text: str | None) -> DnsServer:
        if not text:
            return cls()
        address, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
        try:
            return cls(address or text, int(port) if port else 53)
        except ValueError:
            raise UserError(f"--dns-server {text}: expected ADDRESS or ADDRESS:PORT") from None

    def resolver(self) -> dns.resolver.Resolver:
        if self.address is None:
            resolver = dns.resolver.Resolver()
        else:
            resolver = dns.resolver.Resolver(configure=False)
            resolver.nameservers = [self.address]
            resolver.port = self.port
        resolver.lifetime = LIFETIME
        return resolver

    def label(self) -> str:
        if self.address is None:
            return "system resolver"
        return self.address if self.port == 53 else f"{self.address}:{self.port}"


def _error(exc: Exception) -> str:
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return "NXDOMAIN (no such name)"
    if isinstance(exc, dns.resolver.NoAnswer):
        return "no record of that type"
    if isinstance(exc, dns.exception.Timeout):
        return "the DNS server did not answer"
    return f"{type(exc).__name__}: {exc}"


def resolve_addresses(resolver: dns.resolver.Resolver, name: str) -> DnsRecord:
    addresses: list[str] = []
    errors: list[str] = []
    for rdtype in ("A", "AAAA"):
        try:
            addresses += [r.to_text() for r in resolver.resolve(name, rdtype)]
        except Exception as exc:  # each failure is a fact, not a crash
            errors.append(_error(exc))
    return DnsRecord(name=name, addresses=addresses, error=None if addresses else (errors[0] if errors else None))


def resolve_reverse(resolver: dns.resolver.Resolver, address: str) -> ReverseRecord:
    try:
        answer = resolver.resolve(dns.reversename.from_address(address), "PTR")
    except Exception as exc:
        return ReverseRecord(address=address, error=_error(exc))
    return ReverseRecord(address=address, names=[r.to_text() for r in answer])


def dc_srv(resolver: dns.resolver.Resolver, domain: str) -> tuple[list[SrvTarget], str | None]:
    try:
        answer = resolver.resolve(f"_ldap._tcp.dc._msdcs.{domain}", "SRV")
    except Exception as exc:
        return [], _error(exc)
    records = sorted(answer, key=lambda r: (r.priority, -r.weight))
    return [SrvTarget(target=r.target.to_text().rstrip("."), port=r.port) for r in records], None


def dns_facts(server: DnsServer, names: list[str], domain: str | None) -> DnsFacts:
    """Forward lookups of every name used for the host, reverse lookups of the addresses they
    resolve to (the SPN Kerberos builds comes from this round trip), and the DC locator records."""
    resolver = server.resolver()
    unique_names = list(dict.fromkeys(n.casefold() for n in names if n))
    forward = [resolve_addresses(resolver, name) for name in unique_names]
    addresses = dict.fromkeys(a for record in forward for a in record.addresses)
    reverse = [resolve_reverse(resolver, address) for address in addresses]
    srv, srv_error = dc_srv(resolver, domain) if domain else ([], "the host's domain is unknown")
    return DnsFacts(server=server.label(), forward=forward, reverse=reverse, dc_srv=srv, dc_srv_error=srv_error)
