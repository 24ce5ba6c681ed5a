"""Hyper-V on each host: role, service, module, OS pair, live-migration settings, rights."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lmpreflight.checks._helpers import SETUP_GUIDE, TROUBLESHOOT_GUIDE, USE_GUIDE, both_hosts
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

# Windows Server builds by release, and the pairs Microsoft documents for live migration.
OS_RELEASES = {9600: "2012 R2", 14393: "2016", 17763: "2019", 20348: "2022", 26100: "2025"}
DOCUMENTED_PAIRS = {("2012 R2", "2016")}


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
)
def role_installed(context: Context) -> Iterator[Finding]:
    """Live migration is a service of the Hyper-V Virtual Machine Management Service (vmms).
    Without the role there is nothing to receive or send a VM, and every other Hyper-V
    setting is meaningless."""
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
)
def vmms_running(context: Context) -> Iterator[Finding]:
    """vmms owns the migration listener on TCP 6600 and performs the move. A stopped service
    refuses incoming migrations (0x8007274D) and cannot start outgoing ones."""
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
)
def module_present(context: Context) -> Iterator[Finding]:
    """Move-VM, Compare-VM and every fix this tool suggests are Hyper-V module cmdlets;
    without the module the host's own settings cannot even be read."""
    for role, host in both_hosts(context):
        hyperv = context.required(role).hyperv
        if hyperv.module_installed:
            yield passed(f"Hyper-V module present on {host.name}", role)
        else:
            yield failed(f"Hyper-V PowerShell module is missing on {host.name}", role)


@check(
    id="hyperv.os-pair-supported",
    title="Operating-system pair documented for live migration",
    category=Category.HYPERV,
    severity=Severity.MEDIUM,
    needs=("hosts.os",),
    remediation=Remediation(
        text=(
            "Move between hosts of the same Windows Server release, or from an older release to a newer one "
            "(for example during an upgrade); check the VM configuration version against the destination first."
        ),
    ),
    references=(
        SETUP_GUIDE,
        "https://learn.microsoft.com/windows-server/get-started/hyper-v-feature-compatibility",
    ),
)
def os_pair_supported(context: Context) -> Iterator[Finding]:
    """Microsoft documents live migration between hosts of the same release and, explicitly,
    from Windows Server 2012 R2 to 2016. Other cross-release moves (2016 → 2019 → 2022) work
    in practice as long as the destination supports the VM's configuration version, but the
    documentation is silent; moving to an *older* release is where surprises happen."""
    source_os = context.required("source").os
    dest_os = context.required("destination").os
    source_release = OS_RELEASES.get(source_os.build)
    dest_release = OS_RELEASES.get(dest_os.build)
    evidence = {
        "source": source_os.caption,
        "source_build": source_os.build,
        "destination": dest_os.caption,
        "destination_build": dest_os.build,
    }
    if source_release is None or dest_release is None:
        yield warned(
            f"build {source_os.build} → {dest_os.build} is not a Windows Server LTSC release lmpreflight knows",
            evidence=evidence,
        )
    elif source_release == dest_release or (source_release, dest_release) in DOCUMENTED_PAIRS:
        yield passed(f"Windows Server {source_release} → {dest_release} is a documented pair", evidence=evidence)
    elif dest_os.build < source_os.build:
        yield warned(
            f"moving down from Windows Server {source_release} to {dest_release}: not documented; "
            "the VM's configuration version must be one the older host runs",
            evidence=evidence,
        )
    else:
        yield warned(
            f"Windows Server {source_release} → {dest_release}: works when the destination supports the VM's "
            "configuration version, but Microsoft's guide does not document this pair",
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
)
def migration_enabled(context: Context) -> Iterator[Finding]:
    """With live migration disabled, a host neither accepts incoming nor starts outgoing
    moves: the destination refuses the connection (0x8007274D) or the source refuses to start."""
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
)
def auth_type_consistent(context: Context) -> Iterator[Finding]:
    """The source authenticates to the destination's vmms with its own configured protocol
    and the destination accepts only its own. A CredSSP host and a Kerberos host cannot
    authenticate each other's migration connections, in either direction."""
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
)
def simultaneous_migrations(context: Context) -> Iterator[Finding]:
    """Each host queues moves beyond its limit and fails them with event 21501 ("migration
    limit was reached"); a limit of zero blocks every move, and a very high one lets a host
    drain saturate the migration network."""
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
    references=(SETUP_GUIDE,),
)
def performance_option(context: Context) -> Iterator[Finding]:
    """The source's performance option decides how memory travels. Compression spends CPU
    on both hosts to save bandwidth; TCPIP sends raw memory; SMB uses SMB 3 (SMB Direct when
    both ends have RDMA) and so needs TCP 445 open to the destination."""
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
    if not smb_tests:
        yield warned(
            f"{context.source.name} uses SMB but TCP 445 to {context.destination.name} was not tested",
            "source",
            evidence={"option": option, "rdma_adapters": rdma},
        )
    elif all(t.succeeded for t in smb_tests):
        yield passed(
            f"{context.source.name} uses SMB; TCP 445 reachable on {', '.join(t.address for t in smb_tests)}; RDMA adapters: {', '.join(rdma) or 'none'}",
            "source",
            evidence={"option": option, "rdma_adapters": rdma},
        )
    else:
        blocked = [t.address for t in smb_tests if not t.succeeded]
        yield failed(
            f"{context.source.name} uses SMB but TCP 445 is blocked to {', '.join(blocked)}",
            "source",
            fix=Remediation(
                text="Open TCP 445 (File and Printer Sharing) on the destination's migration network, or switch the source to Compression.",
                powershell="Enable-NetFirewallRule -DisplayGroup 'File and Printer Sharing'",
                run_on=context.destination.name,
            ),
            evidence={"option": option, "blocked": blocked},
        )


@dataclass(frozen=True)
class SessionUserEvidence:
    user: str


def _add_to_hyperv_administrators(finding: Finding, host: HostFacts) -> FixStep:
    user = finding.evidence_as(SessionUserEvidence).user
    return FixStep(
        subject_host(finding),
        f"Add {user} to Hyper-V Administrators",
        f"-not (Get-LocalGroupMember -SID 'S-1-5-32-578' | Where-Object {{ $_.Name -eq {ps_literal(user)} }})",
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
)
def user_rights(context: Context) -> Iterator[Finding]:
    """Starting a move requires membership in Administrators or Hyper-V Administrators on
    both hosts; otherwise the move fails at the destination with an access-denied or logon
    error (0x80070005, 0x80070569)."""
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
