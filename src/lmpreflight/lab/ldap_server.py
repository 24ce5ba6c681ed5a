"""The lab's Active Directory stand-in: a real LDAP server (ldaptor on Twisted) on loopback.

AD behaviour the tool relies on is reproduced with small shims: a rootDSE with
``defaultNamingContext`` and ``currentTime``; StartTLS before the bind; SASL GSS-SPNEGO binds
(NTLM inside SPNEGO, checked against the TLS channel binding as a DC enforcing LDAP channel
binding does); simple bind as ``DOMAIN\\user``, ``user@domain`` or a DN. Every bind
attempt is recorded by user name, so tests can tell which DC was offered credentials. The Twisted reactor is global and
cannot be restarted, so it runs once per process in a daemon thread.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from lmpreflight.lab.certs import LabCertificates
from lmpreflight.lab.ldap_policy import MAX_PAGE_SIZE, MAX_VAL_RANGE

START_TLS_OID = b"1.3.6.1.4.1.1466.20037"
SASL_BIND_IN_PROGRESS = 14

_reactor_lock = threading.Lock()
_reactor_started = False


def _reactor() -> Any:
    global _reactor_started
    from twisted.internet import reactor

    with _reactor_lock:
        if not _reactor_started:
            run: Any = reactor.run  # type: ignore[misc]
            threading.Thread(
                target=run, kwargs={"installSignalHandlers": False}, name="lab-ldap-reactor", daemon=True
            ).start()
            _reactor_started = True
    return reactor


def _call_in_reactor(function: Any, *args: Any) -> Any:
    reactor = _reactor()
    done = threading.Event()
    result: dict[str, Any] = {}

    def run() -> None:
        try:
            result["value"] = function(*args)
        except BaseException as exc:  # re-raised in the caller's thread
            result["error"] = exc
        finally:
            done.set()

    reactor.callFromThread(run)
    if not done.wait(10):
        raise RuntimeError("the lab's LDAP reactor did not respond")
    if "error" in result:
        raise result["error"]
    return result["value"]


@dataclass(frozen=True)
class DirectoryEntry:
    dn: str
    attributes: dict[str, list[str | bytes]]


@dataclass
class DomainDirectory:
    """Everything one lab domain controller serves."""

    dns_name: str
    netbios: str
    dc_name: str
    clock_offset: float
    users: dict[str, str]
    entries: list[DirectoryEntry]
    forest: str = ""
    failed_binds: int = 0
    """Rejected binds: what the DC counts towards an account lockout."""
    global_catalog: bool = False
    """A Global Catalog of the forest: it holds every domain's entries, and a search from the
    empty base covers all of them."""
    max_page_size: int = MAX_PAGE_SIZE
    """The DC's MaxPageSize: entries one search, or one page of a paged search, returns."""
    max_val_range: int = MAX_VAL_RANGE
    """The DC's MaxValRange: values of one attribute a search returns at once."""
    searches: int = 0
    """Searches this DC received: what a client's batching saves is seen here."""
    busy_when: Callable[[Any], bool] | None = None
    """Which search requests (as ldaptor decodes them) the DC answers busy, as a loaded DC
    does (for tests of what a client makes of a failed search)."""

    def take_search(self, request: Any) -> bool:
        """Count a search; whether it is answered busy."""
        self.searches += 1
        return self.busy_when is not None and self.busy_when(request)

    @property
    def forest_dn(self) -> str:
        return ",".join(f"DC={label}" for label in (self.forest or self.dns_name).split("."))

    bind_attempts: list[tuple[str, str]] = field(default_factory=list)
    """(mechanism, user) of every bind this DC received: "SIMPLE" (the password was sent) or a SASL mechanism."""

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={label}" for label in self.dns_name.split("."))

    def check_bind(self, name: str, password: str) -> bool:
        """AD accepts DOMAIN\\user, user@domain and the user's DN for a simple bind."""
        expected = {u.casefold(): p for u, p in self.users.items()}.get(_user_part(name).casefold())
        if expected is None or expected != password:
            self.failed_binds += 1
            return False
        return True

    def knows(self, principal: str) -> bool:
        """Whether an NTLM-authenticated principal (DOMAIN\\user) is one of this domain's users."""
        return _user_part(principal).casefold() in {u.casefold() for u in self.users}


def _user_part(name: str) -> str:
    text = name.strip()
    if "\\" in text:
        return text.partition("\\")[2]
    if "@" in text:
        return text.split("@")[0]
    return text.split(",")[0].split("=", 1)[-1]


