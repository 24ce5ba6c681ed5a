"""The facts of one Hyper-V host: what collection produced and what checks read.

Every section is optional. ``None`` means *could not be collected*, and the reason is
then recorded in :attr:`HostFacts.errors` under the section's name; an empty list or
``False`` is a real observation. Checks never have to guess which of the two they see.

Enum-like values are carried as the names Windows uses (``"Kerberos"``, ``"SMB"``),
never as the integers Windows PowerShell 5.1's ``ConvertTo-Json`` emits: the collector
projects them to strings so that nothing downstream depends on serialiser quirks.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Hashable
from datetime import datetime
from functools import cached_property, lru_cache
from typing import Annotated, Any, Literal, Self, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1
"""Bump when a field changes meaning or a required field is added."""

HOST_SECTIONS = (
    "identity",
    "os",
    "domain",
    "hyperv",
    "migration",
    "network",
    "switches",
    "vms",
    "memory",
    "processor",
    "session",
    "security",
    "storage",
    "clock",
    "resolver",
)
"""Sections the collector reads on the host itself; the tool adds ``directory`` (LDAP) and ``dns``."""
WHOLE_HOST = "winrm"
"""The section name of an error that cost every host-collected section (the host could not be reached)."""


class FactModel(BaseModel):
    """Base for all fact records: immutable and strict about unknown fields, so typos in
    hand-written or edited fact files are reported instead of silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __copy__(self) -> Self:
        """A copy without the cached views (``cached_property`` values, kept beside the fields in
        ``__dict__``): ``model_copy(update=...)`` copies that dict and then changes fields, and a
        view worked out from the old fields would go on answering for the new ones."""
        copied = super().__copy__()
        fields = type(self).model_fields
        for name in [name for name in copied.__dict__ if name not in fields]:
            del copied.__dict__[name]
        return copied

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as what it holds, rebuilt by one call: a fleet's collection workers send every
        host's facts (some 140 records a host) up a pipe, and pydantic's own pickling (a state
        dictionary per record, set again through ``__setstate__``) costs a fifth more of both
        sides' CPU."""
        return _unpickled, (
            type(self),
            self.__dict__,
            self.__pydantic_fields_set__,
            self.__pydantic_extra__,
            self.__pydantic_private__,
        )


def _unpickled(
    cls: type[FactModel], values: dict[str, Any], fields_set: set[str], extra: Any, private: Any
) -> FactModel:
    """A record as :meth:`FactModel.__reduce__` pickled it, not validated again (it was when made)."""
    record = object.__new__(cls)
    object.__setattr__(record, "__dict__", values)
    object.__setattr__(record, "__pydantic_fields_set__", fields_set)
    object.__setattr__(record, "__pydantic_extra__", extra)
    object.__setattr__(record, "__pydantic_private__", private)
    return record


_T = TypeVar("_T")

_LINE_BREAKS_AND_CONTROLS = re.compile("[\x01-\x1f\x85\u2028\u2029]")
"""C0 control characters (NUL has its own message) and the Unicode line breaks: one search in
C finds the first of them, where a look at each character in Python cost a name a microsecond."""


def _one_line(value: str) -> str:
    """Windows allows no control character in a computer, adapter or switch name, and a VM name
    holding a line break could start a new line in a terminal, report or script: a name like
    that is a corrupt or hostile fact file, refused when it loads."""
    bad = _LINE_BREAKS_AND_CONTROLS.search(value)
    if bad is not None:
        raise ValueError(f"a line break or control character (U+{ord(bad.group()):04X}) is not allowed in a name")
    return value


