"""Starting a whole lab from a scenario: WinRM listeners, DNS, and one LDAP DC per domain."""

from __future__ import annotations

import socket
import ssl
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType

from lmpreflight.collect.dns import DnsServer
from lmpreflight.collect.parallel import CollectOptions
from lmpreflight.lab.certs import LabCertificates, make_certificates
from lmpreflight.lab.dns_server import DnsTable, LabDnsServer, reverse_name
from lmpreflight.lab.hosts import LabHost, LabWorld
from lmpreflight.lab.ldap_server import DirectoryEntry, DomainDirectory, LabLdapServer
from lmpreflight.lab.scenario import Scenario
from lmpreflight.lab.wsman import NtlmUsers, SharedListener, WsmanOptions, WsmanServer

SHARED_LISTENER_ABOVE = 16
"""Larger labs (generated fleets) serve every host from one listener, at /<HOST>/wsman."""
TRUST_DIRECTION = {"Disabled": 0, "Inbound": 1, "Outbound": 2, "Bidirectional": 3}
TRUST_ATTRIBUTES = {"ParentChild": 0x20, "TreeRoot": 0x20, "Forest": 0x8, "External": 0x4}
SELECTIVE_AUTHENTICATION = 0x10
DOMAIN_USERS_RID = 513
PROTECTED_USERS_RID = 525


def binary_sid(text: str) -> bytes:
    """S-1-5-21-... as the binary SID AD stores (MS-DTYP 2.4.2.2)."""
    parts = [int(p) for p in text.split("-")[2:]]
    authority, subs = parts[0], parts[1:]
    return bytes([1, len(subs)]) + authority.to_bytes(6, "big") + b"".join(s.to_bytes(4, "little") for s in subs)


def allowed_to_act_descriptor(sids: list[str]) -> bytes:
    """A self-relative security descriptor whose DACL allows each SID (what
    Set-ADComputer -PrincipalsAllowedToDelegateToAccount writes)."""
    aces = b""
    for sid in sids:
        body = (0x000F01FF).to_bytes(4, "little") + binary_sid(sid)
        aces += bytes([0, 0]) + (4 + len(body)).to_bytes(2, "little") + body
    acl = bytes([2, 0]) + (8 + len(aces)).to_bytes(2, "little") + len(sids).to_bytes(2, "little") + b"\0\0" + aces
    header = bytes([1, 0]) + (0x8004).to_bytes(2, "little") + (0).to_bytes(4, "little") * 3 + (20).to_bytes(4, "little")
    return header + acl


@dataclass(frozen=True)
class LabTuning:
    """Knobs for benchmarks: latency per HTTP exchange and PowerShell start-up per process."""

    http_latency: float = 0.0
    powershell_startup: float = 0.0
    https: bool = False


@dataclass
class LabEndpoints:
    winrm: dict[str, str] = field(default_factory=dict)
    dns: str = ""
    ldap: dict[str, int] = field(default_factory=dict)
    global_catalogs: dict[str, int] = field(default_factory=dict)
    """Port of the Global Catalog of each forest whose root domain the scenario has."""
    ca_cert: Path | None = None


