"""The lab's DNS answers plain queries itself, byte for byte what dnslib answers for them,
and leaves every other query to dnslib; it cuts UDP replies as Windows DNS does, serves TCP, and
the tool's resolver asks again over TCP."""

from __future__ import annotations

import itertools
import time
from typing import Any

import pytest
from dnslib import EDNS0, QTYPE, DNSQuestion, DNSRecord

from lmpreflight.collect.dns import DnsServer, dns_facts, resolve_addresses, srv_targets
from lmpreflight.lab.dns_server import (
    MAXIMUM_UDP_PACKET_SIZE,
    UDP_MESSAGE_SIZE,
    DnsTable,
    LabDnsServer,
    TableResolver,
    fitted,
    reverse_name,
    udp_limit,
)
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


# A domain with many DCs: its locator record's answer is larger than a UDP message without EDNS.
MANY_DCS = 40
LOCATOR = "_ldap._tcp.dc._msdcs.corp.example"


def _many_dcs() -> DnsTable:
    table = DnsTable()
    for index in range(MANY_DCS):
        table.add(LOCATOR, "SRV", f"{index % 3} {100 - index} 389 dc{index:02}.branch-office-{index:02}.corp.example")
    table.add("hv01.corp.example", "A", "10.0.0.1")
    table.add(reverse_name("10.0.0.1"), "PTR", "hv01.corp.example.")
    return table


def _edns_query(name: str, qtype: str, size: int) -> bytes:
    record = DNSRecord.question(name, qtype)
    record.add_ar(EDNS0(udp_len=size))
    return bytes(record.pack())


def test_a_udp_reply_too_large_keeps_the_records_that_fit_and_sets_tc() -> None:
    """Windows sends as much of the answer as the datagram allows, with TC set; the plain
    answer and dnslib's (cut by ``fitted``) are the same bytes, and TCP gets it whole."""
    resolver = TableResolver(dict(_many_dcs().records))
    data = _query(LOCATOR, "SRV", 1, 4711)
    whole = DNSRecord.parse(_dnslib(resolver, data))
    assert len(whole.pack()) > UDP_MESSAGE_SIZE and len(whole.rr) == MANY_DCS
    cut = resolver.answer(data, UDP_MESSAGE_SIZE)
    assert cut is not None and cut == fitted(resolver.resolve(DNSRecord.parse(data), None), UDP_MESSAGE_SIZE)
    reply = DNSRecord.parse(cut)
    assert len(cut) <= UDP_MESSAGE_SIZE and reply.header.tc == 1
    assert 0 < len(reply.rr) < MANY_DCS and [str(r.rdata) for r in reply.rr] == [
        str(r.rdata) for r in whole.rr[: len(reply.rr)]
    ]
    one_more = resolver.resolve(DNSRecord.parse(data), None)
    one_more.rr = one_more.rr[: len(reply.rr) + 1]
    assert len(one_more.pack()) > UDP_MESSAGE_SIZE  # the next record would not have fitted
    assert resolver.answer(data) == bytes(whole.pack()) and whole.header.tc == 0
    small = _query("hv01.corp.example", "A", 1, 1)
    assert resolver.answer(small, UDP_MESSAGE_SIZE) == resolver.answer(small)


@pytest.mark.parametrize(("advertised", "limit"), [(1232, 1232), (100, 512), (65000, MAXIMUM_UDP_PACKET_SIZE)])
def test_a_query_with_edns_gets_up_to_the_size_it_advertised(advertised: int, limit: int) -> None:
    request = DNSRecord.parse(_edns_query(LOCATOR, "SRV", advertised))
    assert udp_limit(request) == limit
    resolver = TableResolver(dict(_many_dcs().records))
    packed = fitted(resolver.resolve(request, None), limit)
    reply = DNSRecord.parse(packed)
    assert len(packed) <= limit
    assert reply.header.tc == (len(reply.rr) < MANY_DCS)
    assert [(rr.rtype, rr.rclass) for rr in reply.ar] == [(QTYPE.OPT, MAXIMUM_UDP_PACKET_SIZE)]  # kept when cut


def _exchange(address: str, data: bytes, tcp: bool) -> bytes:
    import socket
    import struct

    host, _, port = address.partition(":")
    kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as client:
        client.settimeout(5)
        if not tcp:
            client.sendto(data, (host, int(port)))
            return client.recv(65535)
        client.connect((host, int(port)))
        client.sendall(struct.pack("!H", len(data)) + data)
        reply = b""
        while len(reply) < 2 or len(reply) < 2 + struct.unpack("!H", reply[:2])[0]:
            reply += client.recv(65535)
        return reply[2:]


