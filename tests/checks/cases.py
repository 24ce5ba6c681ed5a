"""Pass and fail cases for every built-in check, as changes to the healthy example pair.

Each case names the check, what is changed, the VMs selected, the status the check must
report and a piece of text its message must contain (the concrete values it saw).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lmpreflight.vocabulary import MoveFrom

Doc = dict[str, Any]


@dataclass(frozen=True)
class Case:
    check_id: str
    name: str
    mutate: Callable[[Doc, Doc], None] | None
    expect: str
    contains: str = ""
    vms: tuple[str, ...] = ("SQL01", "WEB02")
    include_storage: bool = False
    subjects: frozenset[str] = field(default_factory=frozenset)
    move_from: MoveFrom | None = None
    storage_path: str | None = None
    lacks: str = ""
    """Text no finding's message or fix may contain (a fix that would do harm)."""


def _set(path: str, value: Any, role: str = "destination") -> Callable[[Doc, Doc], None]:
    def mutate(source: Doc, destination: Doc) -> None:
        doc = source if role == "source" else destination
        *parents, last = path.split(".")
        for part in parents:
            doc = doc[part]
        doc[last] = value

    return mutate


def _vm(name: str, **changes: Any) -> Callable[[Doc, Doc], None]:
    def mutate(source: Doc, destination: Doc) -> None:
        vm = next(v for v in source["vms"] if v["name"] == name)
        for key, value in changes.items():
            vm[key] = value

    return mutate


def _both(*mutators: Callable[[Doc, Doc], None]) -> Callable[[Doc, Doc], None]:
    def mutate(source: Doc, destination: Doc) -> None:
        for m in mutators:
            m(source, destination)

    return mutate


def _rehearsal(
    error: str | None = None, incompatibilities: list[dict[str, Any]] | None = None
) -> Callable[[Doc, Doc], None]:
    """The source's Compare-VM rehearsal of SQL01 towards HV02: its error or its incompatibilities."""
    entry = {
        "vm": "SQL01",
        "destination": "hv02.corp.example",
        "incompatibilities": incompatibilities or [],
        "error": error,
    }
    return _set("rehearsal", [entry], "source")


def _credssp(source: Doc, destination: Doc) -> None:
    source["migration"]["authentication_type"] = "CredSSP"
    destination["migration"]["authentication_type"] = "CredSSP"


def _other_domain(source: Doc, destination: Doc) -> None:
    destination["domain"]["domain"] = "lab.example"
    destination["directory"]["domain_dns_name"] = "lab.example"
    destination["directory"]["forest"] = "lab.example"


def _trust(direction: str, trust_type: str = "Forest") -> Callable[[Doc, Doc], None]:
    def mutate(source: Doc, destination: Doc) -> None:
        _other_domain(source, destination)
        source["directory"]["trusts"] = [
            {"partner": "lab.example", "direction": direction, "trust_type": trust_type, "transitive": True}
        ]

    return mutate


def _no_delegation(source: Doc, destination: Doc) -> None:
    source["directory"]["computer"]["allowed_to_delegate_to"] = []


def _smb(blocked: bool) -> Callable[[Doc, Doc], None]:
    def mutate(source: Doc, destination: Doc) -> None:
        source["migration"]["performance_option"] = "SMB"
        source["network"]["port_tests"].append(
            {"address": "10.0.50.12", "port": 445, "succeeded": not blocked, "detail": None}
        )

    return mutate


def _clock(offset_seconds: float) -> Callable[[Doc, Doc], None]:
    def mutate(source: Doc, destination: Doc) -> None:
        from datetime import datetime, timedelta

        observed = datetime.fromisoformat(destination["clock"]["observer_utc"].replace("Z", "+00:00"))
        destination["clock"]["host_utc"] = (observed + timedelta(seconds=offset_seconds)).isoformat()

    return mutate


def _migration_subnet(subnet: str) -> Callable[[Doc, Doc], None]:
    return _set("migration.networks", [{"subnet": subnet, "priority": 0}])


def _port_6600(*results: tuple[str, bool]) -> Callable[[Doc, Doc], None]:
    def mutate(source: Doc, destination: Doc) -> None:
        source["network"]["port_tests"] = [
            {"address": a, "port": 6600, "succeeded": ok, "detail": None if ok else "timed out"} for a, ok in results
        ]

    return mutate


def _spn_duplicate(source: Doc, destination: Doc) -> None:
    destination["directory"]["migration_spn_holders"][0]["holders"].append("CN=OLDHV02,OU=Retired,DC=corp,DC=example")


def _dvd(source: Doc, destination: Doc) -> None:
    source["vms"][0]["dvd_drives"] = [{"path": "C:\\ISO\\SQL2019.iso", "kind": "iso"}]


def _child_domains(source: Doc, destination: Doc) -> None:
    for doc, child in ((source, "child1.corp.example"), (destination, "child2.corp.example")):
        doc["domain"]["domain"] = child
        doc["directory"]["domain_dns_name"] = child
        doc["directory"]["forest"] = "corp.example"
        doc["directory"]["trusts"] = [
            {"partner": "corp.example", "direction": "Bidirectional", "trust_type": "ParentChild", "transitive": True}
        ]


def _forest_trust_to_child(source: Doc, destination: Doc) -> None:
    source["domain"]["domain"] = "child1.corp.example"
    source["directory"]["domain_dns_name"] = "child1.corp.example"
    source["directory"]["forest"] = "corp.example"
    _other_domain(source, destination)
    destination["directory"]["trusts"] = [
        {"partner": "corp.example", "direction": "Bidirectional", "trust_type": "Forest", "transitive": True}
    ]


