"""DNS facts read by the tool with dnspython: forward and reverse records, DC SRV records."""

from __future__ import annotations

import copy
import functools
import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.nameserver
import dns.resolver
import dns.reversename

from lmpreflight.errors import UserError
from lmpreflight.facts.model import DnsFacts, DnsRecord, ReverseRecord, SrvTarget

LIFETIME = 5.0


class NoTimeLeft(dns.exception.DNSException):
    """The run's --timeout is used up; the query was not sent."""

    def __init__(self) -> None:
        super().__init__("no time left (--timeout)")  # type: ignore[no-untyped-call]


class DeadlineResolver(dns.resolver.Resolver):
    """A resolver whose every query ends by ``deadline`` (time.monotonic), so however many
    names, addresses and SRV records there are, DNS stays within the host's --timeout."""

    deadline: float | None = None
    names: dict[str, dns.name.Name]
    """The names asked so far, parsed: a host's name is asked for A and then AAAA, and
    dnspython parses a name given as text on every query (about 1.5% of a host's DNS)."""

    def resolve(self, qname: dns.name.Name | str, *args: Any, **kwargs: Any) -> dns.resolver.Answer:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise NoTimeLeft()
            kwargs["lifetime"] = min(self.lifetime, left)
        if isinstance(qname, str):
            # Parsed where and as dnspython parses it, so a bad name fails as it always has.
            name = self.names.get(qname)
            if name is None:
                name = self.names[qname] = dns.name.from_text(qname, None)
            qname = name
        return super().resolve(qname, *args, **kwargs)


HOST_NAME = re.compile(
    r"^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62})(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,62}))*\.?$"
)
DNS_SERVER_FORMS = "expected an IP address, a host name, HOST:PORT or [IPv6]:PORT (for example 10.0.0.5 or dc01:53)"


def _split_host_port(text: str) -> tuple[str, int]:
    """``[v6]:port``, ``[v6]``, a bare IPv6 address, ``host:port`` or ``host``."""
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise UserError(f"--dns-server {text}: {DNS_SERVER_FORMS}")
        port = rest[1:] if rest else "53"
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, "53"
    if not port.isascii() or not port.isdigit():
        raise UserError(f"--dns-server {text}: the port must be a number (1-65535)")
    return host, int(port)


@dataclass(frozen=True)
class DnsServer:
    """``--dns-server HOST[:PORT]``; ``None`` uses the system's resolver configuration."""

    address: str | None = None
    port: int = 53

    @classmethod
    def parse(cls, text: str | None) -> DnsServer:
        """An IP address, a host name (resolved now), ``HOST:PORT`` or ``[IPv6]:PORT``; anything
        else is a one-line usage error, because dnspython only takes addresses."""
        if not text:
            return cls()
        host, port = _split_host_port(text)
        if not 0 < port < 65536:
            raise UserError(f"--dns-server {text}: the port must be between 1 and 65535")
        try:
            return cls(str(ipaddress.ip_address(host)), port)
        except ValueError:
            pass
        if not HOST_NAME.match(host):
            raise UserError(f"--dns-server {text}: {DNS_SERVER_FORMS}")
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
        except (OSError, UnicodeError):
            raise UserError(f"--dns-server {text}: cannot resolve {host}; give the server's IP address") from None
        return cls(str(found[0][4][0]), port)

    def resolver(self, deadline: float | None = None) -> DeadlineResolver:
        """A resolver of its own for one host's queries (its deadline, names and cache are
        its own), copied from the server's configured one."""
        resolver = copy.copy(_configured(self))
        resolver.deadline = deadline
        resolver.names = {}
        return resolver

    def label(self) -> str:
        if self.address is None:
            return "system resolver"
        if self.port == 53:
            return self.address
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


