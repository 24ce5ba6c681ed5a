"""The lab's DNS answers plain queries itself, byte for byte what dnslib answers for them,
and leaves every other query to dnslib."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from dnslib import EDNS0, QTYPE, DNSQuestion, DNSRecord

from lmpreflight.lab.dns_server import TableResolver
from lmpreflight.lab.environment import Lab
from lmpreflight.lab.scenario import load_scenario


def _resolver(scenario: str) -> TableResolver:
    lab = Lab(load_scenario(scenario))
    lab.endpoints.ldap = {name: 3890 + index for index, name in enumerate(lab.scenario.domains)}
    lab.endpoints.global_catalogs = dict.fromkeys(lab.scenario.domains, 3268)
    table = lab._dns_table()
    table.add("odd.corp.example", "A", "10.1.2")  # dnslib cannot write this one: left to it
    table.add("many.corp.example", "PTR", "one.corp.example.")
    table.add("many.corp.example", "PTR", "two.other.example.")
    return TableResolver(dict(table.records))


def _dnslib(resolver: TableResolver, data: bytes) -> bytes:
    return bytes(resolver.resolve(DNSRecord.parse(data), None).pack())


def _query(name: str, qtype: str, rd: int, ident: int) -> bytes:
    record = DNSRecord.question(name, qtype)
    record.header.id, record.header.rd = ident, rd
    return bytes(record.pack())


@pytest.mark.parametrize("scenario", ["fleet", "destination-name-typo", "source-finds-no-dc"])
def test_a_plain_query_is_answered_as_dnslib_answers_it(scenario: str) -> None:
    """Every name of the table and some it lacks, in each type a resolver asks, in other
    cases, with and without recursion desired: the same bytes and the same count of questions."""
    resolver = _resolver(scenario)
    names = [*sorted({name for name, _ in resolver.records}), "nowhere.corp.example", "x", "_gc._tcp.nowhere"]
    answered, kinds = 0, set()
    for index, (name, qtype, rd) in enumerate(itertools.product(names, ("A", "PTR", "AAAA", "SRV"), (0, 1))):
        for typed in (name, name.upper(), name.title() + "."):
            data = _query(typed, qtype, rd, (index * 7919) % 65536)
            before = resolver.questions.copy()
            ours = resolver.answer(data)
            asked = resolver.questions - before
            if name == "odd.corp.example" and qtype == "A":
                assert ours is None and not asked
                with pytest.raises(ValueError):
                    _dnslib(resolver, data)
                continue
            assert ours == _dnslib(resolver, data), (typed, qtype)
            assert asked == {(name.lower(), qtype): 1}
            assert resolver.questions - before == asked + asked  # counted once by each
            answered += 1
            kinds.add((qtype, DNSRecord.parse(ours).header.a, DNSRecord.parse(ours).header.rcode))
    assert answered > 100
    assert {("A", 1, 0), ("A", 0, 3), ("AAAA", 0, 0)} <= kinds
    assert ("PTR", 2, 0) in kinds or scenario != "fleet"
    assert ("SRV", 1, 0) in kinds


def test_any_other_query_is_left_to_dnslib() -> None:
    resolver = _resolver("fleet")
    plain = _query("dc01.corp.example", "A", 1, 4660)
    assert resolver.answer(plain) is not None
    two = DNSRecord.question("dc01.corp.example", "A")
    two.add_question(DNSQuestion("dc01.corp.example", QTYPE.AAAA))
    edns = DNSRecord.question("dc01.corp.example", "A")
    edns.add_ar(EDNS0())
    odd: list[Any] = [
        bytes(two.pack()),
        bytes(edns.pack()),
        _query("dc01.corp.example", "CNAME", 1, 1),
        _query("dc01.corp.example", "MX", 1, 1),
        _query("dc\\.01.corp.example", "A", 1, 1),
        _query("dc 01.corp.example", "A", 1, 1),
        plain[:2] + b"\x81\x00" + plain[4:],  # a response, not a query
        plain[:2] + b"\x09\x00" + plain[4:],  # another opcode
        plain[:-2] + b"\x00\x03",  # class CH
        plain + b"\x00",
        plain[:-1],
        plain[:12] + b"\xc0\x0c" + plain[-4:],
    ]
    for data in odd:
        assert resolver.answer(data) is None, data.hex()


def test_the_server_answers_plain_and_other_queries_over_udp() -> None:
    """Through the socket: the plain query's reply and the EDNS one's (dnslib's) are what dnslib sends."""
    import socket

    from lmpreflight.lab.dns_server import DnsTable, LabDnsServer

    table = DnsTable()
    table.add("dc01.corp.example", "A", "127.0.0.1")
    server = LabDnsServer(table)
    host, _, port = server.start().partition(":")
    edns = DNSRecord.question("DC01.corp.example", "A")
    edns.add_ar(EDNS0())
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
            client.settimeout(5)
            for data in (_query("DC01.corp.example", "A", 1, 4242), bytes(edns.pack())):
                client.sendto(data, (host, int(port)))
                assert client.recv(4096) == _dnslib(server.resolver, data)
    finally:
        server.stop()
    assert server.resolver.questions[("dc01.corp.example", "A")] == 4  # each asked over UDP and of dnslib here
