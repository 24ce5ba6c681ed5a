"""DNS facts read by the tool with dnspython: forward and reverse records, DC SRV records."""

from __future__ import annotations

import ipaddress
import re
import socket
import time
from dataclasses import dataclass
from typing import Any

import dns.exception
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

    def resolve(self, *args: Any, **kwargs: Any) -> dns.resolver.Answer:
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise NoTimeLeft()
            kwargs["lifetime"] = min(self.lifetime, left)
        return super().resolve(*args, **kwargs)


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
        if self.address is None:
            resolver = DeadlineResolver()
        else:
            resolver = DeadlineResolver(configure=False)
            resolver.nameservers = [self.address]
            resolver.port = self.port
        resolver.lifetime = LIFETIME
        resolver.deadline = deadline
        return resolver

    def label(self) -> str:
        if self.address is None:
            return "system resolver"
        if self.port == 53:
            return self.address
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


def _error(exc: Exception) -> str:
    if isinstance(exc, dns.resolver.NXDOMAIN):
        return "NXDOMAIN (no such name)"
    if isinstance(exc, dns.resolver.NoAnswer):
        return "no record of that type"
    if isinstance(exc, NoTimeLeft):
        return "not asked: no time left (--timeout)"
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
    return srv_targets(resolver, f"_ldap._tcp.dc._msdcs.{domain}")


def srv_targets(resolver: dns.resolver.Resolver, record: str) -> tuple[list[SrvTarget], str | None]:
    """The targets of one SRV record, best first, or why there are none."""
    try:
        answer = resolver.resolve(record, "SRV")
    except Exception as exc:
        return [], _error(exc)
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
