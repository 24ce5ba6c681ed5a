"""The lab's DNS server: real DNS wire protocol over UDP and TCP on loopback, answering from a
table, and truncating UDP replies as the Windows DNS server does."""

from __future__ import annotations

import re
import socketserver
import struct
import threading
from collections import Counter, defaultdict
from typing import Any

from dnslib import EDNS0, PTR, QTYPE, RCODE, RR, SRV, A, DNSLabel, DNSRecord
from dnslib.label import DNSLabelError
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer, TCPServer

PLAIN_LABEL = re.compile(rb"[-0-9A-Za-z_]{1,63}")
"""A label of letters, digits, ``-`` and ``_``: one that dnslib reads and names as it is."""
FAST_TYPES = {1: "A", 12: "PTR", 28: "AAAA", 33: "SRV"}
"""The types a resolver asks the lab, answered by :meth:`TableResolver.answer`."""
UDP_MESSAGE_SIZE = 512
"""The largest UDP reply to a query without EDNS (RFC 1035 4.2.1); Windows assumes it then too
("Using Extension Mechanisms for DNS (EDNS0)", Windows Server docs)."""
MAXIMUM_UDP_PACKET_SIZE = 4000
"""The Windows DNS server's largest UDP reply whatever a query's EDNS size (its
MaximumUdpPacketSize, 4000 in Get-DnsServerSetting -All's example output)."""


class TableResolver(BaseResolver):  # type: ignore[misc]
    """Answers from {(name, type): [values]}: A → address, PTR → name, SRV → 'priority weight port target'."""

    def __init__(self, records: dict[tuple[str, str], list[str]]) -> None:
        self.records = records
        self.names = {name for name, _ in records}
        self.questions: Counter[tuple[str, str]] = Counter()
        """How often each (name, type) was asked: what a client's own caching saves is seen here."""
        self._counting = threading.Lock()
        """The UDP loop and each TCP connection's thread count questions at once."""
        # Each record's data as the plain answer writes it, made once (the resolver's table never
        # changes): an address's 4 bytes, a PTR's target labels (compressed against the question
        # when answered), an SRV's fields and target, not compressed. A record of another type,
        # or one dnslib could not write, is left to dnslib.
        self.prepared: dict[tuple[str, str], list[bytes | tuple[bytes, ...]]] = {}
        for (name, rtype), values in self.records.items():
            try:
                self.prepared[(name, rtype)] = [_record_data(rtype, value) for value in values]
            except (ValueError, TypeError, struct.error, DNSLabelError, UnicodeError):
                continue

    def answer(self, data: bytes, limit: int | None = None) -> bytes | None:
        """The reply :meth:`resolve` gives to a plain query, as dnslib packs it and
        :func:`fitted` cuts it to ``limit`` bytes, written here; ``None`` for any other query
        (dnslib then parses and answers it). dnslib makes an object for each header field,
        label and record, which cost the lab more than the answer. Plain: a standard query
        with only the recursion-desired flag (or none) and one question of plain labels
        (:data:`PLAIN_LABEL`), of a type in :data:`FAST_TYPES`, in class IN, and nothing
        after it (so no EDNS: over UDP, ``limit`` is then :data:`UDP_MESSAGE_SIZE`)."""
        if len(data) < 17 or data[2] not in (0, 1) or data[3] or data[4:12] != b"\x00\x01" + bytes(6):
            return None
        labels, position = [], 12
        while position < len(data) and 0 < data[position] < 64:
            end = position + 1 + data[position]
            labels.append(data[position + 1 : end])
            position = end
        if (
            len(data) != position + 5
            or data[position]
            or data[position + 1] != 0
            or data[position + 2] not in FAST_TYPES
            or data[position + 3 :] != b"\x00\x01"
            or not labels
            or len(data) - 18 > 253  # the name's text (dnslib writes back no longer one)
            or not all(PLAIN_LABEL.fullmatch(label) for label in labels)
        ):
            return None
        qtype = data[position + 2]
        rtype = FAST_TYPES[qtype]
        name = b".".join(labels).decode().lower()
        if (name, rtype) in self.records and (name, rtype) not in self.prepared:
            return None
        self._asked(name, rtype)
        offsets = {
            tuple(labels[index:]): 12 + sum(len(label) + 1 for label in labels[:index]) for index in range(len(labels))
        }
        answers = []
        size = position + 5
        truncated = 0
        for value in self.prepared.get((name, rtype), []):
            if isinstance(value, tuple):
                value = _compressed(value, offsets, size + 12)
            if limit is not None and size + 12 + len(value) > limit:
                truncated = 0x02  # TC, with the records that fit before it
                break
            answers.append(b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 60, len(value)) + value)
            size += 12 + len(value)
        rcode = 3 if not answers and name not in self.names else 0  # NXDOMAIN
        flags = bytes((0x84 | truncated | data[2], 0x80 | rcode))
        return (
            data[:2] + flags + struct.pack("!HHHH", 1, len(answers), 0, 0) + data[12 : position + 5] + b"".join(answers)
        )

    def _asked(self, name: str, rtype: str) -> None:
        with self._counting:
            self.questions[(name, rtype)] += 1

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        question = request.q
        name = str(question.qname).rstrip(".").lower()
        rtype = QTYPE[question.qtype]
        self._asked(name, rtype)
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
        if _edns_size(request) is not None:
            # Windows answers a query with EDNS with an OPT record of its own UDP maximum.
            reply.add_ar(EDNS0(udp_len=MAXIMUM_UDP_PACKET_SIZE))
        return reply