def _plain_text(value: _T) -> _T:
    """No Windows name holds a NUL or half a UTF-16 pair; either in a fact file is corruption,
    refused at the door (it could not be written back as JSON). Every text field of every fact
    passes here (a directory's SPN lists run to hundreds of names), so text that is plainly
    fine, ASCII without a NUL, is passed in one look at it all. It is a check of the text types
    below, each field's last, not a validator of every field: a fleet host's facts have some
    900 fields, and calling it for the numbers, flags and records among them cost a fifth of
    parsing the host."""
    joined: str
    if isinstance(value, str):
        texts: list[object] = [value]
        joined = value
    elif isinstance(value, list):
        texts = value
        try:
            joined = "".join(value)
        except TypeError:  # not all text: each item on its own
            joined = "\x00"
    else:
        return value  # neither text nor a list of it
    if joined.isascii() and "\x00" not in joined:
        return value
    for text in texts:
        if isinstance(text, str):
            if "\x00" in text:
                raise ValueError("a NUL character is not allowed")
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("not valid Unicode text (a lone surrogate)") from None
    return value


_PLAIN = AfterValidator(_plain_text)
Text = Annotated[str, _PLAIN]
"""Text in a fact: no NUL, no lone surrogate."""
Texts = Annotated[list[str], _PLAIN]
"""A list of text in a fact, checked as a whole (an error names the field, not an item)."""


def _plain_line(value: str) -> str:
    """A name is checked by :func:`_one_line`, then :func:`_plain_text`, in one validator: a
    call from the validator into Python costs more than either check of a short name."""
    return _plain_text(_one_line(value))


Name = Annotated[str, AfterValidator(_plain_line)]
"""A name shown to the user and written into reports and scripts: one line, no control characters."""


AuthType = Literal["CredSSP", "Kerberos"]
PerformanceOption = Literal["TCPIP", "Compression", "SMB"]
TrustDirection = Literal["Inbound", "Outbound", "Bidirectional", "Disabled"]


class CollectionError(FactModel):
    """Why a section (a dotted path such as ``migration`` or ``directory.computer``) is missing."""

    section: Text
    message: Text
    hint: Text | None = None


class CollectorInfo(FactModel):
    method: Literal["winrm", "offline-script", "lab", "example"]
    tool_version: Text
    run_from: Text = Field(description="Host name of the machine the tool (or script) ran on")
    user: Text | None = Field(default=None, description="Account the collection authenticated as")


class Identity(FactModel):
    computer_name: Name
    fqdn: Name
    addresses: Texts = Field(default_factory=list)


class OsInfo(FactModel):
    caption: Text
    version: Text
    build: int
    product_type: int | None = None


class DomainMembership(FactModel):
    part_of_domain: bool
    domain: Text
    domain_role: int | None = None
    secure_channel_ok: bool | None = Field(default=None, description="Test-ComputerSecureChannel result")
    secure_channel_error: Text | None = None


class HyperVInfo(FactModel):
    role_installed: bool
    role_install_state: Text | None = None
    module_installed: bool
    vmms_status: Text | None = Field(default=None, description="Service status of vmms, e.g. 'Running'")
    vmms_start_type: Text | None = None


def _network(value: str) -> str:
    ipaddress.ip_network(value, strict=False)
    return value


def _address(value: str) -> str:
    ipaddress.ip_address(value)
    return value


Subnet = Annotated[str, AfterValidator(_network), _PLAIN]
"""A CIDR subnet or a bare address, as Add-VMMigrationNetwork accepts (an IPv6 one's zone may be any text)."""
_BareAddress = Annotated[str, AfterValidator(_address)]
Address = Annotated[_BareAddress, _PLAIN]
Addresses = Annotated[list[_BareAddress], _PLAIN]


class MigrationNetwork(FactModel):
    subnet: Subnet
    priority: int | None = None


class MigrationSettings(FactModel):
    enabled: bool
    authentication_type: AuthType
    performance_option: PerformanceOption
    maximum_migrations: int
    maximum_storage_migrations: int | None = None
    use_any_network: bool
    networks: list[MigrationNetwork] = Field(default_factory=list)
    supported_vm_versions: Texts = Field(default_factory=list)
    default_vm_version: Text | None = None


class IpAddress(FactModel):
    address: Address
    prefix_length: int = Field(ge=0, le=128)


