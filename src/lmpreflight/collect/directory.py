"""Directory facts read by the tool itself over LDAP.

A script running inside a WinRM session cannot reach Active Directory with the user's
credentials (the Kerberos double hop), so the tool reads the computer accounts, their
delegation settings and SPNs, the domain's trusts and a DC's clock directly. The DC is
found through DNS SRV records of the domain the admin chose (never one a host reports), and
only DCs named inside that domain are contacted. The connection is upgraded with StartTLS
and verified, then bound with SASL GSS-SPNEGO, so the password itself is never sent. Values are read raw and converted
here, so the result does not depend on the server publishing a schema.
"""

from __future__ import annotations

import contextlib
import math
import re
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

import dns.resolver
from spnego.channel_bindings import GssChannelBindings
from spnego.exceptions import SpnegoError

from lmpreflight.collect.dns import DnsServer, resolve_addresses, srv_targets
from lmpreflight.collect.winrm import ntlm_hashes
from lmpreflight.escape import dn_value, ldap_filter_value
from lmpreflight.facts.model import (
    ComputerAccount,
    DirectoryFacts,
    SpnHolder,
    SrvTarget,
    Trust,
    UserAccount,
    is_address,
)

MIGRATION_SERVICE = "Microsoft Virtual System Migration Service"
TRUST_DIRECTIONS = {0: "Disabled", 1: "Inbound", 2: "Outbound", 3: "Bidirectional"}
TRUST_ATTRIBUTE_NON_TRANSITIVE = 0x1
TRUST_ATTRIBUTE_FOREST_TRANSITIVE = 0x8
TRUST_ATTRIBUTE_CROSS_ORGANIZATION = 0x10
"""Selective authentication (MS-ADTS 6.1.6.7.9 trustAttributes)."""
NOT_DELEGATED = 0x100000
"""ADS_UF_NOT_DELEGATED: 'Account is sensitive and cannot be delegated'."""
PROTECTED_USERS_RID = 525
ACCESS_ALLOWED_ACE_TYPE = 0
TRUST_ATTRIBUTE_WITHIN_FOREST = 0x20
SASL_MECHANISM = "GSS-SPNEGO"
MAX_DCS = 3
"""Domain controllers tried per read; the rest of a long SRV list is not contacted."""
CONNECT_TIMEOUT = 5.0
RECEIVE_TIMEOUT = 10.0
CONNECTIONS_PER_SERVER = 2
"""Bound connections one run keeps open to one domain's DCs (or Global Catalogs) at most (a
fleet's workers share them out, one each). A fleet's hosts take their accounts and SPN holders
from their group's batched reads, so a connection more mostly holds a host waiting for those,
and costs a TLS handshake and a logon: about 14 ms of the tool's CPU and 10 of the DC's."""
STALE_RETRIES = 3
BATCH_HOSTS = 50
"""Hosts of a fleet whose computer accounts one search reads (and whose migration SPNs' holders
one Global Catalog search finds): the search's own cost (a request, a round trip, its end)
is then shared by 50 hosts, while each host still waits only for its own group's answer."""
PAGE_SIZE = 1000
"""Entries a search that may find many asks for per page: Active Directory's default
MaxPageSize. A DC returns at most MaxPageSize entries to a search without the paged-results
control and ends it with sizeLimitExceeded ("View and set LDAP policy in Active Directory by
using Ntdsutil.exe", KB 315071), which ldap3 does not raise: a batch of hosts' entries, the
holders of an SPN and the domain's trusts are read a page at a time, so none is left out. Only
searches by sAMAccountName, unique among a domain's security principals (MS-SAMR 3.1.1.6),
and of one object are not."""
MOST_PAGES = 20
"""Pages a search reads at most: a batch of hosts' accounts, the holders of an SPN and a
domain's trusts are far fewer than 20,000 entries, so a DC still sending cookies past that is
answering something else (and must not hold a run past its deadline)."""
PAGED_RESULTS = "1.2.840.113556.1.4.319"
"""The simple paged results control (RFC 2696)."""
COMPUTER_ATTRIBUTES = [
    "distinguishedName",
    "sAMAccountName",
    "dNSHostName",
    "servicePrincipalName",
    "msDS-AllowedToDelegateTo",
    "msDS-AllowedToActOnBehalfOfOtherIdentity",
    "objectSid",
    "userAccountControl",
]


RAW_VALUES = dict.fromkeys(
    [
        *COMPUTER_ATTRIBUTES,
        "currentTime",
        "rootDomainNamingContext",
        "trustPartner",
        "trustDirection",
        "trustAttributes",
        "tokenGroups",
    ],
    bytes.__bytes__,
)
"""ldap3's formatter for every attribute the tool reads: the value as it came. The tool reads
only the raw values (converted here, so nothing depends on the server publishing a schema);
ldap3's own conversion of each value to text fills a dictionary nothing reads, and costs a
fifth of decoding an account with hundreds of delegation SPNs. ``bytes.__bytes__`` hands back
the very bytes ldap3 decoded, called from C: ldap3's dictionaries of such an account cost about
6% less than with a Python function returning its argument."""


