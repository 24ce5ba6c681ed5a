"""Pass and fail cases for every built-in check, as changes to the healthy example pair.

Each case names the check, what is changed, the VMs selected, the status the check must
report and a piece of text its message must contain (the concrete values it saw).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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


def _credssp(source: Doc, destination: Doc) -> None:
    source["migration"]["authentication_type"] = "CredSSP"
    destination["migration"]["authentication_type"] = "CredSSP"


def _credssp_from_source(source: Doc, destination: Doc) -> None:
    _credssp(source, destination)
    source["collector"]["run_from"] = "HV01.corp.example"


def _other_domain(source: Doc, destination: Doc) -> None:
    destination["domain"]["domain"] = "lab.example"
    destination["directory"]["domain_dns_name"] = "lab.example"


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


CASES: list[Case] = [
    # domain
    Case("domain.members", "pass", None, "pass", "member of corp.example"),
    Case("domain.members", "workgroup", _set("domain.part_of_domain", False), "fail", "not domain-joined"),
    Case("domain.same-or-trusted", "same domain", None, "pass", "both hosts are in corp.example"),
    Case("domain.same-or-trusted", "two-way trust, Kerberos", _trust("Bidirectional"), "warn", "resource-based"),
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
    Case("hyperv.os-pair-supported", "2016 to 2022", _set("os.build", 14393, "source"), "warn", "2016 → 2022"),
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
    Case("hyperv.performance-option", "SMB blocked", _smb(blocked=True), "fail", "TCP 445 is blocked to 10.0.50.12"),
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
    Case("delegation.spns-to-source", "pass", None, "pass", "delegate back"),
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
    Case("delegation.name-resolution", "pass", None, "pass", "agree in DNS"),
    Case(
        "delegation.name-resolution",
        "wrong PTR",
        _set("dns.reverse", [{"address": "10.0.10.12", "names": ["old-hv.corp.example."], "error": None}]),
        "warn",
        "old-hv.corp.example",
    ),
    Case(
        "delegation.name-resolution",
        "wrong A",
        _set("dns.forward", [{"name": "hv02.corp.example", "addresses": ["10.0.10.99"], "error": None}]),
        "warn",
        "10.0.10.99",
    ),
    # credssp
    Case("credssp.start-on-source", "kerberos", None, "skip", "Kerberos"),
    Case("credssp.start-on-source", "from a workstation", _credssp, "fail", "0x8009030E"),
    Case("credssp.start-on-source", "from the source", _credssp_from_source, "pass", "this run came from HV01"),
    Case("credssp.credential-guard", "off", _credssp, "pass", "Credential Guard is off"),
    Case(
        "credssp.credential-guard",
        "on",
        _both(_credssp, _set("security.credential_guard_running", True, "source")),
        "fail",
        "Credential Guard is running",
    ),
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
    Case("network.not-management", "pass", None, "pass", "separate"),
    Case("network.not-management", "management", _migration_subnet("10.0.10.0/24"), "warn", "10.0.10.12"),
    Case("network.port-6600", "pass", None, "pass", "reaches TCP 6600 on 10.0.50.12"),
    Case(
        "network.port-6600", "blocked", _port_6600(("10.0.50.12", False)), "fail", "cannot reach TCP 6600 on 10.0.50.12"
    ),
    Case("network.port-6600", "not tested", _port_6600(), "warn", "not tested"),
    Case("network.firewall-rule", "pass", None, "pass", "enabled on HV02"),
    Case(
        "network.firewall-rule",
        "disabled",
        _set("network.migration_firewall_rule", {"present": True, "enabled": False}),
        "fail",
        "disabled on HV02",
    ),
    Case(
        "network.firewall-rule",
        "missing",
        _set("network.migration_firewall_rule", {"present": False, "enabled": None}),
        "fail",
        "missing on HV02",
    ),
    # vm
    Case("vm.exists-on-source", "pass", None, "pass", "SQL01 found"),
    Case("vm.exists-on-source", "typo", None, "fail", "no VM named 'SQL1'", vms=("SQL1",)),
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
        "model with compat",
        _both(
            _set("processor.name", "Intel(R) Xeon(R) Gold 6430"),
            _vm("SQL01", processor={"count": 4, "compatibility_for_migration": True}),
        ),
        "pass",
        "compatibility mode on",
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
    Case("vm.storage-reachable", "pass", None, "pass", "shared storage"),
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
    Case("vm.host-bound-devices", "pass", None, "pass", "no host-bound"),
    Case(
        "vm.host-bound-devices",
        "DDA",
        _vm("SQL01", assigned_devices=["PCIROOT(0)#PCI(0300)#PCI(0000)"]),
        "fail",
        "PCIROOT",
    ),
    Case("vm.host-bound-devices", "vTPM", _vm("SQL01", tpm_enabled=True), "warn", "virtual TPM"),
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