class NetAdapter(FactModel):
    name: Name
    addresses: list[IpAddress] = Field(default_factory=list)
    default_gateway: Text | None = None
    rdma_enabled: bool | None = None
    is_management: bool = Field(
        default=False,
        description="Carries the address the tool resolved the host's name to (live), else the host's default route",
    )
    mtu: int | None = Field(
        default=None, description="Active MTU in bytes (Get-NetAdapter ActiveMaximumTransmissionUnit)"
    )
    network_category: Literal["Public", "Private", "DomainAuthenticated"] | None = Field(
        default=None,
        description="The adapter's connection profile (Get-NetConnectionProfile NetworkCategory): which firewall "
        "profile applies to its traffic; unknown in older facts",
    )


class SmbSettings(FactModel):
    """The host's SMB server settings that slow or change SMB-based live migration
    (Get-SmbServerConfiguration): signing and encryption cost SMB Direct its offload."""

    signing_required: bool | None = None
    encryption_required: bool | None = None


class IpsecRules(FactModel):
    """Enabled IPsec connection-security rules (Get-NetIPsecRule); shown for information only."""

    enabled_rules: Texts = Field(default_factory=list)


FIREWALL_PROFILES = ("Domain", "Private", "Public")
CATEGORY_PROFILE = {"DomainAuthenticated": "Domain", "Private": "Private", "Public": "Public"}
"""The firewall profile that applies to an adapter of each network category."""


class FirewallProfile(FactModel):
    name: Text = Field(description="Domain, Private or Public")
    enabled: bool


class FirewallRule(FactModel):
    present: bool
    enabled: bool | None = None
    store: Text | None = Field(
        default=None,
        description="Policy store read: ActiveStore is the resultant policy (GPO included); absent in older facts "
        "(PersistentStore, local rules only)",
    )
    profiles: list[FirewallProfile] | None = Field(
        default=None, description="Firewall profiles in the active store and whether each is on"
    )
    rule_profiles: Text | None = Field(
        default=None,
        description="The profiles the rule is assigned to, as Windows prints its Profile flags: 'Any', or e.g. "
        "'Domain, Private'; unknown in older facts",
    )

    def applies_to(self) -> frozenset[str] | None:
        """The firewall profiles (Domain, Private, Public) the rule covers; None when unknown."""
        if self.rule_profiles is None:
            return None
        names = {part.strip().casefold() for part in self.rule_profiles.split(",") if part.strip()}
        if "any" in names:
            return frozenset(FIREWALL_PROFILES)
        return frozenset(p for p in FIREWALL_PROFILES if p.casefold() in names)


PortOutcome = Literal["connected", "refused", "timed-out", "unreachable", "error"]
"""How a TCP connection attempt ended, from the Winsock error the host saw:
connected; refused (WSAECONNREFUSED 10061: the peer answered with a reset, nothing listens or a
firewall rejects); timed-out (no answer at all: a silent drop, or no route back); unreachable
(WSAEHOSTUNREACH/WSAENETUNREACH: the host had no route); error (anything else, see ``detail``)."""


class PortTest(FactModel):
    """A TCP connection attempt made by this host itself (never by the tool)."""

    address: Address
    port: int
    succeeded: bool
    outcome: PortOutcome | None = Field(
        default=None, description="How the attempt ended; absent in facts from collectors that did not record it"
    )
    source_address: Address | None = Field(
        default=None,
        description="The host's own address the attempt left from: the socket's local end once connected, "
        "else the source address Find-NetRoute picks for the target",
    )
    detail: Text | None = None

    @model_validator(mode="after")
    def _outcome_matches(self) -> PortTest:
        if self.outcome is not None and self.succeeded != (self.outcome == "connected"):
            raise ValueError(f"succeeded={self.succeeded} contradicts outcome {self.outcome!r}")
        return self


