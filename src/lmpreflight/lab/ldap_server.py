"""The lab's Active Directory stand-in: a real LDAP server (ldaptor on Twisted) on loopback.

AD behaviour the tool relies on is reproduced with small shims: a rootDSE with
``defaultNamingContext`` and ``currentTime``; simple bind as ``DOMAIN\\user``,
``user@domain`` or a DN; StartTLS before the bind. The Twisted reactor is global and
cannot be restarted, so it runs once per process in a daemon thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from lmpreflight.lab.certs import LabCertificates

START_TLS_OID = b"1.3.6.1.4.1.1466.20037"

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

    @property
    def forest_dn(self) -> str:
        return ",".join(f"DC={label}" for label in (self.forest or self.dns_name).split("."))

    @property
    def base_dn(self) -> str:
        return ",".join(f"DC={label}" for label in self.dns_name.split("."))

    def check_bind(self, name: str, password: str) -> bool:
        """AD accepts DOMAIN\\user, user@domain and the user's DN for a simple bind."""
        text = name.strip()
        if "\\" in text:
            _domain, _, user = text.partition("\\")
        elif "@" in text:
            user = text.split("@")[0]
        else:
            user = text.split(",")[0].split("=", 1)[-1]
        expected = {u.casefold(): p for u, p in self.users.items()}.get(user.casefold())
        if expected is None or expected != password:
            self.failed_binds += 1
            return False
        return True


def _build_tree(directory: DomainDirectory) -> Any:
    from ldaptor.inmemory import ReadOnlyInMemoryLDAPEntry

    root = ReadOnlyInMemoryLDAPEntry(
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


def _server_class(directory: DomainDirectory, certificates: LabCertificates) -> Any:
    from ldaptor.protocols import pureldap
    from ldaptor.protocols.ldap import ldaperrors
    from ldaptor.protocols.ldap.ldapserver import LDAPServer
    from twisted.internet import ssl as twisted_ssl

    tls = twisted_ssl.DefaultOpenSSLContextFactory(  # type: ignore[no-untyped-call]
        str(certificates.key_path), str(certificates.cert_path)
    )

    class LabLdapServer(LDAPServer):  # type: ignore[misc]
        def handle_LDAPBindRequest(self, request: Any, controls: Any, reply: Any) -> Any:
            name = request.dn.decode("utf-8") if isinstance(request.dn, bytes) else str(request.dn)
            password = request.auth.decode("utf-8") if isinstance(request.auth, bytes) else str(request.auth or "")
            if not name:
                return pureldap.LDAPBindResponse(resultCode=0)
            if directory.check_bind(name, password):
                return pureldap.LDAPBindResponse(resultCode=ldaperrors.Success.resultCode)
            return pureldap.LDAPBindResponse(
                resultCode=ldaperrors.LDAPInvalidCredentials.resultCode,
                errorMessage="80090308: LdapErr: DSID-0C090447, comment: AcceptSecurityContext error, data 52e, v3839",
            )

        def getRootDSE(self, request: Any, reply: Any) -> Any:
            now = datetime.now(UTC) + timedelta(seconds=directory.clock_offset)
            reply(
                pureldap.LDAPSearchResultEntry(
                    objectName="",
                    attributes=[
                        ("defaultNamingContext", [directory.base_dn]),
                        ("rootDomainNamingContext", [directory.forest_dn]),
                        ("dnsHostName", [directory.dc_name]),
                        ("currentTime", [now.strftime("%Y%m%d%H%M%S.0Z")]),
                        ("supportedLDAPVersion", ["3"]),
                        ("supportedExtension", [START_TLS_OID.decode()]),
                    ],
                )
            )
            return pureldap.LDAPSearchResultDone(resultCode=ldaperrors.Success.resultCode)

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

        tree = _build_tree(self.directory)
        server_class = _server_class(self.directory, self.certificates)

        class Factory(protocol.ServerFactory):
            def buildProtocol(self, addr: Any) -> Any:
                proto = server_class()
                proto.factory = self
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
