"""Hyper-V on each host: role, service, module, OS pair, live-migration settings, rights."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lmpreflight.checks._helpers import (
    CLIENT_HYPERV,
    SETUP_GUIDE,
    TROUBLESHOOT_GUIDE,
    USE_GUIDE,
    VM_VERSION_GUIDE,
    both_hosts,
)
from lmpreflight.escape import ps_literal
from lmpreflight.facts.model import HostFacts
from lmpreflight.facts.windows import SMB_PORT
from lmpreflight.registry import check
from lmpreflight.vocabulary import (
    Category,
    Context,
    Finding,
    FixStep,
    PathPart,
    Remediation,
    Severity,
    failed,
    host_step,
    info,
    passed,
    subject_host,
    warned,
)

RUN_ON_EACH = "each host that fails, in an elevated PowerShell session"

# Windows Server builds by release (Win32_OperatingSystem.BuildNumber).
OS_RELEASES = {9600: "2012 R2", 14393: "2016", 17763: "2019", 20348: "2022", 26100: "2025"}
OLDEST_BUILD = 9600
WORKSTATION = 1
"""Win32_OperatingSystem.ProductType of a client Windows (2 is a domain controller, 3 a server)."""
ONLY_VERSION_5 = ("2012 R2",)
"""Releases whose VMs are all configuration version 5.0, which 2022 and later no longer run."""
NO_VERSION_5 = ("2022", "2025")


@check(
    id="hyperv.role-installed",
    title="Hyper-V role installed on both hosts",
    category=Category.HYPERV,
    severity=Severity.CRITICAL,
    needs=("hosts.hyperv",),
    remediation=Remediation(
        text="Install the Hyper-V role with its management tools, then restart the host.",
        powershell="Install-WindowsFeature -Name Hyper-V -IncludeManagementTools -Restart",
        run_on=RUN_ON_EACH,
    ),
    fix=host_step(
        "Install the Hyper-V role (a restart follows; plan it)",
        "-not (Get-WindowsFeature -Name Hyper-V).Installed",
        "Install-WindowsFeature -Name Hyper-V -IncludeManagementTools",
    ),
    references=(
        SETUP_GUIDE,
        "https://learn.microsoft.com/windows-server/virtualization/hyper-v/get-started/install-hyper-v",
    ),
    quotes_destination=True,
)
def role_installed(context: Context) -> Iterator[Finding]:
    """Live migration is a service of the Hyper-V Virtual Machine Management Service (vmms).
    Without the role there is nothing to receive or send a VM, and every other Hyper-V
    setting is meaningless.
    Source: the setup guide's requirements; Install Hyper-V."""
    for role, host in both_hosts(context):
        hyperv = context.required(role).hyperv
        if hyperv.role_installed:
            yield passed(
                f"Hyper-V role is installed on {host.name}",
                role,
                evidence={"install_state": hyperv.role_install_state},
            )
        else:
            yield failed(
                f"Hyper-V role is not installed on {host.name} (install state: {hyperv.role_install_state or 'unknown'})",
                role,
                evidence={"install_state": hyperv.role_install_state},
            )


@check(
    id="hyperv.vmms-running",
    title="Virtual Machine Management Service (vmms) running on both hosts",
    category=Category.HYPERV,
    severity=Severity.CRITICAL,
    needs=("hosts.hyperv",),
    remediation=Remediation(
        text="Start the Hyper-V Virtual Machine Management service and set it to start automatically.",
        powershell="Set-Service -Name vmms -StartupType Automatic; Start-Service -Name vmms",
        run_on=RUN_ON_EACH,
    ),
    fix=host_step(
        "Start vmms and start it automatically",
        "(Get-Service -Name vmms).Status -ne 'Running'",
        "Set-Service -Name vmms -StartupType Automatic; Start-Service -Name vmms",
    ),
    references=(TROUBLESHOOT_GUIDE,),
    quotes_destination=True,
)
def vmms_running(context: Context) -> Iterator[Finding]:
    """vmms owns the migration listener on TCP 6600 and performs the move. A stopped service
    refuses incoming migrations (0x8007274D) and cannot start outgoing ones.
    Source: the live-migration troubleshooting article (0x8007274D)."""
    for role, host in both_hosts(context):
        hyperv = context.required(role).hyperv
        if not hyperv.role_installed:
            yield info(f"vmms not checked on {host.name}: the Hyper-V role is not installed", role)
        elif hyperv.vmms_status == "Running":
            yield passed(f"vmms is running on {host.name}", role, evidence={"status": hyperv.vmms_status})
        else:
            yield failed(
                f"vmms is {hyperv.vmms_status or 'absent'} on {host.name}",
                role,
                evidence={"status": hyperv.vmms_status, "start_type": hyperv.vmms_start_type},
            )


