"""Scenario files: YAML descriptions of hosts, VMs, networks, directory, clocks and faults.

A scenario may ``extends:`` another (by built-in name or by path); mappings merge
recursively, anything else replaces. VMs are written as a mapping keyed by name so a
scenario can change one VM of its parent. Everything is validated on load, with errors
that name the file and the field. See docs/lab.md for the format.
"""

from __future__ import annotations

import copy
import re
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from lmpreflight.errors import UserError
from lmpreflight.facts.model import HOST_SECTIONS, HostFacts, Trust
from lmpreflight.facts.validation import describe_validation_error
from lmpreflight.lab.fleet import expand_fleet

BUILTIN = resources.files("lmpreflight.lab") / "scenarios"
DEFAULT_SCENARIO = "broken-upgrade"
Fault = Literal["unreachable", "hang", "garbage", "drop", "noisy", "constrained-language"]


class SpecModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Account(SpecModel):
    """A computer object in the lab's directory."""

    service_principal_names: list[str] = Field(default_factory=list)
    allowed_to_delegate_to: list[str] = Field(default_factory=list)
    user_account_control: int = 4096
    ou: str = "OU=Hyper-V"
    allowed_to_act_from: list[str] = Field(
        default_factory=list,
        description="Hosts allowed to delegate to this account (resource-based constrained delegation)",
    )


class ExtraAccount(SpecModel):
    name: str
    service_principal_names: list[str] = Field(default_factory=list)
    ou: str = "OU=Servers"


class DomainSpec(SpecModel):
    netbios: str
    dc: str
    dc_clock_offset: float = 0.0
    trusts: list[Trust] = Field(default_factory=list)
    users: dict[str, str] = Field(default_factory=dict, description="user name → password")
    extra_accounts: list[ExtraAccount] = Field(default_factory=list)
    publish_srv: bool = True
    forest: str | None = Field(default=None, description="The forest root domain (default: this domain)")
    protected_users: list[str] = Field(default_factory=list, description="Users in Protected Users")
    sensitive_users: list[str] = Field(default_factory=list, description="Users that 'cannot be delegated'")


class Event(SpecModel):
    """A Hyper-V event the host's logs hold (for diagnose)."""

    id: int
    channel: str = "Microsoft-Windows-Hyper-V-VMMS-Admin"
    level: Literal["Error", "Warning", "Information"] = "Error"
    minutes_ago: float = 30.0
    message: str


class DnsChange(SpecModel):
    name: str
    type: Literal["A", "PTR", "SRV"]
    values: list[str] = Field(default_factory=list, description="Empty removes the records")


class ResolverSpec(SpecModel):
    """How the host's own resolver and DC locator differ from the lab's DNS (by default they agree)."""

    hosts_file: dict[str, list[str]] = Field(
        default_factory=dict, description="Entries of the host's hosts file: name → addresses (they win over DNS)"
    )
    dns_changes: list[DnsChange] = Field(
        default_factory=list,
        description="What the host's own DNS servers answer differently from the lab's DNS (A and SRV records)",
    )
    site: str = Field("Default-First-Site-Name", description="The AD site the host is in")
    dc_site: str | None = Field(None, description="The site of the DC its locator finds (default: the host's own)")


class HostSpec(SpecModel):
    role: Literal["source", "destination", "other"] = "other"
    domain: str
    fault: Fault | None = None
    clock_offset: float = 0.0
    section_errors: dict[str, str] = Field(default_factory=dict)
    account: Account | None = None
    blocked_ports: list[int] = Field(default_factory=list, description="Inbound TCP ports this host's firewall drops")
    allowed_ports: list[int] = Field(
        default_factory=list,
        description="Inbound TCP ports another rule (a GPO, a third-party firewall) allows even without the built-in rule",
    )
    collapse_single_arrays: bool = Field(
        False,
        description="Serialise every one-item array, at any depth, as its bare item. Off by default: the collector stores every array "
        "as a hashtable value, which PowerShell 5.1's ConvertTo-Json keeps an array (PowerShell/PowerShell#5579); "
        "the parser still tolerates it",
    )
    events: list[Event] = Field(default_factory=list)
    winrm_faults: dict[Literal["busy_send", "busy_receive", "timeout_send"], int] = Field(
        default_factory=dict,
        description="How many of the first Sends/Receives the host's WinRM turns away (busy, or timed out)",
    )
    dns_name: str | None = Field(
        None, description="The host's name in DNS and AD when it reports another (a host lying about itself)"
    )
    resolver: ResolverSpec = Field(default_factory=ResolverSpec)
    replay: str | None = Field(
        None,
        description="A folder written by '--record' for this host: its WinRM answers the collector with the "
        "recorded stdout and stderr instead of these facts (DNS and LDAP still come from them)",
    )
    facts: dict[str, Any]


class NetworkBlock(SpecModel):
    source: str = Field(alias="from")
    address: str
    port: int


class ClientSpec(SpecModel):
    user: str
    password: str
    transport: Literal["ntlm", "basic"] = "ntlm"


class Expectation(SpecModel):
    verdict: Literal["ready", "not-ready", "incomplete"]
    non_passing: list[str] = Field(description="Check ids with a warn, fail or error result")
    diagnosis: list[str] = Field(
        default_factory=list, description="For scenarios with events: the top cause of each incident, oldest first"
    )


def _no_control_characters(name: str) -> str:
    if any(ord(ch) < 0x20 or 0x7F <= ord(ch) < 0xA0 for ch in name):
        raise ValueError(f"a VM name with a control character ({name!r}) cannot be passed to a host")
    return name