def tls_server_end_point(certificates: LabCertificates) -> bytes:
    """RFC 5929 channel binding of the lab certificate (ECDSA with SHA-256, so hashed with SHA-256)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    pem = certificates.cert_path.read_bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(Encoding.DER)
    return b"tls-server-end-point:" + hashlib.sha256(der).digest()


def build_tree(directory: DomainDirectory) -> Any:
    """The directory as an in-memory ldaptor tree, indexed once it is complete (it is never
    written: the lab's DCs refuse writes)."""
    from lmpreflight.lab.ldap_index import DirectoryIndex, IndexedEntry

    root = IndexedEntry(
        directory.base_dn.encode(),
        {b"objectClass": [b"top", b"domain", b"domainDNS"], b"distinguishedName": [directory.base_dn.encode()]},
    )
    nodes = {directory.base_dn.casefold(): root}
    for entry in sorted(directory.entries, key=lambda e: e.dn.count(",")):
        rdn, _, parent_dn = entry.dn.partition(",")
        parent = nodes.get(parent_dn.casefold())
        if parent is None:
            parent = _ensure(nodes, parent_dn, directory.base_dn)
        attributes = {
            k.encode(): [v if isinstance(v, bytes) else v.encode() for v in values]
            for k, values in entry.attributes.items()
        }
        attributes[b"distinguishedName"] = [entry.dn.encode()]
        nodes[entry.dn.casefold()] = parent.addChild(rdn.encode(), attributes)
    DirectoryIndex(root)
    return root


def _ensure(nodes: dict[str, Any], dn: str, base: str) -> Any:
    if dn.casefold() in nodes:
        return nodes[dn.casefold()]
    rdn, _, parent_dn = dn.partition(",")
    parent = _ensure(nodes, parent_dn, base)
    kind = rdn.split("=")[0].lower()
    object_class = b"organizationalUnit" if kind == "ou" else b"container"
    nodes[dn.casefold()] = parent.addChild(
        rdn.encode(), {b"objectClass": [b"top", object_class], b"distinguishedName": [dn.encode()]}
    )
    return nodes[dn.casefold()]


def root_dse(directory: DomainDirectory) -> list[tuple[str, list[str]]]:
    """What the DC's rootDSE lists (all of it, whatever a search asks for), the time as now on its clock."""
    now = datetime.now(UTC) + timedelta(seconds=directory.clock_offset)
    return [
        ("defaultNamingContext", [directory.base_dn]),
        ("rootDomainNamingContext", [directory.forest_dn]),
        ("dnsHostName", [directory.dc_name]),
        ("currentTime", [now.strftime("%Y%m%d%H%M%S.0Z")]),
        ("supportedLDAPVersion", ["3"]),
        ("supportedExtension", [START_TLS_OID.decode()]),
        ("supportedSASLMechanisms", ["GSSAPI", "GSS-SPNEGO", "EXTERNAL", "DIGEST-MD5"]),
    ]


def _server_class(directory: DomainDirectory, certificates: LabCertificates) -> Any:
    from ldaptor.protocols import pureldap
    from ldaptor.protocols.ldap import ldaperrors
    from ldaptor.protocols.ldap.ldapserver import LDAPServer
    from twisted.internet import ssl as twisted_ssl

    from lmpreflight.lab.ldap_index import SEARCH_DONE, ReadOnlyIndexedServer, encoded_entry, encoded_values

    tls = twisted_ssl.DefaultOpenSSLContextFactory(  # type: ignore[no-untyped-call]
        str(certificates.key_path), str(certificates.cert_path)
    )
    binding = tls_server_end_point(certificates)

    class LabLdapServer(ReadOnlyIndexedServer, LDAPServer):  # type: ignore[misc]
        acceptor: Any = None

        def handle_LDAPBindRequest(self, request: Any, controls: Any, reply: Any) -> Any:
            if request.sasl:
                return self._sasl_bind(*request.auth)
            name = request.dn.decode("utf-8") if isinstance(request.dn, bytes) else str(request.dn)
            password = request.auth.decode("utf-8") if isinstance(request.auth, bytes) else str(request.auth or "")
            if not name:
                return pureldap.LDAPBindResponse(resultCode=0)
            directory.bind_attempts.append(("SIMPLE", name))
            if directory.check_bind(name, password):
                return pureldap.LDAPBindResponse(resultCode=ldaperrors.Success.resultCode)
            return pureldap.LDAPBindResponse(
                resultCode=ldaperrors.LDAPInvalidCredentials.resultCode,
                errorMessage="80090308: LdapErr: DSID-0C090447, comment: AcceptSecurityContext error, data 52e, v3839",
            )

        def _sasl_bind(self, mechanism: bytes, token: bytes | None) -> Any:
            """GSS-SPNEGO as a DC answers it: saslBindInProgress with the acceptor's token until
            the exchange completes; a wrong password, a foreign user or a channel binding
            that is not this TLS session's is invalidCredentials."""
            import spnego
            from spnego.channel_bindings import GssChannelBindings

            if mechanism != b"GSS-SPNEGO":
                self.acceptor = None
                return pureldap.LDAPBindResponse(
                    resultCode=ldaperrors.LDAPAuthMethodNotSupported.resultCode,
                    errorMessage=f"00002027: LdapErr: DSID-0C090A5B, comment: unsupported SASL mechanism "
                    f"{mechanism.decode('ascii', 'replace')}",
                )
            try:
                if self.acceptor is None:
                    self.acceptor = spnego.server(
                        protocol="negotiate",
                        service="ldap",
                        channel_bindings=GssChannelBindings(application_data=binding),
                    )
                answer = self.acceptor.step(token or b"")
                if not self.acceptor.complete:
                    return pureldap.LDAPBindResponse(resultCode=SASL_BIND_IN_PROGRESS, serverSaslCreds=answer)
                principal = str(self.acceptor.client_principal or "")
                directory.bind_attempts.append(("GSS-SPNEGO", principal))
                if not directory.knows(principal):
                    raise ValueError(f"{principal} is not a user of {directory.dns_name}")
            except Exception:
                self.acceptor = None
                directory.failed_binds += 1
                return pureldap.LDAPBindResponse(
                    resultCode=ldaperrors.LDAPInvalidCredentials.resultCode,
                    errorMessage="8009030C: LdapErr: DSID-0C090569, comment: AcceptSecurityContext error, data 52e",
                )
            self.acceptor = None
            return pureldap.LDAPBindResponse(resultCode=ldaperrors.Success.resultCode, serverSaslCreds=answer)

        def handle_LDAPSearchRequest(self, request: Any, controls: Any, reply: Any) -> Any:
            if (
                directory.global_catalog
                and request.baseObject == b""
                and request.scope != pureldap.LDAP_SCOPE_baseObject
            ):
                request.baseObject = directory.base_dn.encode()
            return super().handle_LDAPSearchRequest(request, controls, reply)

        def getRootDSE(self, request: Any, reply: Any) -> Any:
            reply(encoded_entry("", [(name, encoded_values(values)) for name, values in root_dse(directory)]))
            return SEARCH_DONE

        def extendedRequest_StartTLS(self, data: Any, reply: Any) -> None:
            reply(pureldap.LDAPStartTLSResponse(resultCode=ldaperrors.Success.resultCode))
            self.transport.startTLS(tls)

        extendedRequest_StartTLS.oid = START_TLS_OID  # type: ignore[attr-defined]

    return LabLdapServer


class LabLdapServer:
    """One domain controller's LDAP endpoint."""

    def __init__(self, directory: DomainDirectory, certificates: LabCertificates) -> None:
        self.directory = directory
        self.certificates = certificates
        self._port: Any = None

    def start(self) -> int:
        from ldaptor.interfaces import IConnectedLDAPEntry
        from twisted.internet import protocol
        from twisted.python.components import registerAdapter

        tree = build_tree(self.directory)
        server_class = _server_class(self.directory, self.certificates)

        directory = self.directory

        class Factory(protocol.ServerFactory):
            def buildProtocol(self, addr: Any) -> Any:
                proto = server_class()
                proto.factory = self
                proto.max_page_size = directory.max_page_size
                proto.max_val_range = directory.max_val_range
                proto.busy = directory.take_search
                return proto

        factory = Factory()
        factory.root = tree  # type: ignore[attr-defined]
        registerAdapter(lambda f: f.root, Factory, IConnectedLDAPEntry)  # type: ignore[no-untyped-call]
        self._port = _call_in_reactor(lambda: _reactor().listenTCP(0, factory, interface="127.0.0.1"))
        return int(self._port.getHost().port)

    def stop(self) -> None:
        if self._port is not None:
            port = self._port
            _call_in_reactor(lambda: port.stopListening())
            self._port = None