@check(
    id="hyperv.module-present",
    title="Hyper-V PowerShell module present on both hosts",
    category=Category.HYPERV,
    severity=Severity.MEDIUM,
    needs=("hosts.hyperv",),
    remediation=Remediation(
        text="Install the Hyper-V PowerShell module (part of the management tools).",
        powershell="Install-WindowsFeature -Name Hyper-V-PowerShell",
        run_on=RUN_ON_EACH,
    ),
    fix=host_step(
        "Install the Hyper-V PowerShell module",
        "-not (Get-Module -ListAvailable -Name Hyper-V)",
        "Install-WindowsFeature -Name Hyper-V-PowerShell",
    ),
    references=(USE_GUIDE,),
    quotes_destination=True,
)
def module_present(context: Context) -> Iterator[Finding]:
    """Move-VM, Compare-VM and every fix this tool suggests are Hyper-V module cmdlets;
    without the module the host's own settings cannot even be read.
    Source: the move guide (Move-VM)."""
    for role, host in both_hosts(context):
        hyperv = context.required(role).hyperv
        if hyperv.module_installed:
            yield passed(f"Hyper-V module present on {host.name}", role)
        else:
            yield failed(f"Hyper-V PowerShell module is missing on {host.name}", role)


@check(
    id="hyperv.os-pair-supported",
    title="Both hosts run Windows Server 2012 R2 or later (client Hyper-V has no live migration)",
    category=Category.HYPERV,
    severity=Severity.HIGH,
    needs=("hosts.os",),
    remediation=Remediation(
        text=(
            "Live migration runs between Windows Server hosts of 2012 R2 and later; what a pair can move is "
            "decided by the VM configuration versions each host runs (see vm.configuration-version)."
        ),
    ),
    references=(SETUP_GUIDE, VM_VERSION_GUIDE, CLIENT_HYPERV),
    quotes_destination=True,
)
def os_pair_supported(context: Context) -> Iterator[Finding]:
    """The setup guide (revised 2025) says: "You can run a live migration between hosts running
    Windows Server 2012 R2 and later." The limit of a pair is the VM configuration version: a
    2012 R2 host runs only version 5.0, which Windows Server 2022 and 2025 no longer run, and a
    move to an older release works only for VM versions that release runs (the VM version
    table). Client Hyper-V (Windows 10/11) has no live migration at all."""
    hosts = []
    for role, host in both_hosts(context):
        os_info = context.required(role).os
        if os_info.product_type == WORKSTATION:
            yield failed(
                f"{host.name} runs {os_info.caption}: client Hyper-V has no live migration",
                role,
                fix=Remediation(
                    text="Move between Windows Server hosts; from a client, export the VM and import it instead."
                ),
                evidence={"caption": os_info.caption, "product_type": os_info.product_type},
            )
            return
        if os_info.build < OLDEST_BUILD:
            yield failed(
                f"{host.name} runs {os_info.caption} (build {os_info.build}): live migration without a cluster "
                "needs Windows Server 2012 R2 or later",
                role,
                evidence={"caption": os_info.caption, "build": os_info.build},
            )
            return
        hosts.append((host, os_info))
    (source, source_os), (dest, dest_os) = hosts
    source_release = OS_RELEASES.get(source_os.build, f"build {source_os.build}")
    dest_release = OS_RELEASES.get(dest_os.build, f"build {dest_os.build}")
    evidence = {
        "source": source_os.caption,
        "source_build": source_os.build,
        "destination": dest_os.caption,
        "destination_build": dest_os.build,
    }
    if source_release in ONLY_VERSION_5 and dest_release in NO_VERSION_5:
        yield failed(
            f"Windows Server {source_release} → {dest_release}: {source.name}'s VMs are configuration version 5.0, "
            f"which {dest.name} does not run; move through a 2016 or 2019 host and upgrade the VM version there",
            evidence=evidence,
        )
    elif dest_os.build < source_os.build:
        yield warned(
            f"moving down from Windows Server {source_release} to {dest_release}: only VMs whose configuration "
            f"version {dest.name} runs can move (an upgraded VM cannot go back)",
            fix=Remediation(
                text=f"Compare each VM's version with what {dest.name} runs before moving it.",
                powershell="Get-VM | Format-Table Name, Version; Get-VMHostSupportedVersion",
                run_on=f"{source.name} (Get-VM) and {dest.name} (Get-VMHostSupportedVersion)",
            ),
            evidence=evidence,
        )
    else:
        yield passed(
            f"Windows Server {source_release} → {dest_release}: supported (2012 R2 and later); "
            "each VM's configuration version decides",
            evidence=evidence,
        )


