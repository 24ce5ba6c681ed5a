"""The lab's DNS server: real DNS wire protocol over UDP on loopback, answering from a table."""

from __future__ import annotations

import socketserver
from collections import Counter, defaultdict
from typing import Any

from dnslib import PTR, QTYPE, RCODE, RR, SRV, A, DNSLabel
from dnslib.server import BaseResolver, DNSLogger, DNSServer


class TableResolver(BaseResolver):  # type: ignore[misc]
    """Answers from {(name, type): [values]}: A → address, PTR → name, SRV → 'priority weight port target'."""

    def __init__(self, records: dict[tuple[str, str], list[str]]) -> None:
        self.records = records
        self.names = {name for name, _ in records}
        self.questions: Counter[tuple[str, str]] = Counter()
        """How often each (name, type) was asked: what a client's own caching saves is seen here."""

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        question = request.q
        name = str(question.qname).rstrip(".").lower()
        rtype = QTYPE[question.qtype]
        self.questions[(name, rtype)] += 1
        for value in self.records.get((name, rtype), []):
            if rtype == "A":
                rdata: Any = A(value)
            elif rtype == "PTR":
                rdata = PTR(DNSLabel(value))
            elif rtype == "SRV":
                priority, weight, port, target = value.split()
                rdata = SRV(int(priority), int(weight), int(port), DNSLabel(target))
            else:
                continue
            reply.add_answer(RR(question.qname, question.qtype, rdata=rdata, ttl=60))
        if not reply.rr and name not in self.names:
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


def reverse_name(address: str) -> str:
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa"


class DnsTable:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = defaultdict(list)

    def add(self, name: str, rtype: str, value: str) -> None:
        self.records[(name.rstrip(".").lower(), rtype)].append(value)

    def replace(self, name: str, rtype: str, values: list[str]) -> None:
        self.records[(name.rstrip(".").lower(), rtype)] = list(values)


class _QueryLoop(socketserver.UDPServer):
    """Answers each query in the server's own loop, where dnslib's default server starts a
    thread per query. An answer comes from a table without waiting on anything, so a thread
    bought nothing but its start-up, which cost the lab about twice the answer itself; the
    answers are the same bytes, and queries arriving together wait in the socket's queue."""

    allow_reuse_address = True


class LabDnsServer:
    def __init__(self, table: DnsTable) -> None:
        logger = DNSLogger(log="-request,-reply,-truncated,-data,-recv,-send,-error", prefix=False)
        self.resolver = TableResolver(dict(table.records))
        self.server = DNSServer(self.resolver, address="127.0.0.1", port=0, logger=logger, server=_QueryLoop)

    def start(self) -> str:
        self.server.start_thread()
        return f"127.0.0.1:{self.server.server.server_address[1]}"

    def stop(self) -> None:
        self.server.stop()
        self.server.server.server_close()