class NetworkFacts(FactModel):
    adapters: list[NetAdapter] = Field(default_factory=list)
    migration_firewall_rule: FirewallRule | None = None
    port_tests: list[PortTest] = Field(default_factory=list)
    smb: SmbSettings | None = None
    ipsec: IpsecRules | None = None

    @cached_property
    def interfaces(self) -> tuple[tuple[str, int], ...]:
        """Every adapter's addresses with their prefix lengths, in order: gathered once, as the
        hashable key the address helpers cache their answers under (a fleet asks for every pair)."""
        return tuple((a.address, a.prefix_length) for adapter in self.adapters for a in adapter.addresses)

    @cached_property
    def subnets(self) -> tuple[tuple[int, int, int], ...]:
        """The subnet of each of :attr:`interfaces` as its IP version, network address and netmask
        in integers, worked out once per host: a fleet asks for every pair whether the peer's
        addresses lie on one, always about other addresses, so a cache of answers by host and
        address would not hit; an address lies on one when its bits masked are the network's."""
        networks = (ipaddress.ip_interface(f"{address}/{length}").network for address, length in self.interfaces)
        return tuple((network.version, int(network.network_address), int(network.netmask)) for network in networks)

    @cached_property
    def port_tests_by_port(self) -> dict[int, dict[str, PortTest]]:
        """The port tests by port, then by address (the last test of an address counts): looked
        up for every pair a fleet judges, not searched."""
        tests: dict[int, dict[str, PortTest]] = {}
        for test in self.port_tests:
            tests.setdefault(test.port, {})[test.address] = test
        return tests


class VirtualSwitch(FactModel):
    name: Name
    switch_type: Literal["External", "Internal", "Private"]


class VmProcessor(FactModel):
    count: int
    compatibility_for_migration: bool
    compatibility_mode: Text | None = Field(
        default=None,
        description="CompatibilityForMigrationMode on Windows Server 2025: MinimumFeatureSet or CommonClusterFeatureSet",
    )


class VmMemory(FactModel):
    startup_bytes: int
    dynamic: bool
    minimum_bytes: int | None = None
    maximum_bytes: int | None = None
    assigned_bytes: int | None = None


class VmNetworkAdapter(FactModel):
    name: Name
    switch_name: Name | None = None


class VmDisk(FactModel):
    path: Text | None
    kind: Literal["vhd", "passthrough", "iso"] = "vhd"
    size_bytes: int | None = Field(default=None, description="Size of the file on disk (what a storage move copies)")
    parent_paths: Texts | None = Field(
        default=None, description="The differencing chain above this disk, nearest parent first (Get-VHD ParentPath)"
    )
    parents_size_bytes: int | None = Field(default=None, description="Size on disk of every parent in the chain")
    shared: bool | None = Field(
        default=None, description="Shared VHDX or VHD Set (SupportPersistentReservations): only for guest clusters"
    )


class GpuPartition(FactModel):
    """A GPU partition adapter (Get-VMGpuPartitionAdapter)."""

    instance_path: Text | None = None
    supports_outgoing_live_migration: bool | None = None


class VmKeyProtector(FactModel):
    """The guardians of a vTPM VM's key protector (ConvertTo-HgsKeyProtector of Get-VMKeyProtector)."""

    owner_thumbprints: Texts = Field(
        default_factory=list, description="Thumbprints of the owner guardian's signing and encryption certificates"
    )


class VirtualMachine(FactModel):
    name: Name
    id: Text
    state: Text
    version: Text
    generation: int
    is_clustered: bool
    path: Text
    processor: VmProcessor
    memory: VmMemory
    network_adapters: list[VmNetworkAdapter] = Field(default_factory=list)
    hard_drives: list[VmDisk] = Field(default_factory=list)
    dvd_drives: list[VmDisk] = Field(default_factory=list)
    assigned_devices: Texts = Field(default_factory=list, description="Discrete Device Assignment locations")
    tpm_enabled: bool = False
    shielded: bool | None = None
    key_protector: VmKeyProtector | None = Field(
        default=None, description="For vTPM VMs: whose certificates unwrap the key protector"
    )
    status: Text | None = Field(default=None, description="Get-VM Status, e.g. 'Operating normally', 'Backing up'")
    checkpoint_count: int | None = None
    configuration_location: Text | None = None
    snapshot_file_location: Text | None = None
    smart_paging_file_path: Text | None = None
    fibre_channel_sans: Texts | None = Field(default=None, description="Virtual SAN names of the VM's vFC adapters")
    gpu_partitions: list[GpuPartition] | None = None
    compatibility_info: Text | None = Field(
        default=None,
        description="Base64 of Msvm_VirtualSystemMigrationService.GetSystemCompatibilityInfo (an opaque blob), "
        "for the VMs named in the run; the peer host checks it",
    )