class DirectoryError(Exception):
    def __init__(self, message: str, hint: str | None = None, credentials_rejected: bool = False) -> None:
        super().__init__(message)
        self.message, self.hint = message, hint
        self.credentials_rejected = credentials_rejected


BIND_REASONS = {
    "525": "no such user",
    "52e": "bad password",
    "530": "logon not permitted at this time",
    "531": "logon not permitted from this workstation",
    "532": "password expired",
    "533": "account disabled",
    "701": "account expired",
    "773": "the user must reset the password",
    "775": "account locked out",
}
"""Active Directory's sub-codes of LDAP result 49 (the ``data NNN`` in its message), as
tabulated by the Shibboleth wiki's "IdPAuthUserPassLoginPageMSADerror" page."""


def _bind_reason(exc: Exception) -> str:
    """`` (52e = bad password)`` from AD's raw bind message; empty when it names no sub-code."""
    match = re.search(r"\bdata ([0-9a-f]{3})\b", str(exc))
    if match is None:
        return ""
    code = match.group(1)
    return f" ({code} = {BIND_REASONS[code]})" if code in BIND_REASONS else f" (AD code {code})"


@dataclass(frozen=True)
class DirectoryCredentials:
    user: str
    password: str
    ca_cert: str | None = None
    verify: bool = True

    def __repr__(self) -> str:
        return f"DirectoryCredentials(user={self.user!r})"


def base_dn(domain: str) -> str:
    return ",".join(f"DC={dn_value(label)}" for label in domain.split("."))


def _first(entry: dict[str, list[bytes]], name: str) -> str | None:
    for key, values in entry.items():
        if key.casefold() == name.casefold() and values:
            return values[0].decode("utf-8")
    return None


def _all(entry: dict[str, list[bytes]], name: str) -> list[str]:
    """Every value of ``name`` as UTF-8 text (``bytes.decode``'s default, strict), mapped
    rather than decoded in a comprehension: turning an account with hundreds of delegation
    SPNs into facts costs about a fifth less."""
    for key, values in entry.items():
        if key.casefold() == name.casefold():
            return list(map(bytes.decode, values))
    return []


def _raw(entry: dict[str, list[bytes]], name: str) -> list[bytes]:
    for key, values in entry.items():
        if key.casefold() == name.casefold():
            return list(values)
    return []


def sid_text(data: bytes) -> str:
    """A binary SID (MS-DTYP 2.4.2.2) as S-1-5-21-...; ``ValueError`` when it is not one."""
    if len(data) < 8 or data[0] != 1 or len(data) < 8 + 4 * data[1]:
        raise ValueError("not a SID")
    authority = int.from_bytes(data[2:8], "big")
    subs = [int.from_bytes(data[8 + 4 * i : 12 + 4 * i], "little") for i in range(data[1])]
    return "-".join(["S", "1", str(authority), *map(str, subs)])


def allowed_sids(descriptor: bytes) -> list[str]:
    """The SIDs granted by the access-allowed ACEs of a self-relative security descriptor
    (MS-DTYP 2.4.6): how msDS-AllowedToActOnBehalfOfOtherIdentity names who may delegate."""
    if len(descriptor) < 20:
        raise ValueError("security descriptor too short")
    dacl = int.from_bytes(descriptor[16:20], "little")
    if dacl == 0:
        return []
    count = int.from_bytes(descriptor[dacl + 4 : dacl + 6], "little")
    offset, sids = dacl + 8, []
    for _ in range(count):
        ace_type, size = descriptor[offset], int.from_bytes(descriptor[offset + 2 : offset + 4], "little")
        if size < 8:
            raise ValueError("malformed ACE")
        if ace_type == ACCESS_ALLOWED_ACE_TYPE:
            sids.append(sid_text(descriptor[offset + 8 : offset + size]))
        offset += size
    return sids


def _user_name(user: str) -> str:
    """The sAMAccountName in DOMAIN\\user or user@domain."""
    return user.split("\\")[-1].split("@")[0]


def _trust(entry: dict[str, list[bytes]]) -> Trust:
    attributes = int(_first(entry, "trustAttributes") or 0)
    if attributes & TRUST_ATTRIBUTE_WITHIN_FOREST:
        kind = "ParentChild"
    elif attributes & TRUST_ATTRIBUTE_FOREST_TRANSITIVE:
        kind = "Forest"
    else:
        kind = "External"
    return Trust(
        partner=_first(entry, "trustPartner") or "?",
        direction=TRUST_DIRECTIONS.get(int(_first(entry, "trustDirection") or 0), "Disabled"),
        trust_type=kind,
        transitive=not attributes & TRUST_ATTRIBUTE_NON_TRANSITIVE and kind != "External",
        selective_authentication=bool(attributes & TRUST_ATTRIBUTE_CROSS_ORGANIZATION),
    )