def _record_data(rtype: str, value: str) -> bytes | tuple[bytes, ...]:
    """What :meth:`TableResolver.prepare` keeps of one record (ValueError for anything odd)."""
    if rtype == "A":
        address = bytes(A(value).data)
        if len(address) != 4:
            raise ValueError(value)
        return address
    if rtype == "PTR":
        return _checked(DNSLabel(value).label)
    if rtype == "SRV":
        priority, weight, port, target = value.split()
        return struct.pack("!HHH", int(priority), int(weight), int(port)) + _labels(_checked(DNSLabel(target).label))
    raise ValueError(rtype)


def _checked(labels: tuple[bytes, ...]) -> tuple[bytes, ...]:
    if len(b".".join(labels)) > 253 or not all(0 < len(label) < 64 for label in labels):
        raise ValueError(labels)
    return labels


def _labels(labels: tuple[bytes, ...]) -> bytes:
    """A name as uncompressed labels, as dnslib writes an SRV's target."""
    return b"".join(bytes((len(label),)) + label for label in labels) + b"\x00"


def _compressed(labels: tuple[bytes, ...], offsets: dict[tuple[bytes, ...], int], at: int) -> bytes:
    """A name written at offset ``at`` as dnslib writes it: up to the first suffix already in
    the message (``offsets``, which it adds to as it goes), then a pointer to it."""
    written = b""
    for index in range(len(labels)):
        suffix = labels[index:]
        if suffix in offsets:
            return written + struct.pack("!H", 0xC000 | offsets[suffix])
        offsets[suffix] = at + len(written)
        written += bytes((len(labels[index]),)) + labels[index]
    return written + b"\x00"


def _edns_size(request: DNSRecord) -> int | None:
    """The UDP payload size a query's OPT record advertises; ``None`` without EDNS."""
    return next((int(rr.rclass) for rr in request.ar if rr.rtype == QTYPE.OPT), None)


def udp_limit(request: DNSRecord) -> int:
    """The largest UDP reply the Windows DNS server sends to ``request``: 512 bytes without
    EDNS, else the size the query advertised (512 at least, RFC 6891 6.2.5) up to its own
    :data:`MAXIMUM_UDP_PACKET_SIZE`."""
    advertised = _edns_size(request)
    if advertised is None:
        return UDP_MESSAGE_SIZE
    return min(max(advertised, UDP_MESSAGE_SIZE), MAXIMUM_UDP_PACKET_SIZE)