class HyperVMessage(FactModel):
    """One reason Hyper-V gave, read from an embedded Msvm_Error instance."""

    message_id: Text | None = None
    message: Text


class CompatibilityVerdict(FactModel):
    """Hyper-V's own answer on this host (CheckSystemCompatibilityInfo) for a VM of the peer host.

    ``compatible`` is True for return value 0 and False only for 32784 ("Not compatible");
    any other return value is an ``error`` with ``compatible`` None: no verdict."""

    vm: Text
    compatible: bool | None
    return_value: int | None = None
    reasons: Texts = Field(
        default_factory=list, description="Readable reasons (Msvm_VirtualSystemManagementService.FormatError)"
    )
    reason_instances: Texts = Field(
        default_factory=list, description="The embedded Msvm_Error instances exactly as Hyper-V returned them"
    )
    reason_messages: list[HyperVMessage] = Field(
        default_factory=list, description="MessageID and Message of each embedded Msvm_Error"
    )
    error: Text | None = None


class Incompatibility(FactModel):
    """One entry of Compare-VM's VMCompatibilityReport.Incompatibilities."""

    message_id: int | None = Field(default=None, description="MessageId, e.g. 33012 for a missing switch")
    message: Text


class Rehearsal(FactModel):
    """Compare-VM run on the source for a selected VM against the destination: Hyper-V's own
    dry run of the move, over the same authentication path as a move started remotely."""

    vm: Text
    destination: Text
    include_storage: bool = False
    incompatibilities: list[Incompatibility] = Field(default_factory=list)
    error: Text | None = Field(default=None, description="Why Compare-VM gave no report (its exception message)")


class Volume(FactModel):
    root: Text
    free_bytes: int


class ShareSpace(FactModel):
    """Free space behind a UNC path the host can open (a storage path on an SMB share)."""

    path: Text
    free_bytes: int | None = None
    error: Text | None = None


class StorageFacts(FactModel):
    default_vm_path: Text | None = None
    default_vhd_path: Text | None = None
    volumes: list[Volume] = Field(default_factory=list)
    shares: list[ShareSpace] = Field(
        default_factory=list, description="Free space of the UNC storage paths this host was asked about"
    )
    virtual_sans: Texts | None = Field(default=None, description="Names of the host's virtual SANs (Get-VMSan)")


class HostMemory(FactModel):
    total_bytes: int
    available_bytes: int


class NumaNode(FactModel):
    node_id: int
    logical_processors: int
    memory_available_bytes: int | None = None


class HostProcessor(FactModel):
    manufacturer: Text
    name: Text
    logical_processors: int | None = None
    numa_spanning_enabled: bool | None = Field(default=None, description="Get-VMHost NumaSpanningEnabled")
    numa_nodes: list[NumaNode] | None = Field(default=None, description="Get-VMHostNumaNode")


class ClockFacts(FactModel):
    """The host's clock against the tool's clock, read in the same round trip."""

    host_utc: datetime
    observer_utc: datetime = Field(description="Clock of the machine running the tool when the host answered")
    time_source: Text | None = None

    @cached_property
    def offset_seconds(self) -> float:
        """Worked out once: a fleet compares every host's offset with every other host's."""
        return (self.host_utc - self.observer_utc).total_seconds()


class SessionFacts(FactModel):
    """Who the collection ran as on this host, and with which rights."""

    user: Text
    is_administrator: bool
    is_hyperv_administrator: bool


class SecurityFacts(FactModel):
    credential_guard_running: bool | None = None
    host_guarded: bool | None = Field(default=None, description="Get-HgsClientConfiguration IsHostGuarded")
    attestation_status: Text | None = Field(default=None, description="Get-HgsClientConfiguration AttestationStatus")
    shielded_vm_certificates: Texts | None = Field(
        default=None,
        description="Thumbprints in the 'Shielded VM Local Certificates' store (the untrusted guardian's keys)",
    )
    credssp_encryption_oracle: int | None = Field(
        default=None, description="AllowEncryptionOracle policy value (CredSSP patch level); information only"
    )