def _generalized_time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.strptime(text.split(".")[0].rstrip("Z"), "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def _close(connection: Any) -> None:
    """Unbinding a connection whose socket already failed raises; that failure is not news."""
    from ldap3.core.exceptions import LDAPException

    with contextlib.suppress(LDAPException):
        connection.unbind()


def _dc_targets(resolver: Any, domain: str, record: str) -> tuple[list[SrvTarget], list[str]]:
    """The servers of an SRV record of the domain, only those named inside the domain, at most
    MAX_DCS of them: the record is DNS data, and DNS is not trusted to pick where the
    admin's credentials go, nor to hold the run with a long list of silent servers."""
    targets, error = srv_targets(resolver, record)
    if not targets:
        raise DirectoryError(
            f"no domain controller found for {domain} ({error})",
            "check DNS: _ldap._tcp.dc._msdcs records, or pass --dns-server",
        )
    suffix = "." + domain.casefold()
    inside = [t for t in targets if t.target.casefold().endswith(suffix)]
    problems = [f"{t.target}: not a name inside {domain}, not contacted" for t in targets if t not in inside]
    return inside[:MAX_DCS], problems


def _remaining(deadline: float, ceiling: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise DirectoryError("no time left to read Active Directory (--timeout)")
    return min(ceiling, left)


def _acquire(lock: threading.Lock | threading.BoundedSemaphore, deadline: float) -> None:
    """Wait for ``lock`` no longer than the host's deadline: another host's read or connection
    must not hold this one past it."""
    if not lock.acquire(timeout=_remaining(deadline, math.inf)):
        raise DirectoryError("no time left to read Active Directory (--timeout)")


def _connect(
    server: DnsServer, domain: str, credentials: DirectoryCredentials, deadline: float, locator: str | None = None
) -> tuple[Any, str]:
    """A bound connection to a DC of ``domain`` found through the SRV record ``locator`` (by default the DC
    locator record; ``_gc._tcp.<forest>`` for a Global Catalog)."""
    import ldap3
    from ldap3.core.exceptions import LDAPException, LDAPInvalidCredentialsResult

    resolver = server.resolver(deadline)
    targets, problems = _dc_targets(resolver, domain, locator or f"_ldap._tcp.dc._msdcs.{domain}")
    for target in targets:
        record = resolve_addresses(resolver, target.target)
        if not record.addresses:
            problems.append(f"{target.target}: {record.error}")
            continue
        tls = ldap3.Tls(
            validate=ssl.CERT_REQUIRED if credentials.verify else ssl.CERT_NONE,
            ca_certs_file=credentials.ca_cert,
            valid_names=[target.target],
            sni=target.target,
        )
        ldap_server = ldap3.Server(
            record.addresses[0],
            port=target.port,
            get_info=ldap3.NONE,
            tls=tls,
            formatter=RAW_VALUES,
            connect_timeout=_remaining(deadline, CONNECT_TIMEOUT),
        )
        connection = ldap3.Connection(
            # ldap3 packs the receive timeout into a timeval of whole seconds.
            ldap_server,
            receive_timeout=math.ceil(_remaining(deadline, RECEIVE_TIMEOUT)),
            raise_exceptions=True,
            # A referral names another server; following it would take this session (and a rebind)
            # to a place the admin did not choose. Continuation references are skipped instead.
            auto_referrals=False,
        )
        try:
            connection.open()
            connection.start_tls()
        except LDAPException as exc:
            problems.append(f"{target.target}: {exc}")
            _close(connection)
            continue
        try:
            negotiate_bind(connection, credentials, target.target)
        except LDAPInvalidCredentialsResult as exc:
            _close(connection)
            raise DirectoryError(
                f"{target.target} rejected the password for {credentials.user}{_bind_reason(exc)}",
                "check the user name and password, then run again",
                credentials_rejected=True,
            ) from None
        except (LDAPException, SpnegoError) as exc:
            _close(connection)
            raise DirectoryError(
                f"{target.target} refused the LDAP bind as {credentials.user}: {type(exc).__name__}",
                "check the user name and password",
            ) from None
        return connection, target.target
    raise DirectoryError(
        f"no domain controller of {domain} accepted an LDAP connection with StartTLS: {'; '.join(problems)}",
        "the DCs need a certificate for LDAP over TLS (pass --ca-cert FILE if it is a private CA), "
        "or run 'lmpreflight collector-script' on the host, which reads AD itself",
    )


_Key = tuple[DnsServer, str, str, DirectoryCredentials]
_Group = tuple[tuple[str, str], ...]
"""The (computer name, FQDN) of the hosts whose directory entries are read together."""
_Found = dict[bytes, list[dict[str, Any]]]
"""A batched search's entries by the lowered value each was asked for."""
_RootDse = tuple[datetime, dict[str, list[bytes]]]
"""When the tool asked for a DC's rootDSE (its own clock), and what the DC answered."""
T = TypeVar("T")


@dataclass(frozen=True)
class _DomainView:
    """The part of a directory read that is the same for every host of the domain."""

    trusts: list[Trust]
    user: UserAccount | None


class HostNames(Protocol):
    """The names a host's directory facts are read by (``typed_names`` in collect.parallel)."""

    @property
    def computer(self) -> str: ...

    @property
    def fqdn(self) -> str: ...

    @property
    def domain(self) -> str | None: ...


def _batchable(host: HostNames) -> bool:
    """Whether a host's entries can be told apart in a batched answer exactly as the DC tells
    them apart: an ASCII name, which AD and the lab both match ignoring case byte by byte
    (another script's case rules could differ between the DC and this comparison), and a
    name, not an address, with a domain to read it in."""
    return host.domain is not None and host.computer.isascii() and host.fqdn.isascii() and not is_address(host.fqdn)


class _Batch(Generic[T]):
    """One read shared by a group of hosts, made by the first host of the group that needs
    it, on its own connection and within its own deadline; the others wait for its answer.
    ``value`` is ``None`` once the read has failed: each host then makes its own search, so
    each records what its own search gives (its error too), exactly as without the batch."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = False
        self.value: T | None = None

    def get(self, read: Callable[[], T | None], reused: bool, deadline: float) -> T | None:
        """What ``read`` gave the group, or ``None`` when the host must search alone (also when
        the DC answered the read with an error: each host's own search then meets it as its
        own). A connection kept from an earlier host that fails leaves the read to be made
        again on a fresh one (the caller retries); a fresh one failing fails the read, and its
        error is this host's, as its own search would have met it."""
        from ldap3.core.exceptions import LDAPCommunicationError, LDAPException

        _acquire(self.lock, deadline)
        try:
            if not self.done:
                try:
                    self.value = read()
                except LDAPCommunicationError:
                    if not reused:
                        self.done = True
                    raise
                except (LDAPException, _PartialAnswer):
                    self.value = None
                self.done = True
        finally:
            self.lock.release()
        return self.value


class _Once(Generic[T]):
    """A read made once a run by the first host that needs it, the others waiting for its
    answer rather than each making it at once (a fleet's first hosts all need it together).
    Unlike a :class:`_Batch`, a failed read is kept by no one: it is the error of the host that
    made it, exactly as without sharing. Once a read has failed, the hosts read on their own,
    at once, as without sharing: waiting in turn behind reads that each fail slowly (a DC
    timing out) would leave the last hosts no time for theirs, and an error that is not the
    DC's. The first of those reads to succeed (the failure a stale connection, say) is kept
    for the hosts still to come."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value: T | None = None
        self.failed = False

    def get(self, read: Callable[[], T], deadline: float) -> T:
        _acquire(self.lock, deadline)
        try:
            if self.value is not None:
                return self.value
            if not self.failed:
                try:
                    self.value = read()
                except BaseException:
                    self.failed = True
                    raise
                return self.value
        finally:
            self.lock.release()
        value = self.value = read()
        return value


class DirectorySessions:
    """Bound LDAP connections shared by the hosts of one run.

    Every host of a fleet is read in the same domain: a StartTLS handshake and a SASL bind
    per host (twice, with the Global Catalog) cost far more than the host's searches, and
    each bind is one more logon on the DC. Connections are opened as hosts need them, at
    most ``per_server`` per (DNS server, domain, locator record, credentials), and lent to
    one host at a time (an ldap3 connection is not thread-safe). The domain, locator and
    credentials are part of the key, so a connection never serves another domain or user.
    What does not depend on the host (the domain's trusts, the account the tool runs as) is
    read once per domain and credentials, and the DC locator records once per TTL. A group's
    batched reads are let go once each of its hosts has taken its own entries."""

    def __init__(self, per_server: int = CONNECTIONS_PER_SERVER) -> None:
        self.per_server = per_server
        self._lock = threading.Lock()
        self._slots: dict[_Key, threading.BoundedSemaphore] = {}
        self._idle: dict[_Key, list[tuple[Any, str]]] = {}
        self._domain: dict[tuple[str, str, DirectoryCredentials], _Once[_DomainView]] = {}
        self._closed = False
        self._locators: dict[DnsServer, dns.resolver.Cache] = {}
        self._groups: dict[tuple[str, str, str], _Group] = {}
        self._reading: dict[_Group, set[tuple[str, str, str]]] = {}
        """The hosts of each group that have not yet finished their read."""
        self._batches: dict[_Group, dict[tuple[str, _Key, str], _Batch[Any]]] = {}

    def expect(self, hosts: Iterable[HostNames]) -> None:
        """Name the hosts this run will read, before any is read: their computer accounts are
        then read BATCH_HOSTS at a time in one search, the holders of their migration SPNs in
        one Global Catalog search and the DC's rootDSE once a group, each host handed exactly the
        entries its own searches would have found. A host not named, or read by other names,
        searches alone."""
        by_domain: dict[str, dict[tuple[str, str], tuple[str, str]]] = {}
        for host in hosts:
            if _batchable(host):
                assert host.domain is not None
                names = by_domain.setdefault(host.domain.casefold(), {})
                names.setdefault((host.computer.casefold(), host.fqdn.casefold()), (host.computer, host.fqdn))
        for domain, names in by_domain.items():
            listed = list(names.values())
            for start in range(0, len(listed), BATCH_HOSTS):
                group = tuple(listed[start : start + BATCH_HOSTS])
                if len(group) > 1:  # a host alone searches as it always has
                    members = {(domain, computer.casefold(), fqdn.casefold()) for computer, fqdn in group}
                    self._groups.update(dict.fromkeys(members, group))
                    self._reading[group] = members

    def group(self, domain: str, computer: str, fqdn: str) -> _Group | None:
        """The hosts this host's entries are read with, if it was expected."""
        return self._groups.get((domain.casefold(), computer.casefold(), fqdn.casefold()))

    def batch(self, kind: str, key: _Key, dc_name: str, group: _Group) -> _Batch[Any]:
        """The read of ``kind`` for ``group`` from ``dc_name`` over connections of ``key``:
        a read with one user's credentials serves only hosts read with the same, and a DC's
        answer only hosts its connections serve."""
        with self._lock:
            return self._batches.setdefault(group, {}).setdefault((kind, key, dc_name.casefold()), _Batch())

    def finished(self, domain: str, computer: str, fqdn: str) -> None:
        """This host's read is over (its entries taken, or its error met). Once every host of
        its group's is, the group's reads are let go: they hold 50 hosts' accounts, each with
        its hundreds of delegation SPNs, which a fleet would otherwise keep until the run
        ends. The group is forgotten with them, so a host read again later searches alone
        rather than reading its whole group anew."""
        name = (domain.casefold(), computer.casefold(), fqdn.casefold())
        with self._lock:
            group = self._groups.get(name)
            if group is None:
                return
            reading = self._reading[group]
            reading.discard(name)
            if not reading:
                del self._reading[group]
                self._batches.pop(group, None)
                for computer, other in group:
                    del self._groups[(name[0], computer.casefold(), other.casefold())]

    def domain_view(self, dc_name: str, domain: str, credentials: DirectoryCredentials) -> _Once[_DomainView]:
        """The domain's trusts and the account the tool runs as, read from this DC once a run
        with these credentials."""
        with self._lock:
            return self._domain.setdefault((dc_name.casefold(), domain.casefold(), credentials), _Once())

    def locator_cache(self, server: DnsServer) -> dns.resolver.Cache:
        """Where the hosts of this run keep ``server``'s answers for the DC locator records
        (each within its TTL): every host of a domain asks the same question."""
        with self._lock:
            return self._locators.setdefault(server, dns.resolver.Cache())

    def __enter__(self) -> DirectorySessions:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def key(server: DnsServer, domain: str, credentials: DirectoryCredentials, locator: str | None = None) -> _Key:
        """What a connection serves: a DNS server's DCs (or Global Catalogs) of one domain, for one user."""
        return (server, domain.casefold(), locator or f"_ldap._tcp.dc._msdcs.{domain}", credentials)

    @contextlib.contextmanager
    def borrow(
        self,
        server: DnsServer,
        domain: str,
        credentials: DirectoryCredentials,
        deadline: float,
        locator: str | None = None,
    ) -> Iterator[tuple[Any, str, bool]]:
        """A bound connection, its DC's name, and whether it served an earlier host. It goes
        back to the pool when the block ends normally; after an error it is closed, since
        its state is unknown."""
        key = self.key(server, domain, credentials, locator)
        with self._lock:
            slots = self._slots.setdefault(key, threading.BoundedSemaphore(self.per_server))
        _acquire(slots, deadline)
        try:
            with self._lock:
                idle = self._idle.get(key)
                held = idle.pop() if idle else None
            reused = held is not None
            if held is None:
                held = _connect(server, domain, credentials, deadline, locator)
            else:
                # This host's deadline bounds its reads, not the one of the host that opened it.
                held[0].socket.settimeout(_remaining(deadline, RECEIVE_TIMEOUT))
            returned = False
            try:
                yield held[0], held[1], reused
                with self._lock:
                    if not self._closed:
                        self._idle.setdefault(key, []).append(held)
                        returned = True
            finally:
                if not returned:
                    _close(held[0])
        finally:
            slots.release()

    def forget_idle(self) -> None:
        """Close the idle connections, so the next host opens a fresh one."""
        with self._lock:
            idle = [held for pool in self._idle.values() for held in pool]
            self._idle.clear()
        for connection, _ in idle:
            _close(connection)

    def close(self) -> None:
        """Unbind every idle connection; one still lent out is closed when it comes back."""
        with self._lock:
            self._closed = True
        self.forget_idle()


def tls_server_end_point(certificate: bytes) -> bytes:
    """RFC 5929 channel binding data for the server certificate: the certificate's hash with
    its own signature algorithm, SHA-256 when that is MD5 or SHA-1. It ties the NTLM or
    Kerberos exchange to this TLS session, so it cannot be relayed to another server."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    algorithm = x509.load_der_x509_certificate(certificate).signature_hash_algorithm
    if algorithm is None or isinstance(algorithm, hashes.MD5 | hashes.SHA1):
        algorithm = hashes.SHA256()
    digest = hashes.Hash(algorithm)
    digest.update(certificate)
    return b"tls-server-end-point:" + digest.finalize()


def _spnego_credentials(credentials: DirectoryCredentials) -> Any:
    """The password for Kerberos and, for NTLM, its hashes derived once a run: pyspnego
    derives them again for every bind otherwise (its LM hash is pure-Python DES, about a
    fifth of a bind's CPU), and a fleet's workers bind several times each. NTLM sends the
    same answers from the hashes as from the password. A password already given as hashes
    stays what pyspnego makes of it.

    On Windows the password alone: pyspnego binds through SSPI (Windows' own Negotiate, with
    Kerberos) only when no NTLM hash is among the credentials, and otherwise falls back to
    its own Negotiate, which has no Kerberos there: a domain that refuses NTLM would then
    refuse the bind."""
    import spnego
    from spnego._ntlm_raw.crypto import is_ntlm_hash

    user, password = credentials.user, credentials.password
    if is_ntlm_hash(password):
        return [spnego.NTLMHash(user, *password.split(":", 1))]
    if sys.platform == "win32":
        return spnego.Password(user, password)
    lm_hash, nt_hash = ntlm_hashes(password).split(":")
    return [spnego.NTLMHash(user, lm_hash, nt_hash), spnego.Password(user, password)]


def negotiate_bind(connection: Any, credentials: DirectoryCredentials, dc_name: str) -> None:
    """A SASL GSS-SPNEGO bind (Kerberos when the machine has it, else NTLM): the password
    never leaves this process, unlike a simple bind, which would hand it to whichever
    server answered. Over TLS, Active Directory refuses SASL signing or sealing, so only
    mutual authentication is asked for; the channel binding covers the session instead."""
    import spnego
    from ldap3.protocol.sasl.sasl import send_sasl_negotiation

    certificate = connection.socket.getpeercert(binary_form=True)
    context = spnego.client(
        _spnego_credentials(credentials),
        hostname=dc_name,
        service="ldap",
        protocol="negotiate",
        context_req=spnego.ContextReq.mutual_auth,
        channel_bindings=GssChannelBindings(application_data=tls_server_end_point(certificate)),
    )
    connection.sasl_mechanism = SASL_MECHANISM
    token = context.step()
    while True:
        result = send_sasl_negotiation(connection, None, token)
        answer = result.get("saslCreds")
        if result["result"] == 0:
            if answer and not context.complete:
                context.step(answer)
            connection.bound = True
            return
        token = context.step(answer)


def read_directory(
    server: DnsServer,
    domain: str,
    computer_name: str,
    fqdn: str,
    credentials: DirectoryCredentials,
    deadline: float,
    sessions: DirectorySessions | None = None,
    on_bound: Callable[[], None] = lambda: None,
) -> DirectoryFacts:
    """The host's computer account (``None`` when there is none by that name), who holds its
    migration SPNs, the domain's trusts, and the DC's clock. ``domain`` is the one the admin
    chose, never one a host reported; ``deadline`` (time.monotonic) bounds the whole read.
    ``sessions`` shares bound connections with the other hosts of the run. ``on_bound`` is
    called once every bind of the read has accepted the credentials (the DC's and, for the SPN
    search of a forest, its Global Catalog's), before the read's last search: whoever waits to
    know the password is right need not wait for the rest of the read, and a Global Catalog
    refusing the password still holds them back."""
    if sessions is None:
        with DirectorySessions() as own:
            return read_directory(server, domain, computer_name, fqdn, credentials, deadline, own, on_bound)
    try:
        for _ in range(STALE_RETRIES):
            try:
                return _read_directory(server, domain, computer_name, fqdn, credentials, deadline, sessions, on_bound)
            except _StaleConnection:
                # A DC closes connections idle for long (MaxConnIdleTime): the others kept are as old.
                sessions.forget_idle()
        raise DirectoryError(f"the domain controllers of {domain} kept closing the LDAP connection")
    finally:
        sessions.finished(domain, computer_name, fqdn)


class _StaleConnection(Exception):
    """A connection kept from an earlier host failed before answering this one."""


def _read_directory(
    server: DnsServer,
    domain: str,
    computer_name: str,
    fqdn: str,
    credentials: DirectoryCredentials,
    deadline: float,
    sessions: DirectorySessions,
    on_bound: Callable[[], None],
) -> DirectoryFacts:
    from ldap3 import SUBTREE
    from ldap3.core.exceptions import LDAPCommunicationError, LDAPException

    with sessions.borrow(server, domain, credentials, deadline) as (connection, dc_name, reused):
        try:
            root = base_dn(domain)
            group = sessions.group(domain, computer_name, fqdn)
            key = sessions.key(server, domain, credentials)
            shared: _RootDse | None = None
            if group is not None:
                root_batch = sessions.batch("rootDSE", key, dc_name, group)
                shared = root_batch.get(lambda: _read_root_dse(connection), reused, deadline)
            observer, root_dse = shared or _read_root_dse(connection)
            dc_time = _generalized_time(_first(root_dse, "currentTime"))
            forest_dn = _first(root_dse, "rootDomainNamingContext")
            forest = ".".join(p.split("=", 1)[1] for p in forest_dn.split(",")) if forest_dn else None
            account = f"{computer_name.upper()}$"
            entries = None
            if group is not None:
                accounts_batch = sessions.batch("accounts", key, dc_name, group)
                found = accounts_batch.get(lambda: _read_accounts(connection, root, group), reused, deadline)
                entries = None if found is None else found.get(account.encode().lower())
            if entries is None:
                connection.search(
                    root,
                    f"(&(objectClass=computer)(sAMAccountName={ldap_filter_value(account)}))",
                    SUBTREE,
                    attributes=COMPUTER_ATTRIBUTES,
                )
                entries = [e for e in connection.response if e.get("type") == "searchResEntry"]
            computer = _computer(entries[0], account) if entries else None
            names = list(dict.fromkeys([computer_name, fqdn]))
            # The forest comes from the DC's rootDSE: credentials go to its Global Catalog only
            # when it is the chosen domain or a parent of it, so a DC cannot send them elsewhere.
            inside = forest is not None and f".{domain}".casefold().endswith(f".{forest}".casefold())
            holders = (
                _forest_spn_holders(server, forest, credentials, deadline, names, sessions, group)
                if forest and inside
                else None
            )
            # Every bind of the read is behind it: the Global Catalog's too, which may still
            # refuse a password the DC took (a change or lockout not yet replicated to it).
            on_bound()
            scope = "forest" if holders is not None else "domain"
            if holders is None:
                holders = _spn_holders(connection, root, names)
            view = sessions.domain_view(dc_name, domain, credentials).get(
                lambda: _read_domain_view(connection, root, credentials), deadline
            )
        except LDAPCommunicationError as exc:
            if reused:
                raise _StaleConnection() from exc
            raise DirectoryError(f"LDAP query to {dc_name} failed: {exc}") from None
        except (LDAPException, _PartialAnswer) as exc:
            raise DirectoryError(f"LDAP query to {dc_name} failed: {exc}") from None
    return DirectoryFacts(
        domain_dns_name=domain,
        domain_controller=dc_name,
        forest=forest,
        computer=computer,
        user=view.user,
        migration_spn_holders=holders,
        spn_search_scope=scope,
        trusts=view.trusts,
        dc_utc=dc_time,
        observer_utc=observer,
    )


def _read_root_dse(connection: Any) -> _RootDse:
    """The DC's rootDSE: its clock (with the tool's when it was asked) and its forest. In a
    fleet a group of hosts (BATCH_HOSTS) shares one read: the DC's clock offset is what the
    checks use, and it does not move between the group's hosts, read within seconds."""
    from ldap3 import BASE

    observer = datetime.now(UTC)
    connection.search("", "(objectClass=*)", BASE, attributes=["currentTime", "rootDomainNamingContext"])
    return observer, connection.response[0]["raw_attributes"] if connection.response else {}


def _computer(entry: dict[str, Any], account: str) -> ComputerAccount:
    """The account as read. A DC sends at most MaxValRange values of an attribute at once (1500
    by default, KB 315071), naming it ``name;range=0-1499``; ldap3 asks for the rest itself
    (its ``auto_range``) and lists every value under the attribute's own name."""
    raw = entry["raw_attributes"]
    sids = _raw(raw, "objectSid")
    acting = _raw(raw, "msDS-AllowedToActOnBehalfOfOtherIdentity")
    return ComputerAccount(
        distinguished_name=entry["dn"],
        sam_account_name=_first(raw, "sAMAccountName") or account,
        dns_host_name=_first(raw, "dNSHostName"),
        service_principal_names=_all(raw, "servicePrincipalName"),
        allowed_to_delegate_to=_all(raw, "msDS-AllowedToDelegateTo"),
        user_account_control=int(_first(raw, "userAccountControl") or 0),
        object_sid=sid_text(sids[0]) if sids else None,
        allowed_to_act=allowed_sids(acting[0]) if acting else [],
    )


class _PartialAnswer(Exception):
    """A search the DC answered only in part: a batch then leaves each host to its own search,
    and a host's own search leaves its directory facts unread (its checks say INCOMPLETE), as
    an entry left out would read as a host without an account, an SPN held once, a trust
    missing."""


def _paged_entries(connection: Any, base: str, search_filter: str, attributes: list[str]) -> list[dict[str, Any]]:
    """Every entry a subtree search finds, PAGE_SIZE a page (continuation references skipped).
    ldap3 raises no exception for sizeLimitExceeded or timeLimitExceeded, whose answers are
    partial, so a page ending in anything but success raises :class:`_PartialAnswer`, as does
    a DC still handing out cookies past MOST_PAGES."""
    from ldap3 import SUBTREE

    entries: list[dict[str, Any]] = []
    cookie: bytes | None = None
    for _ in range(MOST_PAGES):
        connection.search(
            base, search_filter, SUBTREE, attributes=attributes, paged_size=PAGE_SIZE, paged_cookie=cookie
        )
        if connection.result.get("result") != 0:
            raise _PartialAnswer(f"a search stopped short ({connection.result.get('description')})")
        entries += [e for e in connection.response if e.get("type") == "searchResEntry"]
        cookie = connection.result.get("controls", {}).get(PAGED_RESULTS, {}).get("value", {}).get("cookie")
        if not cookie:
            return entries
    raise _PartialAnswer(f"a search stopped short (still more after {MOST_PAGES} pages)")


def _by_value(entries: list[dict[str, Any]], attribute: str, terms: Iterable[str]) -> _Found | None:
    """The entries holding each term in ``attribute``, compared as the DC compares these ASCII
    names (ignoring case), in the order the DC sent them and each once per term, so a term's
    list is what a search for that term alone answers. ``None`` when an entry holds none of the
    terms (a value the DC matched by rules other than this comparison): no host can then be
    sure its part is whole, and each searches alone."""
    found: _Found = {term.encode().lower(): [] for term in terms}
    for entry in entries:
        held = {value.lower() for value in _raw(entry["raw_attributes"], attribute)}.intersection(found)
        if not held:
            return None
        for term in held:
            found[term].append(entry)
    return found


def _any_of(attribute: str, values: Iterable[str]) -> str:
    return "(|" + "".join(f"({attribute}={ldap_filter_value(value)})" for value in values) + ")"


def _read_accounts(connection: Any, root: str, group: _Group) -> _Found | None:
    """The computer accounts of ``group`` by lowered sAMAccountName; ``None`` when the answer
    cannot be split between the hosts."""
    accounts = [f"{computer.upper()}$" for computer, _ in group]
    search_filter = f"(&(objectClass=computer){_any_of('sAMAccountName', accounts)})"
    return _by_value(_paged_entries(connection, root, search_filter, COMPUTER_ATTRIBUTES), "sAMAccountName", accounts)


def _read_spn_holders(connection: Any, group: _Group) -> _Found | None:
    """Who holds the migration SPNs of ``group`` in the forest (a Global Catalog), by lowered SPN."""
    spns = [f"{MIGRATION_SERVICE}/{name}" for host in group for name in dict.fromkeys(host)]
    entries = _paged_entries(connection, "", _any_of("servicePrincipalName", spns), ["servicePrincipalName"])
    return _by_value(entries, "servicePrincipalName", spns)


def _read_domain_view(connection: Any, root: str, credentials: DirectoryCredentials) -> _DomainView:
    found = _paged_entries(
        connection,
        f"CN=System,{root}",
        "(objectClass=trustedDomain)",
        ["trustPartner", "trustDirection", "trustAttributes"],
    )
    trusts = [_trust(e["raw_attributes"]) for e in found]
    return _DomainView(trusts, _read_user(connection, root, _user_name(credentials.user)))


def _spn_holders(connection: Any, base: str, names: list[str]) -> list[SpnHolder]:
    holders = []
    for name in names:
        spn = f"{MIGRATION_SERVICE}/{name}"
        found = _paged_entries(
            connection, base, f"(servicePrincipalName={ldap_filter_value(spn)})", ["distinguishedName"]
        )
        holders.append(SpnHolder(spn=spn, holders=[e["dn"] for e in found]))
    return holders


def _forest_spn_holders(
    server: DnsServer,
    forest: str,
    credentials: DirectoryCredentials,
    deadline: float,
    names: list[str],
    sessions: DirectorySessions,
    group: _Group | None = None,
) -> list[SpnHolder] | None:
    """Who holds the migration SPNs anywhere in the forest, or ``None`` when no Global Catalog
    of the forest answered. An SPN must be unique in the whole forest: a duplicate in another
    domain breaks the Kerberos ticket as surely as one in the host's own, and a DC serves only
    its own domain. A Global Catalog (``_gc._tcp.<forest>``, port 3268) holds every domain's
    ``servicePrincipalName``, and the empty base searches all of them. With ``group``, one
    search finds the holders of every SPN of the group."""
    from ldap3.core.exceptions import LDAPCommunicationError, LDAPException

    locator = f"_gc._tcp.{forest}"
    try:
        with sessions.borrow(server, forest, credentials, deadline, locator) as (connection, catalog, reused):
            try:
                if group is not None:
                    batch = sessions.batch(
                        "SPN holders", sessions.key(server, forest, credentials, locator), catalog, group
                    )
                    found = batch.get(lambda: _read_spn_holders(connection, group), reused, deadline)
                    spns = [f"{MIGRATION_SERVICE}/{name}" for name in names]
                    held = [None if found is None else found.get(spn.encode().lower()) for spn in spns]
                    if all(entries is not None for entries in held):
                        return [
                            SpnHolder(spn=spn, holders=[e["dn"] for e in entries or []])
                            for spn, entries in zip(spns, held, strict=True)
                        ]
                return _spn_holders(connection, "", names)
            except LDAPCommunicationError as exc:
                if reused:
                    raise _StaleConnection() from exc
                return None
            except (LDAPException, _PartialAnswer):
                return None
    except DirectoryError as exc:
        if exc.credentials_rejected:
            raise
        return None


def _read_user(connection: Any, root: str, name: str) -> UserAccount | None:
    """The account the tool authenticated as, if it lives in this domain: whether it may be
    delegated at all ('sensitive', Protected Users)."""
    from ldap3 import BASE, SUBTREE

    connection.search(
        root,
        f"(&(objectClass=user)(sAMAccountName={ldap_filter_value(name)}))",
        SUBTREE,
        attributes=["sAMAccountName", "userAccountControl"],
    )
    entries = [e for e in connection.response if e.get("type") == "searchResEntry"]
    if not entries:
        return None
    raw = entries[0]["raw_attributes"]
    connection.search(entries[0]["dn"], "(objectClass=*)", BASE, attributes=["tokenGroups"])
    groups = [e["raw_attributes"] for e in connection.response if e.get("type") == "searchResEntry"]
    token = _raw(groups[0], "tokenGroups") if groups else []
    protected = any(sid_text(sid).endswith(f"-{PROTECTED_USERS_RID}") for sid in token) if token else None
    return UserAccount(
        sam_account_name=_first(raw, "sAMAccountName") or name,
        sensitive=bool(int(_first(raw, "userAccountControl") or 0) & NOT_DELEGATED),
        protected_users=protected,
    )