@check(
    id="hyperv.migration-enabled",
    title="Live migration enabled on both hosts",
    category=Category.HYPERV,
    severity=Severity.CRITICAL,
    needs=("hosts.migration",),
    remediation=Remediation(
        text="Enable incoming and outgoing live migrations (Hyper-V Settings > Live Migrations).",
        powershell="Enable-VMMigration",
        run_on=RUN_ON_EACH,
    ),
    fix=host_step(
        "Enable incoming and outgoing live migrations",
        "-not (Get-VMHost).VirtualMachineMigrationEnabled",
        "Enable-VMMigration",
    ),
    references=(SETUP_GUIDE,),
    quotes_destination=True,
)
def migration_enabled(context: Context) -> Iterator[Finding]:
    """With live migration disabled, a host neither accepts incoming nor starts outgoing
    moves: the destination refuses the connection (0x8007274D) or the source refuses to start.
    Source: the setup guide (enable incoming and outgoing live migrations)."""
    for role, host in both_hosts(context):
        migration = context.required(role).migration
        if migration.enabled:
            yield passed(f"live migration is enabled on {host.name}", role, evidence={"enabled": True})
        else:
            yield failed(f"live migration is disabled on {host.name}", role, evidence={"enabled": False})


@dataclass(frozen=True)
class AuthenticationEvidence:
    source: str
    destination: str


def _use_source_authentication(finding: Finding, host: HostFacts) -> FixStep:
    wanted = finding.evidence_as(AuthenticationEvidence).source
    return FixStep(
        "destination",
        f"Use the source's live-migration authentication ({wanted})",
        f"[string](Get-VMHost).VirtualMachineMigrationAuthenticationType -ne {ps_literal(wanted)}",
        f"Set-VMHost -VirtualMachineMigrationAuthenticationType {ps_literal(wanted)}",
    )


@check(
    id="hyperv.auth-type-consistent",
    title="Both hosts use the same live-migration authentication protocol",
    category=Category.HYPERV,
    severity=Severity.HIGH,
    needs=("hosts.migration",),
    remediation=Remediation(
        text=(
            "Choose one protocol for both hosts. Kerberos (with constrained delegation) lets moves start from "
            "anywhere; CredSSP needs no AD change but the move must be started in a session on the source."
        ),
        powershell="Set-VMHost -VirtualMachineMigrationAuthenticationType Kerberos",
        run_on="the host whose setting differs",
    ),
    fix=_use_source_authentication,
    shows_on=(PathPart.FORWARD_AUTH, PathPart.REVERSE_AUTH),
    references=(SETUP_GUIDE,),
    quotes_destination=True,
)
def auth_type_consistent(context: Context) -> Iterator[Finding]:
    """The source authenticates to the destination's vmms with its own configured protocol
    and the destination accepts only its own. A CredSSP host and a Kerberos host cannot
    authenticate each other's migration connections, in either direction.
    Source: the setup guide (repeat the steps on the other server)."""
    source = context.required("source").migration
    dest = context.required("destination").migration
    evidence = AuthenticationEvidence(source.authentication_type, dest.authentication_type)
    if source.authentication_type == dest.authentication_type:
        yield passed(f"both hosts use {source.authentication_type}", evidence=evidence)
    else:
        yield failed(
            f"{context.source.name} uses {source.authentication_type} but {context.destination.name} uses {dest.authentication_type}",
            fix=Remediation(
                text=f"Set {context.destination.name} to {source.authentication_type} (or both to Kerberos).",
                powershell=f"Set-VMHost -ComputerName {ps_literal(context.destination.name)} -VirtualMachineMigrationAuthenticationType {source.authentication_type}",
                run_on=f"{context.destination.name} (or any host with the Hyper-V module, as an administrator)",
            ),
            evidence=evidence,
        )