class ComputerAccount(FactModel):
    distinguished_name: Text
    sam_account_name: Text
    dns_host_name: Text | None = None
    service_principal_names: Texts = Field(default_factory=list)
    allowed_to_delegate_to: Texts = Field(default_factory=list)
    user_account_control: int
    object_sid: Text | None = None
    allowed_to_act: Texts | None = Field(
        default=None,
        description="SIDs in msDS-AllowedToActOnBehalfOfOtherIdentity: who may delegate to this account "
        "(resource-based constrained delegation); None when not read",
    )

    @cached_property
    def folded_delegation_targets(self) -> frozenset[str]:
        """``allowed_to_delegate_to`` casefolded, to test membership without regard to case. The
        list runs to hundreds of SPNs, and a fleet asks about it for every pair: folded once."""
        return frozenset(spn.casefold() for spn in self.allowed_to_delegate_to)

    @cached_property
    def folded_spns(self) -> frozenset[str]:
        """``service_principal_names`` casefolded, once (as :attr:`folded_delegation_targets`)."""
        return frozenset(spn.casefold() for spn in self.service_principal_names)


class SpnHolder(FactModel):
    spn: Text
    holders: Texts = Field(description="Distinguished names of every account holding the SPN")


class Trust(FactModel):
    partner: Text
    direction: TrustDirection
    trust_type: Text = Field(description="ParentChild, TreeRoot, Forest, External, ...")
    transitive: bool
    selective_authentication: bool | None = Field(
        default=None, description="trustAttributes 0x10: users must be 'Allowed to authenticate' on each computer"
    )


class UserAccount(FactModel):
    """The account lmpreflight authenticated as: the one expected to start the move."""

    sam_account_name: Text
    sensitive: bool = Field(description="'Account is sensitive and cannot be delegated' (userAccountControl 0x100000)")
    protected_users: bool | None = Field(default=None, description="Member of Protected Users (RID 525)")


class DirectoryFacts(FactModel):
    """What Active Directory says about this host; read by the tool over LDAP, not on the host."""

    domain_dns_name: Text
    domain_controller: Text
    forest: Text | None = Field(default=None, description="DNS name of the forest root domain")
    computer: ComputerAccount | None = None
    user: UserAccount | None = None
    migration_spn_holders: list[SpnHolder] = Field(default_factory=list)
    spn_search_scope: Literal["forest", "domain"] | None = Field(
        default=None,
        description="Where the SPN holders were searched: the forest's Global Catalog, or only the host's "
        "domain when no Global Catalog answered (unknown in older files)",
    )
    trusts: list[Trust] = Field(default_factory=list)
    dc_utc: datetime | None = None
    observer_utc: datetime | None = None


class DnsRecord(FactModel):
    name: Text
    addresses: Texts = Field(default_factory=list)
    error: Text | None = None


class ReverseRecord(FactModel):
    address: Text
    names: Texts = Field(default_factory=list)
    error: Text | None = None


class SrvTarget(FactModel):
    target: Text
    port: int


class DnsFacts(FactModel):
    server: Text
    forward: list[DnsRecord] = Field(default_factory=list)
    reverse: list[ReverseRecord] = Field(default_factory=list)
    dc_srv: list[SrvTarget] = Field(default_factory=list)
    dc_srv_error: Text | None = None


class NameLookup(FactModel):
    """One name as the host's own resolver answers it (Resolve-DnsName with its defaults: the DNS
    client cache, the hosts file, the host's DNS servers and, for single labels, LLMNR and
    NetBIOS): what the host connects to when a move names that host."""

    name: Name
    addresses: Addresses = Field(default_factory=list)
    error: Text | None = Field(default=None, description="Resolve-DnsName's error when the name did not resolve")