@functools.cache
def _configured(server: DnsServer) -> DeadlineResolver:
    """``server``'s resolver, configured once a process: dnspython's configuration (the host's
    name, the system's /etc/resolv.conf when no server is given) cost each host about 2% of
    its DNS. The hosts' resolvers are copies: dnspython only reads this configuration."""
    if server.address is None:
        resolver = DeadlineResolver()
    else:
        resolver = DeadlineResolver(configure=False)
        # dnspython makes this object from an address and a port again for every query.
        resolver.nameservers = [dns.nameserver.Do53Nameserver(server.address, server.port)]
    resolver.lifetime = LIFETIME
    return resolver


def _error(exc: Exception) -> str:
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return "NXDOMAIN (no such name)"
    if isinstance(exc, NoTimeLeft):
        return "not asked: no time left (--timeout)"
    if isinstance(exc, dns.exception.Timeout):
        return "the DNS server did not answer"
    return f"{type(exc).__name__}: {exc}"


def _records(resolver: dns.resolver.Resolver, qname: dns.name.Name | str, rdtype: str) -> tuple[list[Any], str | None]:
    """The records of one question, or why there are none. A name without records of the
    type is an answer, not an exception: dnspython's NoAnswer cost a host without IPv6
    about 3% of its DNS to raise, for the same words."""
    try:
        answer = resolver.resolve(qname, rdtype, raise_on_no_answer=False)
    except Exception as exc:  # each failure is a fact, not a crash
        return [], _error(exc)
    if answer.rrset is None:
        return [], "no record of that type"
    return list(answer), None


def resolve_addresses(resolver: dns.resolver.Resolver, name: str) -> DnsRecord:
    addresses: list[str] = []
    errors: list[str] = []
    for rdtype in ("A", "AAAA"):
        records, error = _records(resolver, name, rdtype)
        addresses += [r.to_text() for r in records]
        if error is not None:
            errors.append(error)
    return DnsRecord(name=name, addresses=addresses, error=None if addresses else (errors[0] if errors else None))


def resolve_reverse(resolver: dns.resolver.Resolver, address: str) -> ReverseRecord:
    try:
        name = dns.reversename.from_address(address)
    except Exception as exc:
        return ReverseRecord(address=address, error=_error(exc))
    records, error = _records(resolver, name, "PTR")
    if error is not None:
        return ReverseRecord(address=address, error=error)
    return ReverseRecord(address=address, names=[r.to_text() for r in records])


def dc_srv(resolver: dns.resolver.Resolver, domain: str) -> tuple[list[SrvTarget], str | None]:
    return srv_targets(resolver, f"_ldap._tcp.dc._msdcs.{domain}")


def srv_targets(resolver: dns.resolver.Resolver, record: str) -> tuple[list[SrvTarget], str | None]:
    """The targets of one SRV record, best first, or why there are none."""
    answer, error = _records(resolver, record, "SRV")
    if error is not None:
        return [], error
    records = sorted(answer, key=lambda r: (r.priority, -r.weight))
    return [SrvTarget(target=r.target.to_text().rstrip("."), port=r.port) for r in records], None


def dns_facts(
    server: DnsServer,
    names: list[str],
    domain: str | None,
    deadline: float | None = None,
    locators: dns.resolver.Cache | None = None,
) -> DnsFacts:
    """Forward lookups of every name used for the host, reverse lookups of the addresses they
    resolve to (the SPN Kerberos builds comes from this round trip), and the DC locator records,
    all done by ``deadline``. The locator records are the same for every host of the domain:
    ``locators``, shared by the hosts of one run, keeps their answer within its TTL, as any
    caching resolver (Windows' own DNS client among them) would."""
    resolver = server.resolver(deadline)
    unique_names = list(dict.fromkeys(n.casefold() for n in names if n))
    forward = [resolve_addresses(resolver, name) for name in unique_names]
    addresses = dict.fromkeys(a for record in forward for a in record.addresses)
    reverse = [resolve_reverse(resolver, address) for address in addresses]
    resolver.cache = locators
    srv, srv_error = dc_srv(resolver, domain) if domain else ([], "the host's domain is unknown")
    return DnsFacts(server=server.label(), forward=forward, reverse=reverse, dc_srv=srv, dc_srv_error=srv_error)
