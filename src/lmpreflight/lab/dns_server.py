"""The lab's DNS server: real DNS wire protocol over UDP on loopback, answering from a table."""

from __future__ import annotations

import re
import socketserver
import struct
from collections import Counter, defaultdict
from typing import Any

from dnslib import PTR, QTYPE, RCODE, RR, SRV, A, DNSLabel
from dnslib.label import DNSLabelError
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

PLAIN_LABEL = re.compile(rb"[-0-9A-Za-z_]{1,63}")
"""A label of letters, digits, ``-`` and ``_``: one that dnslib reads and names as it is."""
FAST_TYPES = {1: "A", 12: "PTR", 28: "AAAA", 33: "SRV"}
"""The types a resolver asks the lab, answered by :meth:`TableResolver.answer`."""


class TableResolver(BaseResolver):  # type: ignore[misc]
    """Answers from {(name, type): [values]}: A → address, PTR → name, SRV → 'priority weight port target'."""

    def __init__(self, records: dict[tuple[str, str], list[str]]) -> None:
        self.records = records
        self.names = {name for name, _ in records}
        self.questions: Counter[tuple[str, str]] = Counter()
        """How often each (name, type) was asked: what a client's own caching saves is seen here."""
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

    def answer(self, data: bytes) -> bytes | None:
        """The reply :meth:`resolve` gives to a plain query, as dnslib packs it, written
        here; ``None`` for any other query (dnslib then parses and answers it). dnslib makes
        an object for each header field, label and record, which cost the lab more than the
        answer. Plain: a standard query with only the recursion-desired flag (or none) and
        one question of plain labels (:data:`PLAIN_LABEL`), of a type in :data:`FAST_TYPES`,
        in class IN, and nothing after it."""
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
        self.questions[(name, rtype)] += 1
        offsets = {
            tuple(labels[index:]): 12 + sum(len(label) + 1 for label in labels[:index]) for index in range(len(labels))
        }
        answers = []
        size = position + 5
        for value in self.prepared.get((name, rtype), []):
            if isinstance(value, tuple):
                value = _compressed(value, offsets, size + 12)
            answers.append(b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 60, len(value)) + value)
            size += 12 + len(value)
        rcode = 3 if not answers and name not in self.names else 0  # NXDOMAIN
        flags = bytes((0x84 | data[2], 0x80 | rcode))
        return (
            data[:2] + flags + struct.pack("!HHHH", 1, len(answers), 0, 0) + data[12 : position + 5] + b"".join(answers)
        )

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


class _PlainQueryHandler(DNSHandler):  # type: ignore[misc]
    """dnslib's handler, with plain queries answered by :meth:`TableResolver.answer`."""

    def get_reply(self, data: bytes) -> bytes:
        reply: bytes | None = self.server.resolver.answer(data) if self.protocol == "udp" else None
        return reply if reply is not None else bytes(super().get_reply(data))


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
        self.server = DNSServer(
            self.resolver, address="127.0.0.1", port=0, logger=logger, server=_QueryLoop, handler=_PlainQueryHandler
        )

    def start(self) -> str:
        self.server.start_thread()
        return f"127.0.0.1:{self.server.server.server_address[1]}"

    def stop(self) -> None:
        self.server.stop()
        self.server.server.server_close()