class Scenario(SpecModel):
    name: str
    summary: str
    vms: list[Annotated[str, AfterValidator(_no_control_characters)]] = Field(
        default_factory=list, description="The VMs to check (--vm) in the demo and tests"
    )
    demo: Literal["check", "plan"] = Field(
        default="check", description="What 'demo' runs: 'check' of the source and destination, or 'plan --all-pairs'"
    )
    include_storage: bool = False
    move_from: Literal["source", "remote"] | None = Field(
        default=None, description="Where the move will be started (--move-from); default: as the guide says"
    )
    storage_path: str | None = Field(default=None, description="The destination storage path (--storage-path)")
    domains: dict[str, DomainSpec]
    hosts: dict[str, HostSpec]
    client: ClientSpec
    dns_changes: list[DnsChange] = Field(default_factory=list)
    network_blocks: list[NetworkBlock] = Field(default_factory=list)
    expect: Expectation | None = None

    def role(self, role: str) -> str:
        return next(name for name, host in self.hosts.items() if host.role == role)

    def host_facts(self, name: str) -> dict[str, Any]:
        """The host's facts sections in collector form (VMs as a list)."""
        facts = copy.deepcopy(self.hosts[name].facts)
        if isinstance(facts.get("vms"), dict):
            facts["vms"] = [{"name": vm_name, **vm} for vm_name, vm in facts["vms"].items()]
        return facts


def builtin_names() -> list[str]:
    return sorted(
        p.name.removesuffix(".yaml")
        for p in BUILTIN.iterdir()
        if p.name.endswith(".yaml") and not p.name.startswith("_")
    )


def _is_file(path: Path) -> bool:
    """Whether ``path`` names a file; a name the system cannot even look up names none."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def _read(reference: str, relative_to: Path | None) -> tuple[dict[str, Any], str, Path | None]:
    path = Path(reference)
    if relative_to is not None and not path.is_absolute() and _is_file(relative_to / path):
        path = relative_to / path
    if path.suffix in (".yaml", ".yml") and _is_file(path):
        try:
            text, label, folder = path.read_text(encoding="utf-8"), str(path), path.parent
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"scenario {path}: cannot read it ({exc})") from None
    else:
        builtin = BUILTIN / f"{reference}.yaml"
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", reference) or not builtin.is_file():
            raise UserError(
                f"no scenario '{reference}': not a file, and not a built-in one ({', '.join(builtin_names())})"
            )
        text, label, folder = builtin.read_text(encoding="utf-8"), f"{reference} (built-in)", None
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserError(f"scenario {label}: not valid YAML: {str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise UserError(f"scenario {label}: nested too deeply to be a scenario") from None
    except ValueError as exc:  # a date YAML recognises but the calendar has not (2026-13-45)
        raise UserError(f"scenario {label}: not a valid date: {exc}") from None
    if not isinstance(document, dict):
        raise UserError(f"scenario {label}: expected a mapping at the top level")
    return document, label, folder


def merge(base: Any, change: Any) -> Any:
    if isinstance(base, dict) and isinstance(change, dict):
        merged = dict(base)
        for key, value in change.items():
            merged[key] = merge(base.get(key), value) if key in base else value
        return merged
    return copy.deepcopy(change)


MAX_EXTENDS = 16
"""Levels of ``extends:``; real scenarios use one or two."""


def _resolve(reference: str, relative_to: Path | None, seen: tuple[str, ...]) -> tuple[dict[str, Any], str]:
    document, label, folder = _read(reference, relative_to)
    parent = document.pop("extends", None)
    if parent is None:
        return document, label
    if parent in seen:
        raise UserError(f"scenario {label}: 'extends' loops back to {parent}")
    if len(seen) >= MAX_EXTENDS:
        raise UserError(f"scenario {label}: more than {MAX_EXTENDS} levels of 'extends'")
    base, _ = _resolve(str(parent), folder, (*seen, str(parent)))
    return merge(base, document), label


def load_scenario(reference: str) -> Scenario:
    """A built-in scenario by name, or a YAML file by path; validated, or one clear error."""
    document, label = _resolve(reference, None, (reference,))
    if "generate" in document:
        document = expand_fleet(document, label)
    try:
        scenario = Scenario.model_validate(document)
    except ValidationError as exc:
        raise UserError(f"scenario {label}: {describe_validation_error(exc)}") from None
    roles = [host.role for host in scenario.hosts.values()]
    if roles.count("source") != 1 or roles.count("destination") != 1:
        raise UserError(f"scenario {label}: exactly one host must have role source and one role destination")
    for name, host in scenario.hosts.items():
        if host.domain not in scenario.domains:
            raise UserError(f"scenario {label}: hosts.{name}.domain: '{host.domain}' is not in domains")
        _validate_facts(label, name, scenario)
    return scenario


def _validate_facts(label: str, name: str, scenario: Scenario) -> None:
    facts = scenario.host_facts(name)
    unknown = set(facts) - set(HOST_SECTIONS)
    if unknown:
        raise UserError(
            f"scenario {label}: hosts.{name}.facts.{sorted(unknown)[0]}: not a host fact section "
            f"({', '.join(HOST_SECTIONS)})"
        )
    sample = {
        "collected_at": "2026-01-01T00:00:00Z",
        "collector": {"method": "lab", "tool_version": "0", "run_from": "lab"},
        "target": name,
        **{k: v for k, v in facts.items() if k != "clock"},
    }
    try:
        HostFacts.model_validate(sample)
    except ValidationError as exc:
        # VMs are written as a mapping keyed by name: name them that way in the error.
        vm_names = [vm["name"] for vm in facts.get("vms") or [] if isinstance(vm, dict)]
        problem = re.sub(r"^vms\[(\d+)\]", lambda m: f"vms.{vm_names[int(m.group(1))]}", describe_validation_error(exc))
        raise UserError(f"scenario {label}: hosts.{name}.facts.{problem}") from None