def _closed_port() -> int:
    """A loopback port nothing listens on: connections to it are refused, like a host without a listener."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = int(probe.getsockname()[1])
    probe.close()
    return port


class Lab:
    """A running lab. Use as a context manager; everything listens on 127.0.0.1 only."""

    def __init__(self, scenario: Scenario, tuning: LabTuning | None = None, workdir: Path | None = None) -> None:
        self.scenario = scenario
        self.tuning = tuning or LabTuning()
        self._tempdir = None if workdir else tempfile.TemporaryDirectory(prefix="lmpreflight-lab-")
        self.workdir = workdir or Path(self._tempdir.name)  # type: ignore[union-attr]
        self.world = LabWorld(scenario, scenario.client.user)
        self.wsman: dict[str, WsmanServer] = {}
        self.ldap: dict[str, LabLdapServer] = {}
        self.global_catalogs: dict[str, LabLdapServer] = {}
        self.dns: LabDnsServer | None = None
        self.endpoints = LabEndpoints()
        self.certificates: LabCertificates | None = None
        self.shared_listener: SharedListener | None = None
        self._holds_users = False

    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def start(self) -> LabEndpoints:
        scenario = self.scenario
        names = [d.dc for d in scenario.domains.values()]
        names += [self.fqdn(n) for n in scenario.hosts]
        self.certificates = make_certificates(self.workdir, names)
        self.endpoints.ca_cert = self.certificates.ca_path
        NtlmUsers.acquire()
        self._holds_users = True
        for dns_name, domain in scenario.domains.items():
            for user, password in domain.users.items():
                NtlmUsers.register(domain.netbios, user, password, dns_name)
            ldap_server = LabLdapServer(self.directory(dns_name), self.certificates)
            self.endpoints.ldap[dns_name] = ldap_server.start()
            self.ldap[dns_name] = ldap_server
        for root, root_domain in self.scenario.domains.items():
            if (root_domain.forest or root) != root:
                continue  # a Global Catalog is served for each forest root the scenario has
            self.global_catalogs[root] = LabLdapServer(self.global_catalog(root), self.certificates)
            self.endpoints.global_catalogs[root] = self.global_catalogs[root].start()
        self.dns = LabDnsServer(self._dns_table())
        self.endpoints.dns = self.dns.start()
        tls = None
        if self.tuning.https:
            tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls.load_cert_chain(self.certificates.cert_path, self.certificates.key_path)
        basic = {user.casefold(): pw for d in scenario.domains.values() for user, pw in d.users.items()}
        basic |= {f"{d.netbios}\\{u}".casefold(): pw for d in scenario.domains.values() for u, pw in d.users.items()}
        shared = None
        if len(scenario.hosts) > SHARED_LISTENER_ABOVE:
            shared = self.shared_listener = SharedListener(tls)
            shared.start()
        for name, spec in scenario.hosts.items():
            if spec.fault == "unreachable":
                scheme = "https" if self.tuning.https else "http"
                self.endpoints.winrm[name] = f"{scheme}://127.0.0.1:{_closed_port()}/wsman"
                continue
            options = WsmanOptions(
                auth=scenario.client.transport,
                basic_users=basic,
                latency=self.tuning.http_latency,
                tls=tls,
                faults={str(kind): count for kind, count in spec.winrm_faults.items()},
            )
            server = WsmanServer(LabHost(self.world, name, self.tuning.powershell_startup), options, name)
            if shared is not None:
                self.endpoints.winrm[name] = shared.add(server)
            else:
                self.endpoints.winrm[name] = server.start()
            self.wsman[name] = server
        return self.endpoints

    def stop(self) -> None:
        if self._holds_users:
            NtlmUsers.release()
            self._holds_users = False
        if self.shared_listener is not None:
            self.shared_listener.stop()
        for server in self.wsman.values():
            server.stop()
        for ldap in [*self.ldap.values(), *self.global_catalogs.values()]:
            ldap.stop()
        if self.dns is not None:
            self.dns.stop()
        if self._tempdir is not None:
            self._tempdir.cleanup()

    def connection_arguments(self, password_variable: str, endpoints: bool = True) -> list[str]:
        """The options that point 'lmpreflight check' (or collect, diagnose) at this lab;
        without ``endpoints`` when an inventory names each host's WinRM URL instead."""
        words = [
            "--user",
            self.scenario.client.user,
            "--password-env",
            password_variable,
            "--dns-server",
            self.endpoints.dns,
            "--ca-cert",
            str(self.endpoints.ca_cert),
        ]
        if endpoints:
            for name, url in self.endpoints.winrm.items():
                words += ["--endpoint", f"{self.fqdn(name)}={url}"]
        return words

    def write_inventory(self) -> Path:
        """A CSV inventory of the lab's hosts with their WinRM URLs, for 'lmpreflight plan'."""
        path = self.workdir / "inventory.csv"
        rows = ["name,address,endpoint"]
        rows += [f"{name},{self.fqdn(name)},{url}" for name, url in self.endpoints.winrm.items()]
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
        return path

    def collect_options(self, include_storage: bool, vms: tuple[str, ...]) -> CollectOptions:
        """The collection options that point lmpreflight's own collector at this lab (demo, tests, benchmarks)."""
        client = self.scenario.client
        return CollectOptions(
            username=client.user,
            password=client.password,
            transport=client.transport,
            ca_cert=str(self.endpoints.ca_cert),
            dns=DnsServer.parse(self.endpoints.dns),
            timeout=15,
            endpoints={self.fqdn(name): url for name, url in self.endpoints.winrm.items()},
            vm_names=vms,
            include_storage=include_storage,
            storage_path=self.scenario.storage_path,
        )

    def fqdn(self, name: str) -> str:
        """The host's name in the lab's DNS and AD: what an admin types to reach it."""
        spec = self.scenario.hosts[name]
        return spec.dns_name or str(spec.facts.get("identity", {}).get("fqdn", name))

    def domain_sid(self, dns_name: str) -> str:
        index = sorted(self.scenario.domains).index(dns_name)
        return f"S-1-5-21-1004336348-1177238915-{682003330 + index}"

    def host_sid(self, name: str) -> str:
        spec = self.scenario.hosts[name]
        return f"{self.domain_sid(spec.domain)}-{1100 + sorted(self.scenario.hosts).index(name)}"

    def global_catalog(self, root: str) -> DomainDirectory:
        """What the Global Catalog of the forest rooted at ``root`` serves: every domain's entries."""
        catalog = replace(self.directory(root), global_catalog=True)
        for name, member in self.scenario.domains.items():
            if name != root and member.forest == root:
                catalog.entries.extend(self.directory(name).entries)
                catalog.users.update(member.users)
        return catalog

    def directory(self, dns_name: str) -> DomainDirectory:
        """What the DC of the domain ``dns_name`` serves: its users, computers, trusts."""
        domain = self.scenario.domains[dns_name]
        base = ",".join(f"DC={label}" for label in dns_name.split("."))
        domain_sid = self.domain_sid(dns_name)
        entries = [
            DirectoryEntry(
                f"CN={user},CN=Users,{base}",
                {
                    "objectClass": ["top", "person", "organizationalPerson", "user"],
                    "sAMAccountName": [user],
                    "userPrincipalName": [f"{user}@{dns_name}"],
                    "userAccountControl": [str(0x10200 | (0x100000 if user in domain.sensitive_users else 0))],
                    "tokenGroups": [
                        binary_sid(f"{domain_sid}-{rid}")
                        for rid in (
                            DOMAIN_USERS_RID,
                            *([PROTECTED_USERS_RID] if user in domain.protected_users else []),
                        )
                    ],
                },
            )
            for user in domain.users
        ]
        entries.append(DirectoryEntry(f"CN=System,{base}", {"objectClass": ["top", "container"], "cn": ["System"]}))
        for name, spec in self.scenario.hosts.items():
            if spec.domain != dns_name or spec.account is None:
                continue
            attributes: dict[str, list[str | bytes]] = {
                "objectClass": ["top", "person", "organizationalPerson", "user", "computer"],
                "cn": [name],
                "sAMAccountName": [f"{name}$"],
                "dNSHostName": [self.fqdn(name)],
                "userAccountControl": [str(spec.account.user_account_control)],
                "objectSid": [binary_sid(self.host_sid(name))],
            }
            if spec.account.allowed_to_act_from:
                attributes["msDS-AllowedToActOnBehalfOfOtherIdentity"] = [
                    allowed_to_act_descriptor([self.host_sid(peer) for peer in spec.account.allowed_to_act_from])
                ]
            if spec.account.service_principal_names:
                attributes["servicePrincipalName"] = list(spec.account.service_principal_names)
            if spec.account.allowed_to_delegate_to:
                attributes["msDS-AllowedToDelegateTo"] = list(spec.account.allowed_to_delegate_to)
            entries.append(DirectoryEntry(f"CN={name},{spec.account.ou},{base}", attributes))
        for extra in domain.extra_accounts:
            entries.append(
                DirectoryEntry(
                    f"CN={extra.name},{extra.ou},{base}",
                    {
                        "objectClass": ["top", "person", "organizationalPerson", "user", "computer"],
                        "sAMAccountName": [f"{extra.name}$"],
                        "servicePrincipalName": list(extra.service_principal_names),
                        "userAccountControl": ["4096"],
                    },
                )
            )
        for trust in domain.trusts:
            entries.append(
                DirectoryEntry(
                    f"CN={trust.partner},CN=System,{base}",
                    {
                        "objectClass": ["top", "leaf", "trustedDomain"],
                        "trustPartner": [trust.partner],
                        "trustDirection": [str(TRUST_DIRECTION[trust.direction])],
                        "trustAttributes": [
                            str(
                                TRUST_ATTRIBUTES.get(trust.trust_type, 0)
                                | (0 if trust.transitive else 1)
                                | (SELECTIVE_AUTHENTICATION if trust.selective_authentication else 0)
                            )
                        ],
                    },
                )
            )
        return DomainDirectory(
            dns_name,
            domain.netbios,
            domain.dc,
            domain.dc_clock_offset,
            dict(domain.users),
            entries,
            domain.forest or "",
        )

    def _dns_table(self) -> DnsTable:
        table = DnsTable()
        for dns_name, domain in self.scenario.domains.items():
            table.add(domain.dc, "A", "127.0.0.1")
            if domain.publish_srv:
                table.add(
                    f"_ldap._tcp.dc._msdcs.{dns_name}", "SRV", f"0 100 {self.endpoints.ldap[dns_name]} {domain.dc}"
                )
                if dns_name in self.endpoints.global_catalogs:
                    port = self.endpoints.global_catalogs[dns_name]
                    table.add(f"_gc._tcp.{dns_name}", "SRV", f"0 100 {port} {domain.dc}")
        # The same records every lab host's own resolver starts from (LabWorld.resolve_on).
        for fqdn, addresses in self.world.host_records().items():
            for address in addresses:
                table.add(fqdn, "A", address)
                table.add(reverse_name(address), "PTR", fqdn + ".")
        for change in self.scenario.dns_changes:
            name = reverse_name(change.name) if change.type == "PTR" and change.name[0].isdigit() else change.name
            table.replace(name, change.type, change.values)
        return table