def _child_without_trust(source: Doc, destination: Doc) -> None:
    _other_domain(source, destination)
    source["domain"]["domain"] = "child1.corp.example"
    source["directory"]["domain_dns_name"] = "child1.corp.example"


def _selective(source: Doc, destination: Doc) -> None:
    source["directory"]["trusts"][0]["selective_authentication"] = True


def _windows_11(source: Doc, destination: Doc) -> None:
    for doc in (source, destination):
        doc["os"] = {
            "caption": "Microsoft Windows 11 Enterprise",
            "version": "10.0.26100",
            "build": 26100,
            "product_type": 1,
        }


def _smb_rdma_one_end(source: Doc, destination: Doc) -> None:
    _smb(blocked=False)(source, destination)
    source["network"]["adapters"][1]["rdma_enabled"] = True


def _smb_signing(source: Doc, destination: Doc) -> None:
    _smb_rdma_one_end(source, destination)
    destination["network"]["adapters"][1]["rdma_enabled"] = True
    destination["network"]["smb"] = {"signing_required": True, "encryption_required": False}


def _rbcd_only(source: Doc, destination: Doc) -> None:
    source["directory"]["computer"]["allowed_to_delegate_to"] = []
    destination["directory"]["computer"]["allowed_to_act"] = [source["directory"]["computer"]["object_sid"]]


def _routed(reached: bool) -> Callable[[Doc, Doc], None]:
    def mutate(source: Doc, destination: Doc) -> None:
        destination["identity"]["addresses"] = ["10.0.10.12", "10.0.60.12"]
        destination["migration"]["networks"] = [{"subnet": "10.0.60.0/24", "priority": 0}]
        destination["network"]["adapters"][1]["addresses"] = [{"address": "10.0.60.12", "prefix_length": 24}]
        destination["network"]["adapters"][1]["default_gateway"] = "10.0.60.1"
        source["network"]["port_tests"] = [
            {"address": "10.0.60.12", "port": 6600, "succeeded": reached, "detail": None if reached else "timed out"}
        ]

    return mutate


def _port_refused(source: Doc, destination: Doc) -> None:
    source["network"]["port_tests"] = [
        {"address": "10.0.50.12", "port": 6600, "succeeded": False, "outcome": "refused", "detail": "refused"}
    ]


def _disk(vm: Doc) -> Doc:
    disk: Doc = vm["hard_drives"][0]
    return disk


def _local_parent(source: Doc, destination: Doc) -> None:
    disk = _disk(source["vms"][1])
    disk["path"] = "\\\\fs01.corp.example\\vms\\WEB02\\WEB02_1.avhdx"
    disk["parent_paths"] = ["D:\\Base\\w2022.vhdx"]


def _unknown_parent(source: Doc, destination: Doc) -> None:
    disk = _disk(source["vms"][1])
    disk["path"] = "\\\\fs01.corp.example\\vms\\WEB02\\WEB02_1.avhdx"
    disk["parent_paths"] = None


def _parents_size(size: int) -> Callable[[Doc, Doc], None]:
    def mutate(source: Doc, destination: Doc) -> None:
        _disk(source["vms"][0])["parents_size_bytes"] = size

    return mutate


def _numa_2025(spanning: bool) -> Callable[[Doc, Doc], None]:
    def mutate(source: Doc, destination: Doc) -> None:
        destination["os"]["build"] = 26100
        destination["processor"]["numa_spanning_enabled"] = spanning
        next(v for v in source["vms"] if v["name"] == "SQL01")["processor"]["count"] = 48

    return mutate


def _numa_2022_off(source: Doc, destination: Doc) -> None:
    destination["processor"]["numa_spanning_enabled"] = False
    next(v for v in source["vms"] if v["name"] == "SQL01")["processor"]["count"] = 48


def _shared_disk(source: Doc, destination: Doc) -> None:
    disk = _disk(source["vms"][0])
    disk["path"] = "\\\\fs01.corp.example\\vms\\SQL01\\quorum.vhds"
    disk["shared"] = True


def _vtpm(on_destination: bool) -> Callable[[Doc, Doc], None]:
    def mutate(source: Doc, destination: Doc) -> None:
        vm = source["vms"][0]
        vm["tpm_enabled"] = True
        vm["key_protector"] = {"owner_thumbprints": ["A1B2C3", "D4E5F6"]}
        destination["security"]["shielded_vm_certificates"] = ["a1b2c3", "d4e5f6"] if on_destination else ["A1B2C3"]

    return mutate


def _mtu(value: int | None) -> Callable[[Doc, Doc], None]:
    def mutate(source: Doc, destination: Doc) -> None:
        for adapter in destination["network"]["adapters"]:
            adapter["mtu"] = value

    return mutate