class DcLocator(FactModel):
    """The domain controller the host's DC locator hands out (``nltest /dsgetdc:<domain>``, read
    from its output): the DC its Kerberos and Netlogon talk to."""

    domain: Text = Field(description="The domain asked for (the host's own)")
    exit_code: int | None = None
    domain_controller: Text | None = Field(default=None, description="DC: without the leading backslashes")
    address: Text | None = Field(default=None, description="Address: without the leading backslashes")
    domain_name: Text | None = Field(default=None, description="Dom Name: (DNS or NetBIOS form)")
    forest: Text | None = Field(default=None, description="Forest Name:")
    dc_site: Text | None = Field(default=None, description="Dc Site Name: the DC's site")
    client_site: Text | None = Field(default=None, description="Our Site Name: the host's own site")
    flags: Texts = Field(default_factory=list, description="Flags: e.g. GC DS LDAP KDC WRITABLE CLOSE_SITE")
    status: int | None = Field(default=None, description="The Win32 status of a failed lookup, e.g. 1355")
    error: Text | None = Field(
        default=None, description="Why no DC came back: nltest's failure line, or output that could not be read"
    )
    output: Texts = Field(default_factory=list, description="nltest's output as printed (stdout and stderr)")

    @property
    def found(self) -> bool:
        return self.error is None and self.domain_controller is not None


class ResolverFacts(FactModel):
    """The host's own view of names and domain controllers, beside the tool's (``dns``): a
    stale record, a hosts-file entry or a different DNS server on the host is seen only here."""

    peer_names: list[NameLookup] = Field(
        default_factory=list,
        description="The peer host's names as this host resolves them; empty when the collection was not told the "
        "peer (a single-host collect, an offline script run without -Peer)",
    )
    dc_locator: DcLocator | None = Field(
        default=None, description="The host's DC locator answer; None when the host is not domain-joined"
    )


class EventRecord(FactModel):
    """One Hyper-V event from the host's logs (for diagnosing failed moves)."""

    time_created: datetime
    id: int
    provider: Text
    channel: Text
    level: Text = Field(description="Critical, Error, Warning or Information")
    computer: Text | None = None
    message: Text = ""


def short_host_name(name: str) -> str:
    """The name people use for a host: the first label of its DNS name, upper case (HV01); an
    address typed for a host with nothing else known is its own name (its first octet would
    name every host of 10.0.0.0/8 alike, "10")."""
    typed = name.strip().rstrip(".")
    if is_address(typed):
        return typed.strip("[]")
    return typed.split(".")[0].upper()


@lru_cache(maxsize=4096)
def is_address(text: str) -> bool:
    """Whether a name as typed (an IPv6 one possibly in brackets) is an IP address, not a name.
    Cached: a fleet asks it of every host's name for every pair, and a name that is no address
    costs a raised and caught exception."""
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