def test_the_server_truncates_over_udp_and_answers_whole_over_tcp() -> None:
    server = LabDnsServer(_many_dcs())
    address = server.start()
    try:
        plain, edns = _query(LOCATOR, "SRV", 1, 7), _edns_query(LOCATOR, "SRV", 1232)
        over_udp = DNSRecord.parse(_exchange(address, plain, tcp=False))
        over_edns = DNSRecord.parse(_exchange(address, edns, tcp=False))
        over_tcp = DNSRecord.parse(_exchange(address, plain, tcp=True))
    finally:
        server.stop()
    assert over_udp.header.tc == 1 and 0 < len(over_udp.rr) < len(over_edns.rr) < MANY_DCS
    assert over_tcp.header.tc == 0 and len(over_tcp.rr) == MANY_DCS


def test_the_tool_asks_again_over_tcp_and_reads_every_dc() -> None:
    """dnspython's resolver sees TC and asks again over TCP: every DC of the record, best
    first, and the lab was asked the question twice (over UDP, then over TCP)."""
    server = LabDnsServer(_many_dcs())
    dns = DnsServer.parse(server.start())
    try:
        facts = dns_facts(dns, ["hv01.corp.example"], "corp.example", time.monotonic() + 10)
    finally:
        server.stop()
    assert facts.dc_srv_error is None and len(facts.dc_srv) == MANY_DCS
    best = sorted(range(MANY_DCS), key=lambda index: (index % 3, index - 100))
    assert [t.target for t in facts.dc_srv] == [f"dc{i:02}.branch-office-{i:02}.corp.example" for i in best]
    assert server.resolver.questions[(LOCATOR, "SRV")] == 2
    assert server.resolver.questions[("hv01.corp.example", "A")] == 1  # small answers stay on UDP


def test_the_tools_dns_facts_keep_their_answers_and_errors() -> None:
    """What each kind of answer becomes in the facts: addresses and names, NXDOMAIN, a name
    without records of a type, no time left, a server that never answers."""
    import socket

    table = _many_dcs()
    table.add("alias.corp.example", "PTR", "hv01.corp.example.")  # a name, but without addresses
    server = LabDnsServer(table)
    dns = DnsServer.parse(server.start())
    try:
        facts = dns_facts(dns, ["hv01.corp.example", "HV01.corp.example", "", "nowhere.corp.example"], None, None)
        unaddressed = dns_facts(dns, ["alias.corp.example"], "nowhere.example", time.monotonic() + 10)
        late = dns_facts(dns, ["hv01.corp.example"], "corp.example", time.monotonic() - 1)
    finally:
        server.stop()
    assert [(r.name, r.addresses, r.error) for r in facts.forward] == [
        ("hv01.corp.example", ["10.0.0.1"], None),
        ("nowhere.corp.example", [], "NXDOMAIN (no such name)"),
    ]
    assert [(r.address, r.names, r.error) for r in facts.reverse] == [("10.0.0.1", ["hv01.corp.example."], None)]
    assert (facts.dc_srv, facts.dc_srv_error) == ([], "the host's domain is unknown")
    assert [(r.addresses, r.error) for r in unaddressed.forward] == [([], "no record of that type")]
    assert unaddressed.reverse == [] and unaddressed.dc_srv_error == "NXDOMAIN (no such name)"
    assert [r.error for r in late.forward] == ["not asked: no time left (--timeout)"]
    assert late.dc_srv_error == "not asked: no time left (--timeout)"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        mute = DnsServer("127.0.0.1", silent.getsockname()[1])
        unanswered = dns_facts(mute, ["hv01.corp.example"], "corp.example", time.monotonic() + 0.3)
    assert [r.error for r in unanswered.forward] == ["the DNS server did not answer"]


def test_a_name_without_records_of_a_type_is_said_so() -> None:
    table = DnsTable()
    table.add("hv01.corp.example", "A", "10.0.0.1")
    server = LabDnsServer(table)
    dns = DnsServer.parse(server.start())
    try:
        resolver = dns.resolver(time.monotonic() + 10)
        only_a = resolve_addresses(resolver, "hv01.corp.example")
        no_srv = srv_targets(resolver, "hv01.corp.example")
        no_ptr = dns_facts(dns, ["hv01.corp.example"], None, time.monotonic() + 10).reverse
    finally:
        server.stop()
    assert (only_a.addresses, only_a.error) == (["10.0.0.1"], None)
    assert no_srv == ([], "no record of that type")
    assert [(r.address, r.error) for r in no_ptr] == [("10.0.0.1", "NXDOMAIN (no such name)")]
    assert dns.resolver().names == {} and dns.resolver() is not dns.resolver()  # each host's own