CASES: list[Case] = [
    Case(
        "network.migration-mtu",
        "values not reported",
        _mtu(None),
        "info",
        "HV02: adapter 'LiveMigration' MTU not reported",
    ),
    Case("network.migration-mtu", "jumbo frames", _mtu(9014), "info", "HV02: adapter 'LiveMigration' MTU 9014"),
    # domain
    Case("domain.members", "pass", None, "pass", "member of corp.example"),
    Case("domain.members", "workgroup", _set("domain.part_of_domain", False), "fail", "not domain-joined"),
    Case("domain.same-or-trusted", "same domain", None, "pass", "both hosts are in corp.example"),
    Case("domain.same-or-trusted", "two-way trust, Kerberos", _trust("Bidirectional"), "pass", "trust each other"),
    Case(
        "domain.same-or-trusted",
        "two-way trust, CredSSP",
        _both(_trust("Bidirectional"), _credssp),
        "pass",
        "trust each other",
    ),
    Case(
        "domain.same-or-trusted",
        "one-way trust",
        _both(_trust("Inbound"), _credssp),
        "warn",
        "moving the VM back will fail",
    ),
    Case(
        "domain.same-or-trusted",
        "wrong one-way trust",
        _trust("Outbound"),
        "fail",
        "lab.example does not trust corp.example",
    ),
    Case("domain.same-or-trusted", "no trust", _other_domain, "fail", "does not trust"),
    Case("domain.same-or-trusted", "V1: child domains of one forest", _child_domains, "pass", "one forest"),
    Case(
        "domain.same-or-trusted", "forest trust to a child domain", _forest_trust_to_child, "pass", "trust each other"
    ),
    Case(
        "domain.same-or-trusted",
        "selective authentication",
        _both(_trust("Bidirectional"), _selective),
        "warn",
        "Allowed to authenticate",
    ),
    Case("domain.same-or-trusted", "child domain, trust not visible", _child_without_trust, "warn", "nltest"),
    Case("domain.dc-discovery", "pass", None, "pass", "dc01.corp.example:389"),
    Case(
        "domain.dc-discovery",
        "no SRV",
        _both(_set("dns.dc_srv", []), _set("dns.dc_srv_error", "NXDOMAIN")),
        "fail",
        "NXDOMAIN",
    ),
    Case("domain.secure-channel", "pass", None, "pass", "secure channel"),
    Case(
        "domain.secure-channel",
        "broken",
        _both(
            _set("domain.secure_channel_ok", False), _set("domain.secure_channel_error", "trust relationship failed")
        ),
        "fail",
        "trust relationship failed",
    ),
    Case("domain.clock-skew", "pass", None, "pass", "agree within"),
    Case("domain.clock-skew", "90 s", _clock(90), "warn", "90 s"),
    Case("domain.clock-skew", "6 minutes", _clock(360), "fail", "360 s"),
    # hyperv
    Case("hyperv.role-installed", "pass", None, "pass", "installed on HV02"),
    Case(
        "hyperv.role-installed",
        "missing",
        _both(_set("hyperv.role_installed", False), _set("hyperv.role_install_state", "Available")),
        "fail",
        "Available",
    ),
    Case("hyperv.vmms-running", "pass", None, "pass", "running on HV02"),
    Case("hyperv.vmms-running", "stopped", _set("hyperv.vmms_status", "Stopped"), "fail", "vmms is Stopped on HV02"),
    Case("hyperv.module-present", "pass", None, "pass", "module present"),
    Case(
        "hyperv.module-present", "missing", _set("hyperv.module_installed", False), "fail", "module is missing on HV02"
    ),
    Case("hyperv.os-pair-supported", "same release", None, "pass", "2022 → 2022"),
    Case("hyperv.os-pair-supported", "P14: 2016 to 2022", _set("os.build", 14393, "source"), "pass", "2016 → 2022"),
    Case("hyperv.os-pair-supported", "V4: 2022 to 2025", _set("os.build", 26100), "pass", "2022 → 2025: supported"),
    Case("hyperv.os-pair-supported", "V5: client Hyper-V", _windows_11, "fail", "client Hyper-V has no live migration"),
    Case("hyperv.os-pair-supported", "2012 R2 to 2022", _set("os.build", 9600, "source"), "fail", "version 5.0"),
    Case("hyperv.os-pair-supported", "2008 R2", _set("os.build", 7601, "source"), "fail", "2012 R2 or later"),
    Case("hyperv.os-pair-supported", "moving down", _set("os.build", 17763), "warn", "moving down"),
    Case("hyperv.migration-enabled", "pass", None, "pass", "enabled on HV02"),
    Case("hyperv.migration-enabled", "disabled", _set("migration.enabled", False), "fail", "disabled on HV02"),
    Case("hyperv.auth-type-consistent", "pass", None, "pass", "both hosts use Kerberos"),
    Case(
        "hyperv.auth-type-consistent",
        "mismatch",
        _set("migration.authentication_type", "CredSSP"),
        "fail",
        "HV02 uses CredSSP",
    ),
    Case("hyperv.simultaneous-migrations", "pass", None, "pass", "2 simultaneous"),
    Case("hyperv.simultaneous-migrations", "zero", _set("migration.maximum_migrations", 0), "fail", "0 simultaneous"),
    Case("hyperv.simultaneous-migrations", "too many", _set("migration.maximum_migrations", 32), "warn", "32"),
    Case("hyperv.performance-option", "compression", None, "info", "Compression"),
    Case("hyperv.performance-option", "SMB open", _smb(blocked=False), "pass", "TCP 445 reachable"),
    Case(
        "hyperv.performance-option",
        "SMB blocked",
        _smb(blocked=True),
        "fail",
        "TCP 445 is blocked to 10.0.50.12",
        lacks="DisplayGroup",
    ),
    Case("hyperv.performance-option", "SMB, RDMA on one end", _smb_rdma_one_end, "info", "RDMA on both hosts"),
    Case("hyperv.performance-option", "SMB signing with RDMA", _smb_signing, "info", "requires SMB signing"),
    Case("hyperv.user-rights", "pass", None, "pass", "CORP\\hvadmin"),
    Case(
        "hyperv.user-rights",
        "no rights",
        _both(_set("session.is_administrator", False), _set("session.is_hyperv_administrator", False)),
        "fail",
        "neither",
    ),
    # delegation
    Case("delegation.spns-to-destination", "pass", None, "pass", "may delegate to all"),
    Case(
        "delegation.spns-to-destination",
        "missing",
        _no_delegation,
        "fail",
        "Microsoft Virtual System Migration Service/HV02",
    ),
    Case(
        "delegation.spns-to-destination",
        "cifs missing with storage",
        _set(
            "directory.computer.allowed_to_delegate_to",
            [
                "Microsoft Virtual System Migration Service/HV02",
                "Microsoft Virtual System Migration Service/hv02.corp.example",
            ],
            "source",
        ),
        "fail",
        "cifs/HV02",
        include_storage=True,
    ),
    Case("delegation.spns-to-destination", "credssp", _credssp, "skip", "CredSSP"),
    Case(
        "delegation.spns-to-destination",
        "V12: FQDN only",
        _set(
            "directory.computer.allowed_to_delegate_to",
            ["Microsoft Virtual System Migration Service/hv02.corp.example"],
            "source",
        ),
        "warn",
        "only by the name hv02.corp.example",
    ),
    Case("delegation.spns-to-destination", "resource-based", _rbcd_only, "pass", "resource-based"),
    Case(
        "delegation.spns-to-destination",
        "classic across domains",
        _trust("Bidirectional"),
        "fail",
        "cannot cross domains",
    ),
    Case(
        "delegation.spns-to-destination",
        "resource-based across domains",
        _both(_trust("Bidirectional"), _rbcd_only),
        "pass",
        "resource-based",
    ),
    Case("delegation.smb-share-server", "pass", None, "pass", "may delegate to cifs/fs01, cifs/fs01.corp.example"),
    Case(
        "delegation.smb-share-server",
        "cifs to the file server missing",
        _set(
            "directory.computer.allowed_to_delegate_to",
            ["Microsoft Virtual System Migration Service/HV02", "cifs/HV02", "cifs/fs01"],
            "source",
        ),
        "warn",
        "SQL01 on \\\\fs01.corp.example\\vms; WEB02 on \\\\fs01.corp.example\\vms: HV01 may not delegate to "
        "cifs/fs01.corp.example (its cifs entries: cifs/HV02, cifs/fs01)",
    ),
    Case(
        "delegation.smb-share-server",
        "cifs to the file server missing, the account delegating to a whole fleet",
        _set(
            "directory.computer.allowed_to_delegate_to",
            [f"cifs/HV{n:03d}" for n in range(1, 13)],
            "source",
        ),
        "warn",
        "(its cifs entries: cifs/HV001, cifs/HV002, cifs/HV003, cifs/HV004, cifs/HV005, cifs/HV006, cifs/HV007, "
        "cifs/HV008, cifs/HV009, cifs/HV010 and 2 more)",
    ),
    Case(
        "delegation.smb-share-server",
        "started on the source",
        _set("directory.computer.allowed_to_delegate_to", [], "source"),
        "pass",
        "the move starts on HV01",
        move_from="source",
    ),
    Case(
        "delegation.smb-share-server",
        "no VM on a share",
        _both(
            _vm(
                "SQL01",
                path="D:\\VMs\\SQL01",
                configuration_location=None,
                snapshot_file_location=None,
                smart_paging_file_path=None,
                hard_drives=[],
            ),
            _vm(
                "WEB02",
                path="D:\\VMs\\WEB02",
                configuration_location=None,
                snapshot_file_location=None,
                smart_paging_file_path=None,
                hard_drives=[],
            ),
        ),
        "skip",
        "no selected VM",
    ),
    Case(
        "delegation.smb-share-server",
        "share named by address",
        _vm("SQL01", path="\\\\10.0.10.50\\vms\\SQL01"),
        "info",
        "SQL01 on \\\\10.0.10.50\\vms: the share is named by address",
        vms=("SQL01",),
    ),
    Case("delegation.smb-share-server", "credssp", _credssp, "skip", "CredSSP"),
    Case(
        "delegation.smb-share-server",
        "no computer account",
        _set("directory.computer", None, "source"),
        "error",
        "source.directory.computer",
    ),
    Case("delegation.spns-to-source", "pass", None, "pass", "may delegate to all of HV01's services"),
    Case(
        "delegation.spns-to-source",
        "one-way",
        _set("directory.computer.allowed_to_delegate_to", []),
        "warn",
        "moving back will fail",
    ),
    Case("delegation.protocol-transition", "pass", None, "pass", "any authentication protocol"),
    Case(
        "delegation.protocol-transition",
        "kerberos only",
        _set("directory.computer.user_account_control", 4096, "source"),
        "fail",
        "Kerberos only",
    ),
    Case(
        "delegation.protocol-transition",
        "kerberos only, moved from the source",
        _set("directory.computer.user_account_control", 4096, "source"),
        "warn",
        "moves started on HV01 are reported to work",
        move_from="source",
    ),
    Case(
        "delegation.protocol-transition",
        "kerberos only with resource-based delegation",
        _both(_set("directory.computer.user_account_control", 4096, "source"), _rbcd_only),
        "pass",
        "resource-based",
    ),
    Case(
        "delegation.protocol-transition",
        "unconstrained",
        _set("directory.computer.user_account_control", 4096 | 0x80000, "source"),
        "warn",
        "unconstrained",
    ),
    Case("delegation.destination-spns-registered", "pass", None, "pass", "holds its migration SPNs"),
    Case(
        "delegation.destination-spns-registered",
        "not registered",
        _set("directory.computer.service_principal_names", ["HOST/HV02"]),
        "fail",
        "not registered on HV02",
    ),
    Case("delegation.destination-spns-registered", "duplicate", _spn_duplicate, "fail", "OLDHV02"),
    Case(
        "delegation.destination-spns-registered",
        "searched forest-wide",
        _set("directory.spn_search_scope", "forest"),
        "pass",
        "no other account in the forest does",
    ),
    Case(
        "delegation.destination-spns-registered",
        "searched in the domain only",
        _set("directory.spn_search_scope", "domain"),
        "pass",
        "other domains were not searched",
    ),
    Case("delegation.name-resolution", "pass", None, "pass", "agree in DNS"),
    Case(
        "delegation.name-resolution",
        "wrong PTR",
        _set("dns.reverse", [{"address": "10.0.10.12", "names": ["old-hv.corp.example."], "error": None}]),
        "info",
        "old-hv.corp.example",
    ),
    Case(
        "delegation.name-resolution",
        "wrong A",
        _set("dns.forward", [{"name": "hv02.corp.example", "addresses": ["10.0.10.99"], "error": None}]),
        "fail",
        "10.0.10.99",
    ),
    Case(
        "delegation.name-resolution",
        "does not resolve",
        _set("dns.forward", [{"name": "hv02.corp.example", "addresses": [], "error": "NXDOMAIN"}]),
        "fail",
        "does not resolve",
    ),
    Case("delegation.user-delegable", "pass", None, "pass", "hvadmin may be delegated"),
    Case(
        "delegation.user-delegable",
        "Protected Users",
        _set("directory.user.protected_users", True, "source"),
        "fail",
        "Protected Users",
    ),
    Case(
        "delegation.user-delegable",
        "sensitive, Kerberos",
        _set("directory.user.sensitive", True, "source"),
        "fail",
        "cannot be delegated",
    ),
    Case(
        "delegation.user-delegable",
        "sensitive, CredSSP",
        _both(_credssp, _set("directory.user.sensitive", True, "source")),
        "warn",
        "not documented",
    ),
    # credssp
    Case("credssp.start-on-source", "kerberos", None, "skip", "Kerberos"),
    Case(
        "credssp.start-on-source",
        "F15: started remotely",
        _credssp,
        "fail",
        "0x8009030E",
        move_from="remote",
        lacks="Enter-PSSession",
    ),
    Case("credssp.start-on-source", "started on the source", _credssp, "pass", "signed in to HV01", move_from="source"),
    Case("credssp.start-on-source", "P8: not said (the guide's way)", _credssp, "info", "assumed (CredSSP)"),
    Case("credssp.credential-guard", "off", _credssp, "pass", "Credential Guard is off"),
    Case(
        "credssp.credential-guard",
        "on",
        _both(_credssp, _set("security.credential_guard_running", True, "source")),
        "fail",
        "Credential Guard is running",
    ),
    Case(
        "credssp.credential-guard",
        "V11: on the destination",
        _both(_credssp, _set("security.credential_guard_running", True)),
        "warn",
        "moving back will fail",
    ),
    Case("credssp.encryption-oracle", "information", _credssp, "info", "not set (default)"),
    Case("credssp.encryption-oracle", "kerberos", None, "skip", "Kerberos"),
    # network
    Case("network.migration-networks-isolated", "pass", None, "pass", "10.0.50.0/24"),
    Case(
        "network.migration-networks-isolated",
        "any network",
        _set("migration.use_any_network", True),
        "warn",
        "any network",
    ),
    Case("network.migration-networks-isolated", "no network", _set("migration.networks", []), "fail", "no network"),
    Case("network.migration-subnets-match-addresses", "pass", None, "pass", "matches a local address"),
    Case(
        "network.migration-subnets-match-addresses",
        "stale",
        _set(
            "migration.networks", [{"subnet": "10.0.50.0/24", "priority": 0}, {"subnet": "10.9.9.0/24", "priority": 1}]
        ),
        "warn",
        "10.9.9.0/24",
    ),
    Case("network.shared-migration-subnet", "pass", None, "pass", "10.0.50.12"),
    Case(
        "network.shared-migration-subnet",
        "different subnets",
        _migration_subnet("10.0.60.0/24"),
        "fail",
        "accepts migrations on no address",
    ),
    Case("network.shared-migration-subnet", "V3: routed and reachable", _routed(True), "info", "routed"),
    Case("network.shared-migration-subnet", "routed, not reached", _routed(False), "warn", "network.port-6600"),
    Case("network.ipsec-rules", "none", None, "pass", "no enabled IPsec rule"),
    Case(
        "network.ipsec-rules",
        "rules shown",
        _set("network.ipsec", {"enabled_rules": ["Require auth 10.0.50.0/24"]}),
        "info",
        "Require auth 10.0.50.0/24",
    ),
    Case("network.not-management", "pass", None, "pass", "separate"),
    Case("network.not-management", "management", _migration_subnet("10.0.10.0/24"), "warn", "10.0.10.12"),
    Case("network.port-6600", "pass", None, "pass", "reaches TCP 6600 on 10.0.50.12"),
    Case(
        "network.port-6600",
        "P7: network firewall",
        _port_6600(("10.0.50.12", False)),
        "fail",
        "a firewall or route between HV01 and HV02 drops it",
        lacks="Enable-NetFirewallRule",
    ),
    Case(
        "network.port-6600",
        "P7: refused, migration disabled",
        _both(_port_refused, _set("migration.enabled", False)),
        "fail",
        "refused: live migration is disabled on HV02",
    ),
    Case(
        "network.port-6600",
        "P7: host rule disabled",
        _both(
            _port_6600(("10.0.50.12", False)),
            _set("network.migration_firewall_rule", {"present": True, "enabled": False}),
        ),
        "fail",
        "firewall rule Hyper-V (MIG-TCP-In) is disabled",
    ),
    Case("network.port-6600", "not tested", _port_6600(), "warn", "not tested"),
    Case("network.firewall-rule", "pass", None, "pass", "enabled on HV02"),
    Case(
        "network.firewall-rule",
        "V8: disabled but the port test succeeded",
        _set("network.migration_firewall_rule", {"present": True, "enabled": False}),
        "warn",
        "another rule, a GPO or another firewall allows it",
    ),
    Case(
        "network.firewall-rule",
        "disabled; the source reached only another host (facts saved from another pair)",
        _both(
            _set("network.migration_firewall_rule", {"present": True, "enabled": False}),
            _port_6600(("10.0.50.99", True)),
        ),
        "fail",
        "disabled on HV02",
    ),
    Case(
        "network.firewall-rule",
        "disabled and blocked",
        _both(
            _set("network.migration_firewall_rule", {"present": True, "enabled": False}),
            _port_6600(("10.0.50.12", False)),
        ),
        "fail",
        "disabled on HV02",
        lacks="DisplayName 'Hyper-V",
    ),
    Case(
        "network.firewall-rule",
        "missing",
        _both(
            _set("network.migration_firewall_rule", {"present": False, "enabled": None}),
            _port_6600(("10.0.50.12", False)),
        ),
        "fail",
        "missing on HV02",
    ),
    # vm
    Case("vm.exists-on-source", "pass", None, "pass", "SQL01 found"),
    Case("vm.exists-on-source", "typo", None, "fail", "no VM named 'SQL1'", vms=("SQL1",), lacks="did you swap"),
    Case("vm.exists-on-source", "swapped", None, "fail", "FILE03 is on HV02; did you swap SOURCE", vms=("file03",)),
    Case("vm.exists-on-source", "clustered", _vm("SQL01", is_clustered=True), "fail", "clustered"),
    Case("vm.exists-on-source", "none selected", None, "info", "SQL01, WEB02", vms=()),
    Case("vm.configuration-version", "pass", None, "pass", "version 10.0 is supported"),
    Case("vm.configuration-version", "too old for 2022", _vm("WEB02", version="7.0"), "fail", "Update-VMVersion"),
    Case("vm.configuration-version", "below 5.0", _vm("WEB02", version="4.0"), "fail", "at least 5.0"),
    Case(
        "vm.configuration-version",
        "too new",
        _set("migration.supported_vm_versions", ["5.0", "6.2", "7.0", "7.1", "8.0"]),
        "fail",
        "newer than anything",
    ),
    Case("vm.processor-compatibility", "pass", None, "pass", "same processor model"),
    Case(
        "vm.processor-compatibility", "vendor", _set("processor.manufacturer", "AuthenticAMD"), "fail", "AuthenticAMD"
    ),
    Case(
        "vm.processor-compatibility",
        "model",
        _set("processor.name", "Intel(R) Xeon(R) Gold 6430"),
        "warn",
        "cannot confirm",
    ),
    Case(
        "vm.processor-compatibility",
        "hyper-v could not judge",
        _both(
            _set("processor.name", "Intel(R) Xeon(R) Gold 6430"),
            _set(
                "compatibility",
                [
                    {
                        "vm": "SQL01",
                        "compatible": None,
                        "return_value": 32773,
                        "error": "CheckSystemCompatibilityInfo returned 32773",
                    }
                ],
            ),
        ),
        "warn",
        "verdict is missing (CheckSystemCompatibilityInfo on HV02: CheckSystemCompatibilityInfo returned 32773)",
        vms=("SQL01",),
    ),
    Case(
        "vm.processor-compatibility",
        "V6: VM off, other vendor",
        _both(_set("processor.manufacturer", "AuthenticAMD"), _vm("SQL01", state="Off")),
        "info",
        "needs no processor compatibility",
        vms=("SQL01",),
    ),
    Case(
        "vm.processor-compatibility",
        "VM off with checkpoints",
        _both(_set("processor.name", "AMD EPYC 9354"), _vm("SQL01", state="Off", checkpoint_count=2)),
        "warn",
        "checkpoint",
        vms=("SQL01",),
    ),
    Case(
        "vm.processor-compatibility",
        "model with compat",
        _both(
            _set("processor.name", "Intel(R) Xeon(R) Gold 6430"),
            _vm("SQL01", processor={"count": 4, "compatibility_for_migration": True}),
        ),
        "pass",
        "compatibility is on",
        vms=("SQL01",),
    ),
    Case("vm.switches-on-destination", "pass", None, "pass", "External-Prod"),
    Case(
        "vm.switches-on-destination",
        "missing",
        _set("switches", [{"name": "vSwitch", "switch_type": "External"}]),
        "fail",
        "'External-Prod' not present on HV02",
    ),
    Case("vm.destination-memory", "pass", None, "pass", "GiB free"),
    Case("vm.destination-memory", "short", _set("memory.available_bytes", 16 * 1024**3), "fail", "32.0 GiB"),
    Case("vm.destination-memory", "together", _set("memory.available_bytes", 36 * 1024**3), "warn", "one at a time"),
    Case("vm.storage-reachable", "pass", None, "pass", "every file is on \\\\fs01.corp.example\\vms"),
    Case("vm.storage-reachable", "V10: local parent of a shared disk", _local_parent, "fail", "D:\\Base\\w2022.vhdx"),
    Case("vm.storage-reachable", "parent chain unknown", _unknown_parent, "warn", "parents"),
    Case(
        "vm.storage-reachable",
        "checkpoints on a local path",
        _vm("SQL01", snapshot_file_location="C:\\ProgramData\\Microsoft\\Windows\\Hyper-V"),
        "fail",
        "C:\\ProgramData",
    ),
    Case("vm.storage-reachable", "local", _vm("WEB02", path="D:\\VMs\\WEB02"), "fail", "-IncludeStorage"),
    Case(
        "vm.storage-reachable",
        "local with storage",
        _vm("WEB02", path="D:\\VMs\\WEB02"),
        "pass",
        "moves with the VM",
        include_storage=True,
    ),
    Case("vm.storage-reachable", "local ISO", _dvd, "fail", "C:\\ISO\\SQL2019.iso"),
    Case("vm.destination-storage", "no storage move", None, "skip", "no --include-storage"),
    Case("vm.destination-storage", "fits", None, "pass", "fits on D:\\", include_storage=True),
    Case(
        "vm.destination-storage",
        "too big",
        _set("storage.volumes", [{"root": "D:\\", "free_bytes": 100 * 1024**3}]),
        "fail",
        "100 GiB free",
        include_storage=True,
    ),
    Case(
        "vm.destination-storage",
        "size unknown",
        _vm("SQL01", hard_drives=[{"path": "\\\\fs01\\vms\\SQL01.vhdx", "kind": "vhd", "size_bytes": None}]),
        "warn",
        "could not be read",
        vms=("SQL01",),
        include_storage=True,
    ),
    Case(
        "vm.destination-storage",
        "no volume",
        _set("storage.default_vhd_path", "E:\\VHD"),
        "fail",
        "E:\\VHD",
        include_storage=True,
    ),
    Case(
        "vm.processor-compatibility",
        "hyper-v says no",
        _set(
            "compatibility",
            [
                {
                    "vm": "SQL01",
                    "compatible": False,
                    "return_value": 32784,
                    "reasons": ["processor-specific features"],
                    "error": None,
                }
            ],
        ),
        "fail",
        "rejects it: processor-specific features",
    ),
    Case(
        "vm.processor-compatibility",
        "hyper-v says yes",
        _both(
            _set("processor.name", "Other"),
            _set(
                "compatibility", [{"vm": "SQL01", "compatible": True, "return_value": 0, "reasons": [], "error": None}]
            ),
        ),
        "pass",
        "accepts its processor state",
        vms=("SQL01",),
    ),
    Case(
        "vm.hyperv-rehearsal",
        "nothing in the way",
        _rehearsal(),
        "pass",
        "lists no incompatibilities",
        vms=("SQL01",),
    ),
    Case(
        "vm.hyperv-rehearsal",
        "missing switch",
        _rehearsal(
            incompatibilities=[{"message_id": 33012, "message": "Could not find Ethernet switch 'Production'."}]
        ),
        "fail",
        "33012: Could not find Ethernet switch 'Production'.",
        vms=("SQL01",),
    ),
    Case(
        "vm.hyperv-rehearsal",
        "kerberos without delegation",
        _rehearsal("No credentials are available in the security package (0x8009030E)."),
        "fail",
        "constrained delegation of HV01",
        vms=("SQL01",),
    ),
    Case(
        "vm.hyperv-rehearsal",
        "credssp from elsewhere",
        _both(
            _credssp,
            _rehearsal("No credentials are available in the security package (0x8009030E)."),
        ),
        "warn",
        "start the move in a session on HV01",
        vms=("SQL01",),
        move_from="remote",
    ),
    Case(
        "vm.hyperv-rehearsal",
        "credssp started on the source",
        _both(
            _credssp,
            _rehearsal("No credentials are available in the security package (0x8009030E)."),
        ),
        "info",
        "could not rehearse the move started on HV01",
        vms=("SQL01",),
        move_from="source",
    ),
    Case(
        "vm.hyperv-rehearsal",
        "no report",
        _rehearsal("The operation timed out."),
        "warn",
        "Compare-VM gave no report: The operation timed out.",
        vms=("SQL01",),
    ),
    Case("vm.hyperv-rehearsal", "not collected", None, "skip", "Compare-VM runs only in a live"),
    Case(
        "vm.hyperv-rehearsal",
        "VM not named when collected",
        _set("rehearsal", [], "source"),
        "skip",
        "Compare-VM did not run for SQL01: it runs for the VMs named with --vm",
        vms=("SQL01",),
    ),
    Case("vm.host-bound-devices", "pass", None, "pass", "no pass-through disks"),
    Case(
        "vm.host-bound-devices",
        "DDA",
        _vm("SQL01", assigned_devices=["PCIROOT(0)#PCI(0300)#PCI(0000)"]),
        "fail",
        "PCIROOT",
    ),
    Case(
        "vm.destination-storage",
        "V14: default path on a share, free space unknown",
        _set("storage.default_vhd_path", "\\\\fs02.corp.example\\vms\\disks"),
        "warn",
        "\\\\fs02.corp.example\\vms",
        include_storage=True,
    ),
    Case(
        "vm.destination-storage",
        "storage path on a share with room",
        _set("storage.shares", [{"path": "\\\\fs02.corp.example\\vms", "free_bytes": 4 * 1024**4}]),
        "pass",
        "fits on \\\\fs02.corp.example\\vms",
        storage_path="\\\\fs02.corp.example\\vms\\SQL01",
    ),
    Case(
        "vm.destination-storage",
        "storage path chosen",
        None,
        "fail",
        "E:\\VMs",
        storage_path="E:\\VMs",
    ),
    Case("vm.destination-storage", "root of a volume", None, "fail", "root of a volume", storage_path="D:\\"),
    Case(
        "vm.destination-storage",
        "differencing parents count",
        _both(
            _set("storage.volumes", [{"root": "D:\\", "free_bytes": 100 * 1024**3}]),
            _parents_size(80 * 1024**3),
        ),
        "fail",
        "140 GiB",
        vms=("SQL01",),
        include_storage=True,
    ),
    # new causes
    Case("vm.compute-fit", "pass", None, "pass", "fit HV02's 64 logical processors"),
    Case(
        "vm.compute-fit",
        "V15: 96 vCPUs on 64 LPs",
        _vm("SQL01", processor={"count": 96, "compatibility_for_migration": False}),
        "fail",
        "96 virtual processors; HV02 has 64",
        vms=("SQL01",),
    ),
    Case(
        "vm.compute-fit",
        "2025, no NUMA spanning",
        _numa_2025(spanning=False),
        "fail",
        "NUMA spanning is off",
        vms=("SQL01",),
    ),
    Case(
        "vm.compute-fit", "2025, NUMA spanning on", _numa_2025(spanning=True), "pass", "fit HV02's 64", vms=("SQL01",)
    ),
    Case("vm.compute-fit", "2022, no NUMA spanning", _numa_2022_off, "pass", "fit HV02's 64", vms=("SQL01",)),
    Case("vm.migratable-state", "pass", None, "pass", "Running"),
    Case("vm.migratable-state", "backing up", _vm("SQL01", status="Backing up"), "warn", "backing up"),
    Case("vm.migratable-state", "stopping", _vm("SQL01", state="Stopping"), "warn", "Stopping"),
    Case("vm.file-locations", "pass", None, "pass", "in folders"),
    Case(
        "vm.file-locations",
        "share root",
        _vm("SQL01", path="\\\\fs01.corp.example\\vms", configuration_location="\\\\fs01.corp.example\\vms"),
        "fail",
        "root of a volume or share",
    ),
    Case("vm.shared-disks", "pass", None, "pass", "no shared virtual disks"),
    Case("vm.shared-disks", "VHD Set", _shared_disk, "fail", "cannot be live-migrated"),
    Case("vm.fibre-channel-san", "pass", None, "pass", "no virtual Fibre Channel"),
    Case("vm.fibre-channel-san", "vSAN missing", _vm("SQL01", fibre_channel_sans=["Prod-SAN"]), "fail", "Prod-SAN"),
    Case(
        "vm.fibre-channel-san",
        "vSAN present",
        _both(_vm("SQL01", fibre_channel_sans=["Prod-SAN"]), _set("storage.virtual_sans", ["prod-san"])),
        "pass",
        "exist on the destination",
    ),
    Case("vm.gpu-partition", "pass", None, "pass", "no GPU partition"),
    Case(
        "vm.gpu-partition",
        "no outgoing live migration",
        _vm("SQL01", gpu_partitions=[{"instance_path": "GPU0", "supports_outgoing_live_migration": False}]),
        "fail",
        "do not support outgoing live migration",
    ),
    Case("vm.vtpm-key-protector", "no vTPM", None, "pass", "no virtual TPM"),
    Case("vm.vtpm-key-protector", "certificates missing", _vtpm(on_destination=False), "fail", "cannot unwrap"),
    Case(
        "vm.vtpm-key-protector", "certificates imported", _vtpm(on_destination=True), "pass", "holds its key protector"
    ),
    Case("vm.vtpm-key-protector", "unknown", _vm("SQL01", tpm_enabled=True), "warn", "could not be read"),
    Case("vm.shielded-destination", "not shielded", None, "pass", "not shielded"),
    Case("vm.shielded-destination", "unguarded destination", _vm("SQL01", shielded=True), "fail", "not a guarded host"),
    Case(
        "vm.shielded-destination",
        "attestation fails",
        _both(
            _vm("SQL01", shielded=True),
            _set("security.host_guarded", True),
            _set("security.attestation_status", "InsecureHostConfiguration"),
        ),
        "fail",
        "InsecureHostConfiguration",
    ),
    Case("vm.processor-compatibility-mode", "pass", None, "pass", "not in use"),
    Case(
        "vm.processor-compatibility-mode",
        "common cluster feature set",
        _vm(
            "SQL01",
            processor={
                "count": 4,
                "compatibility_for_migration": True,
                "compatibility_mode": "CommonClusterFeatureSet",
            },
        ),
        "warn",
        "MinimumFeatureSet",
        vms=("SQL01",),
    ),
]


def _reverse_blocked(source: Doc, destination: Doc) -> None:
    destination["network"]["port_tests"] = [
        {"address": "10.0.50.11", "port": 6600, "succeeded": False, "detail": "timed out"}
    ]


CASES.append(Case("network.port-6600", "reverse blocked", _reverse_blocked, "warn", "moving back will fail"))


def _dc_silent(source: Doc, destination: Doc) -> None:
    destination["directory"] = None
    destination["errors"] = [
        {
            "section": "directory",
            "message": "no domain controller of corp.example accepted an "
            "LDAP connection with StartTLS: dc01.corp.example: timed out",
            "hint": None,
        }
    ]


CASES.append(Case("domain.dc-discovery", "DC published but silent", _dc_silent, "warn", "none answered"))

from tests.checks.identity_cases import IDENTITY_CASES  # noqa: E402

CASES += IDENTITY_CASES

from tests.checks.resolver_cases import RESOLVER_CASES  # noqa: E402

CASES += RESOLVER_CASES

from tests.checks.firewall_cases import FIREWALL_CASES  # noqa: E402

CASES += FIREWALL_CASES