def fitted(reply: DNSRecord, limit: int | None) -> bytes:
    """``reply`` packed in at most ``limit`` bytes as Windows sends a UDP reply too large for
    the query: "with as much data as the UDP datagram allows" and the truncation flag set
    ("DNS network ports", Windows Server docs; MS-DNSP 3.1.1.1.1 AddressAnswerLimit), the
    answers that fit whole kept in order and the OPT record too (RFC 6891 7). A client that
    sees TC asks again over TCP (RFC 1035 4.2.1). dnslib's own truncation keeps no record."""
    packed = bytes(reply.pack())
    if limit is None or len(packed) <= limit:
        return packed
    reply.header.tc = 1
    while reply.rr and len(packed) > limit:
        reply.rr.pop()
        packed = bytes(reply.pack())
    return packed


class _PlainQueryHandler(DNSHandler):  # type: ignore[misc]
    """dnslib's handler, with plain queries answered by :meth:`TableResolver.answer` and
    every UDP reply cut by :func:`fitted` (TCP replies are whole)."""

    def get_reply(self, data: bytes) -> bytes:
        udp = self.protocol == "udp"
        resolver: TableResolver = self.server.resolver
        reply = resolver.answer(data, UDP_MESSAGE_SIZE if udp else None)
        if reply is not None:
            return reply
        request = DNSRecord.parse(data)
        return fitted(resolver.resolve(request, self), udp_limit(request) if udp else None)


def reverse_name(address: str) -> str:
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa"


class DnsTable:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], list[str]] = defaultdict(list)

    def add(self, name: str, rtype: str, value: str) -> None:
        self.records[(name.rstrip(".").lower(), rtype)].append(value)

    def replace(self, name: str, rtype: str, values: list[str]) -> None:
        self.records[(name.rstrip(".").lower(), rtype)] = list(values)


PORT_ATTEMPTS = 20
"""Loopback ports tried for the UDP server whose number is free for TCP too: another process may
hold the TCP port of a free UDP one, rarely twice in a row."""


class _QueryLoop(socketserver.UDPServer):
    """Answers each query in the server's own loop, where dnslib's default server starts a
    thread per query. An answer comes from a table without waiting on anything, so a thread
    bought nothing but its start-up, which cost the lab about twice the answer itself; the
    answers are the same bytes, and queries arriving together wait in the socket's queue."""

    allow_reuse_address = True


class LabDnsServer:
    """The table served over UDP and, on the same port, over TCP, where a client asks again
    after a truncated reply (Windows DNS listens on both: "DNS network ports")."""

    def __init__(self, table: DnsTable) -> None:
        logger = DNSLogger(log="-request,-reply,-truncated,-data,-recv,-send,-error", prefix=False)
        self.resolver = TableResolver(dict(table.records))
        for _ in range(PORT_ATTEMPTS):
            self.server = DNSServer(
                self.resolver, address="127.0.0.1", port=0, logger=logger, server=_QueryLoop, handler=_PlainQueryHandler
            )
            port = self.server.server.server_address[1]
            try:
                self.tcp = DNSServer(
                    self.resolver,
                    address="127.0.0.1",
                    port=port,
                    logger=logger,
                    server=TCPServer,
                    handler=_PlainQueryHandler,
                )
                break
            except OSError:  # the UDP port's number is taken for TCP: another pair
                self.server.server.server_close()
        else:
            raise OSError("no loopback port free for DNS over both UDP and TCP")

    def start(self) -> str:
        self.server.start_thread()
        self.tcp.start_thread()
        return f"127.0.0.1:{self.server.server.server_address[1]}"

    def stop(self) -> None:
        """Both loops told to end at once: each notices within its poll interval (half a
        second), and ending them one after the other would double every lab's stop."""
        tcp_ended = threading.Thread(target=self.tcp.stop, daemon=True)
        tcp_ended.start()
        self.server.stop()
        tcp_ended.join()
        for server in (self.server, self.tcp):
            server.server.server_close()