@check(
    id="hyperv.simultaneous-migrations",
    title="Simultaneous live migrations allowed",
    category=Category.HYPERV,
    severity=Severity.LOW,
    needs=("hosts.migration",),
    remediation=Remediation(
        text="Allow at least one simultaneous live migration (the default is 2).",
        powershell="Set-VMHost -MaximumVirtualMachineMigrations 2",
        run_on=RUN_ON_EACH,
    ),
    fix=host_step(
        "Allow two simultaneous live migrations (the default)",
        "(Get-VMHost).MaximumVirtualMachineMigrations -lt 1",
        "Set-VMHost -MaximumVirtualMachineMigrations 2",
    ),
    references=(SETUP_GUIDE, TROUBLESHOOT_GUIDE),
    quotes_destination=True,
)
def simultaneous_migrations(context: Context) -> Iterator[Finding]:
    """Each host queues moves beyond its limit and fails them with event 21501 ("migration
    limit was reached"); a limit of zero blocks every move, and a very high one lets a host
    drain saturate the migration network.
    Source: the setup guide; the live-migration troubleshooting article (event 21501)."""
    for role, host in both_hosts(context):
        limit = context.required(role).migration.maximum_migrations
        if limit < 1:
            yield failed(f"{host.name} allows {limit} simultaneous live migrations", role, evidence={"maximum": limit})
        elif limit > 8:
            yield warned(
                f"{host.name} allows {limit} simultaneous live migrations; a drain may saturate the network",
                role,
                evidence={"maximum": limit},
            )
        else:
            yield passed(
                f"{host.name} allows {limit} simultaneous live migration(s)",
                role,
                evidence={"maximum": limit},
            )


SMB_DIRECT = "https://learn.microsoft.com/windows-server/storage/file-server/smb-direct"
SMB_SIGNING = "https://learn.microsoft.com/windows-server/storage/file-server/smb-signing-overview"
SMB_FIREWALL_RULE = "FPS-SMB-In-TCP"
"""Name (not the localized display name) of the built-in 'File and Printer Sharing (SMB-In)' rule."""


@check(
    id="hyperv.performance-option",
    title="Live-migration performance option and what it needs",
    category=Category.HYPERV,
    severity=Severity.MEDIUM,
    needs=("source.migration", "destination.migration"),
    remediation=Remediation(
        text="Choose the performance option that suits the network: Compression (default), SMB for RDMA networks.",
        powershell="Set-VMHost -VirtualMachineMigrationPerformanceOption Compression",
        run_on="the source host",
    ),
    references=(SETUP_GUIDE, SMB_DIRECT, SMB_SIGNING),
    quotes_destination=True,
)
def performance_option(context: Context) -> Iterator[Finding]:
    """The source's performance option decides how memory travels (setup guide). Compression
    spends CPU on both hosts to save bandwidth; TCPIP sends raw memory; SMB uses SMB 3 and needs
    TCP 445 to the destination. SMB Direct is used only when both ends have RDMA, and SMB signing
    or encryption (signing is required by default on Windows Server 2025) takes the RDMA offload
    away, so SMB then performs like plain TCP."""
    source = context.required("source").migration
    option = source.performance_option
    if option != "SMB":
        meaning = (
            "memory is compressed before it travels over TCP 6600: extra CPU on both hosts, less bandwidth"
            if option == "Compression"
            else "memory travels uncompressed over TCP 6600: best on fast dedicated networks"
        )
        yield info(f"{context.source.name} uses {option}: {meaning}", "source", evidence={"option": option})
        return
    network = context.required("source").network
    smb_tests = [t for t in network.port_tests if t.port == SMB_PORT]
    rdma = [a.name for a in network.adapters if a.rdma_enabled]
    dest_network = context.destination.network
    dest_rdma = [a.name for a in dest_network.adapters if a.rdma_enabled] if dest_network else []
    evidence = {"option": option, "rdma_adapters": rdma, "destination_rdma_adapters": dest_rdma}
    if not smb_tests:
        yield warned(
            f"{context.source.name} uses SMB but TCP 445 to {context.destination.name} was not tested",
            "source",
            fix=Remediation(
                text=f"Test TCP 445 from {context.source.name} to {context.destination.name}'s migration address.",
                powershell=f"Test-NetConnection -ComputerName {ps_literal(context.destination.full_name)} -Port 445",
                run_on=context.source.name,
            ),
            evidence=evidence,
        )
        return
    blocked = [t.address for t in smb_tests if not t.succeeded]
    if blocked:
        yield failed(
            f"{context.source.name} uses SMB but TCP 445 is blocked to {', '.join(blocked)}",
            "source",
            fix=Remediation(
                text=(
                    f"Allow SMB (TCP 445) into {context.destination.name} from the migration network, "
                    "or switch the source to Compression."
                ),
                powershell=f"Enable-NetFirewallRule -Name {ps_literal(SMB_FIREWALL_RULE)}",
                run_on=context.destination.name,
            ),
            evidence={**evidence, "blocked": blocked},
        )
        return
    yield passed(
        f"{context.source.name} uses SMB; TCP 445 reachable on {', '.join(t.address for t in smb_tests)}",
        "source",
        evidence=evidence,
    )
    if bool(rdma) != bool(dest_rdma):
        without = context.destination.name if rdma else context.source.name
        yield info(
            f"SMB Direct needs RDMA on both hosts; {without} has no RDMA-enabled adapter, so SMB runs over TCP",
            "pair",
            evidence=evidence,
        )
    smb_settings = [(h, h.network.smb) for h in (context.source, context.destination) if h.network and h.network.smb]
    slowed = [
        f"{h.name} requires SMB {'encryption' if smb.encryption_required else 'signing'}"
        for h, smb in smb_settings
        if smb.signing_required or smb.encryption_required
    ]
    if slowed and (rdma or dest_rdma):
        yield info(
            "; ".join(slowed) + ": signed or encrypted SMB cannot use RDMA offload, so SMB Direct loses its speed",
            "pair",
            evidence=evidence,
        )