class HostFacts(FactModel):
    """Everything known about one host. Written by ``collect``, read by ``analyze``."""

    schema_version: int = Field(SCHEMA_VERSION, description="Version of this document's shape")
    collected_at: datetime
    collector: CollectorInfo
    target: Text = Field(description="The host name the user gave")
    identity: Identity | None = None
    os: OsInfo | None = None
    domain: DomainMembership | None = None
    hyperv: HyperVInfo | None = None
    migration: MigrationSettings | None = None
    network: NetworkFacts | None = None
    switches: list[VirtualSwitch] | None = None
    vms: list[VirtualMachine] | None = None
    memory: HostMemory | None = None
    processor: HostProcessor | None = None
    clock: ClockFacts | None = None
    session: SessionFacts | None = None
    security: SecurityFacts | None = None
    storage: StorageFacts | None = None
    compatibility: list[CompatibilityVerdict] | None = Field(
        default=None, description="Hyper-V's verdicts on this host for the peer's VMs (collected with `check` only)"
    )
    rehearsal: list[Rehearsal] | None = Field(
        default=None,
        description="Compare-VM on this host (the source) against the destination for each selected VM "
        "(collected with `check` only)",
    )
    directory: DirectoryFacts | None = None
    dns: DnsFacts | None = None
    events: list[EventRecord] | None = Field(
        default=None, description="Hyper-V events of the window asked for (collected by `diagnose` only)"
    )
    resolver: ResolverFacts | None = Field(
        default=None,
        description="The host's own name resolution of its peer and its DC locator answer (absent in facts from "
        "collectors before it was read)",
    )
    errors: list[CollectionError] = Field(default_factory=list)

    @cached_property
    def name(self) -> str:
        """The short name people use for this host (worked out once: every finding of a fleet's
        pairs names its hosts)."""
        if self.identity is not None:
            return self.identity.computer_name
        return short_host_name(self.target)

    @cached_property
    def full_name(self) -> str:
        """The name to give Windows for this host where Kerberos is used (a WinRM session, Move-VM
        or Compare-VM -DestinationHost, a delegation entry): a DNS name, never an address while
        one is known. Windows does not try Kerberos for a host named by an IP address (it falls
        back to NTLM: https://learn.microsoft.com/windows-server/security/kerberos/configuring-kerberos-over-ip),
        and the host's SPNs are registered for its DNS names. So: the FQDN the host reports (its
        SPNs carry it), else its computer account's dNSHostName (what AD holds its SPNs under),
        else the name typed when it is a DNS name, else its short name (Hyper-V registers an SPN
        for that too); the typed address only when the facts know the host by nothing else."""
        typed = self.target.strip().rstrip(".")
        reported = self.identity.fqdn if self.identity is not None else None
        account = self.directory.computer if self.directory is not None else None
        for name in (reported, account.dns_host_name if account is not None else None, typed):
            if name and "." in name and not is_address(name):
                return name
        return self.name

    def error_for(self, path: str) -> CollectionError | None:
        """The recorded error for a fact path or for the nearest section above it."""
        if not self.errors:  # most hosts: asked for every VM, answered without taking the path apart
            return None
        parts = path.split(".")
        for depth in range(len(parts), 0, -1):
            error = self.errors_by_section.get(".".join(parts[:depth]))
            if error is not None:
                return error
        if parts[0] in HOST_SECTIONS:
            return self.whole_host_error
        return None

    @cached_property
    def errors_by_section(self) -> dict[str, CollectionError]:
        """The first error recorded for each section: :meth:`error_for` is asked for every VM
        and check, and a hostile host may record an error for each of thousands of VMs."""
        index: dict[str, CollectionError] = {}
        for error in self.errors:
            index.setdefault(error.section, error)
        return index

    @property
    def whole_host_error(self) -> CollectionError | None:
        """Set when nothing could be collected on the host itself (unreachable, bad password, ...)."""
        return self.errors_by_section.get(WHOLE_HOST)

    def vm(self, name: str) -> VirtualMachine | None:
        return self.vms_by_name.get(name.casefold())

    @cached_property
    def compatibility_by_vm(self) -> dict[str, CompatibilityVerdict]:
        """Hyper-V's verdicts by casefolded VM name (the last of any two for one VM): looked up
        for each of thousands of VMs, not built again for each."""
        return {verdict.vm.casefold(): verdict for verdict in self.compatibility or []}

    @cached_property
    def rehearsal_by_vm(self) -> dict[str, Rehearsal]:
        """Compare-VM's dry runs by casefolded VM name (the last of any two for one VM), as
        :attr:`compatibility_by_vm`."""
        return {rehearsal.vm.casefold(): rehearsal for rehearsal in self.rehearsal or []}

    @cached_property
    def own_views(self) -> dict[Hashable, Any]:
        """What checks work out from this host's facts alone, by the work that made it, then its
        arguments (:func:`lmpreflight.checks._helpers.own_view`): a fleet judges each host
        against every other, and its own half of a comparison (its findings about itself, its
        names as a set, ...) stays the same for every peer. Like the other cached views, it is
        left behind when the facts are copied."""
        return {}

    @cached_property
    def vms_by_name(self) -> dict[str, VirtualMachine]:
        """The VMs by casefolded name (the first of any two that differ only in case): a fleet
        run looks VMs up for every check, VM and pair."""
        index: dict[str, VirtualMachine] = {}
        for vm in self.vms or []:
            index.setdefault(vm.name.casefold(), vm)
        return index
