"""Generated fleets: N lab hosts from one template, for ``plan`` demos, tests and benchmarks.

A scenario says ``generate: {hosts: N, vms_per_host: K, problems: true}``; its first host
(as written, or inherited from ``_base``) is the template. Every generated host gets its
own name, addresses on shared /16 management and migration networks, a computer account
with its SPNs and constrained delegation to every other host, and K VMs. With
``problems``, a fixed share of hosts carries a problem a drain meets in real estates, so
the placement matrix has every kind of cell:

| hosts (by number) | problem | a VM moving there is |
|---|---|---|
| n % 10 == 5 | the 'Hyper-V (MIG-TCP-In)' firewall rule is disabled | ready after fixes |
| n % 15 == 11 | live migration is disabled | ready after fixes |
| n % 9 == 4 | AMD processors (the others are Intel) | blocked |
| n % 12 == 7 | Windows Server 2019 (configuration versions up to 9.0) | blocked for 10.0 VMs |
| the last host, with 6 or more | WinRM connection refused | unknown |
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lmpreflight.errors import UserError
from lmpreflight.facts.validation import describe_validation_error

DOMAIN_SPNS = ("Microsoft Virtual System Migration Service", "cifs")
OWN_SPNS = (
    "Microsoft Virtual System Migration Service",
    "Microsoft Virtual Console Service",
    "Hyper-V Replica Service",
    "HOST",
    "WSMAN",
)
MANAGEMENT_NET = "10.10"
MIGRATION_NET = "10.50"
NAMESPACE = uuid.UUID("5b1f6a52-4c8e-4a7e-9d0e-6c2f51a0f1e4")
WS2019_OS: dict[str, Any] = {
    "caption": "Microsoft Windows Server 2019 Datacenter",
    "version": "10.0.17763",
    "build": 17763,
    "product_type": 3,
}
WS2019_VM_VERSIONS = ["5.0", "6.2", "7.0", "7.1", "8.0", "8.1", "8.2", "8.3", "9.0"]
AMD = {"manufacturer": "AuthenticAMD", "name": "AMD EPYC 7543 32-Core Processor"}


class FleetSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    hosts: int = Field(ge=2, le=5000)
    vms_per_host: int = Field(default=2, ge=0, le=100)
    problems: bool = True


def host_name(number: int) -> str:
    return f"HV{number:03d}"


def _addresses(number: int) -> tuple[str, str]:
    third, fourth = divmod(number, 250)
    return f"{MANAGEMENT_NET}.{third}.{fourth + 1}", f"{MIGRATION_NET}.{third}.{fourth + 1}"


def expand_fleet(document: dict[str, Any], label: str) -> dict[str, Any]:
    """The scenario document with ``generate`` replaced by the generated hosts."""
    try:
        spec = FleetSpec.model_validate(document.pop("generate"))
    except ValidationError as exc:
        raise UserError(f"scenario {label}: generate.{describe_validation_error(exc)}") from None
    hosts = document.get("hosts") or {}
    if not hosts:
        raise UserError(f"scenario {label}: generate needs a host to copy (hosts: or extends:)")
    template = next(iter(hosts.values()))
    domain = template["domain"]
    names = [host_name(number) for number in range(1, spec.hosts + 1)]
    document["hosts"] = {
        name: _host(template, number, names, domain, spec) for number, name in enumerate(names, start=1)
    }
    return document


def _host(template: dict[str, Any], number: int, names: list[str], domain: str, spec: FleetSpec) -> dict[str, Any]:
    name = names[number - 1]
    fqdn = f"{name.lower()}.{domain}"
    management, migration = _addresses(number)
    host = copy.deepcopy(template)
    host["role"] = {1: "source", 2: "destination"}.get(number, "other")
    others = [other for other in names if other != name]
    host["account"] = {
        **host.get("account", {}),
        "service_principal_names": [f"{s}/{n}" for s in OWN_SPNS for n in (name, fqdn)],
        "allowed_to_delegate_to": [
            f"{s}/{n}" for other in others for s in DOMAIN_SPNS for n in (other, f"{other.lower()}.{domain}")
        ],
    }
    facts = host["facts"]
    facts["identity"] = {"computer_name": name, "fqdn": fqdn, "addresses": [management, migration]}
    adapters = facts["network"]["adapters"]
    facts["network"]["adapters"] = [
        {**adapters[0], "addresses": [{"address": management, "prefix_length": 16}], "default_gateway": "10.10.0.1"},
        {**adapters[1], "addresses": [{"address": migration, "prefix_length": 16}], "default_gateway": None},
    ]
    facts["migration"]["networks"] = [{"subnet": f"{MIGRATION_NET}.0.0/16", "priority": 0}]
    facts["vms"] = _vms(template["facts"]["vms"], name, spec.vms_per_host)
    if spec.problems:
        _add_problem(host, number, len(names))
    return host


def _vms(template_vms: dict[str, Any], host: str, count: int) -> dict[str, Any]:
    """``count`` VMs modelled on the template's last VM; odd ones at version 10.0, even at 9.0."""
    model = list(template_vms.values())[-1]
    vms = {}
    for index in range(1, count + 1):
        vm_name = f"{host}-VM{index:02d}"
        vm = copy.deepcopy(model)
        vm["id"] = str(uuid.uuid5(NAMESPACE, vm_name))
        vm["version"] = "10.0" if index % 2 else "9.0"
        vm["path"] = f"\\\\fs01.corp.example\\vms\\{vm_name}"
        vm["hard_drives"] = [
            {**drive, "path": f"\\\\fs01.corp.example\\vms\\{vm_name}\\{vm_name}.vhdx"} for drive in vm["hard_drives"]
        ]
        vms[vm_name] = vm
    return vms


def _add_problem(host: dict[str, Any], number: int, size: int) -> None:
    facts = host["facts"]
    if number == size and size >= 6:
        host["fault"] = "unreachable"
    elif number % 10 == 5:
        facts["network"]["migration_firewall_rule"] = {"present": True, "enabled": False}
    elif number % 15 == 11:
        facts["migration"]["enabled"] = False
    elif number % 9 == 4:
        facts["processor"] = {**facts["processor"], **AMD}
    elif number % 12 == 7:
        facts["os"] = dict(WS2019_OS)
        facts["migration"]["supported_vm_versions"] = list(WS2019_VM_VERSIONS)
        facts["migration"]["default_vm_version"] = WS2019_VM_VERSIONS[-1]
        for vm in facts["vms"].values():  # a 2019 host runs nothing newer than 9.0
            vm["version"] = "9.0"