@dataclass(frozen=True)
class SessionUserEvidence:
    user: str


def _add_to_hyperv_administrators(finding: Finding, host: HostFacts) -> FixStep:
    user = finding.evidence_as(SessionUserEvidence).user
    return FixStep(
        subject_host(finding),
        f"Add {user} to Hyper-V Administrators",
        # Get-LocalGroupMember throws on a group holding an orphaned SID (PowerShell/PowerShell#2996):
        # then the group's members are read through ADSI, the group found by its SID, not its localized name.
        "$members = try { @(Get-LocalGroupMember -SID 'S-1-5-32-578' -ErrorAction Stop | ForEach-Object { [string]$_.Name }) } "
        "catch { $group = (New-Object System.Security.Principal.SecurityIdentifier 'S-1-5-32-578').Translate("
        "[System.Security.Principal.NTAccount]).Value.Split('\\')[-1]; "
        "@(([ADSI]\"WinNT://./$group,group\").Invoke('Members') | ForEach-Object { ([ADSI]$_).Path -replace '^WinNT://', '' -replace '/', '\\' }) }\n"
        f"-not ($members -contains {ps_literal(user)})",
        f"Add-LocalGroupMember -SID 'S-1-5-32-578' -Member {ps_literal(user)}",
    )


@check(
    id="hyperv.user-rights",
    title="The connecting user administers Hyper-V on both hosts",
    category=Category.HYPERV,
    severity=Severity.HIGH,
    needs=("hosts.session",),
    remediation=Remediation(
        text="Add the account that starts the move to the local Hyper-V Administrators group on both hosts.",
        powershell="Add-LocalGroupMember -SID 'S-1-5-32-578' -Member 'DOMAIN\\user'",
        run_on=RUN_ON_EACH,
    ),
    fix=_add_to_hyperv_administrators,
    references=(SETUP_GUIDE,),
    quotes_destination=True,
)
def user_rights(context: Context) -> Iterator[Finding]:
    """Starting a move requires membership in Administrators or Hyper-V Administrators on
    both hosts; otherwise the move fails at the destination with an access-denied or logon
    error (0x80070005, 0x80070569).
    Source: the setup guide's requirements."""
    for role, host in both_hosts(context):
        session = context.required(role).session
        if session.is_administrator or session.is_hyperv_administrator:
            group = "Administrators" if session.is_administrator else "Hyper-V Administrators"
            yield passed(
                f"{session.user} is in {group} on {host.name}", role, evidence=SessionUserEvidence(session.user)
            )
        else:
            yield failed(
                f"{session.user} is in neither Administrators nor Hyper-V Administrators on {host.name}",
                role,
                fix=Remediation(
                    text=f"Add {session.user} to Hyper-V Administrators on {host.name}.",
                    powershell=f"Add-LocalGroupMember -SID 'S-1-5-32-578' -Member {ps_literal(session.user)}",
                    run_on=host.name,
                ),
                evidence=SessionUserEvidence(session.user),
            )
