"""The remediation script: one PowerShell file that fixes what can be fixed safely.

Steps come from the report's failing (and warning) results. Each step names the check it
fixes, tests its precondition first (so running the script again changes nothing) and only
changes anything with ``-Apply``. What cannot be automated safely (upgrading a VM's version,
processor compatibility, switches, storage, the network) is written as a commented
explanation instead. Every value reaches PowerShell through the one literal-escaping helper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from lmpreflight.escape import ps_array, ps_literal
from lmpreflight.report.model import HostOut, Report, ResultOut
from lmpreflight.resources import template_environment

Part = Literal["source", "destination", "directory"]
PARTS: tuple[Part, ...] = ("source", "destination", "directory")
FIREWALL_RULE = "VIRT-MIGL-In-TCP-NoScope"


@dataclass(frozen=True)
class FixStep:
    check_id: str
    finding: str
    description: str
    needed: str | None = None
    change: str | None = None
    manual: str | None = None


@dataclass
class FixPlan:
    steps: dict[Part, list[FixStep]] = field(default_factory=lambda: {p: [] for p in PARTS})

    def add(self, part: Part, step: FixStep) -> None:
        if step not in self.steps[part]:
            self.steps[part].append(step)


def _host_part(result: ResultOut) -> Part:
    return "destination" if result.subject == "destination" else "source"


def _host_for(report: Report, result: ResultOut) -> HostOut:
    return report.host_by_role(_host_part(result))


StepBuilder = Callable[[Report, ResultOut], tuple[Part, FixStep]]


def _host_step(description: str, needed: str, change: str) -> StepBuilder:
    """A fixed change on the host the result is about."""

    def build(report: Report, r: ResultOut) -> tuple[Part, FixStep]:
        return _host_part(r), FixStep(r.check_id, r.message, description, needed, change)

    return build


def _auth(report: Report, r: ResultOut) -> tuple[Part, FixStep]:
    wanted = ps_literal(r.evidence.get("source", "Kerberos"))
    return "destination", FixStep(
        r.check_id,
        r.message,
        f"Use the source's live-migration authentication ({r.evidence.get('source')})",
        f"[string](Get-VMHost).VirtualMachineMigrationAuthenticationType -ne {wanted}",
        f"Set-VMHost -VirtualMachineMigrationAuthenticationType {wanted}",
    )


def _user_rights(report: Report, r: ResultOut) -> tuple[Part, FixStep]:
    user = ps_literal(r.evidence.get("user", ""))
    return _host_part(r), FixStep(
        r.check_id,
        r.message,
        f"Add {r.evidence.get('user')} to Hyper-V Administrators",
        f"-not (Get-LocalGroupMember -SID 'S-1-5-32-578' | Where-Object {{ $_.Name -eq {user} }})",
        f"Add-LocalGroupMember -SID 'S-1-5-32-578' -Member {user}",
    )


def _firewall(report: Report, r: ResultOut) -> tuple[Part, FixStep]:
    if r.evidence.get("present") is False:
        return "destination", FixStep(
            r.check_id,
            r.message,
            "Restore the built-in Hyper-V firewall rules",
            manual="The rule is missing entirely: re-add the Hyper-V role's firewall "
            "rules (reinstalling the role) or create an inbound rule for TCP 6600 to vmms.exe.",
        )
    rule = ps_literal(FIREWALL_RULE)
    return "destination", FixStep(
        r.check_id,
        r.message,
        "Enable the 'Hyper-V (MIG-TCP-In)' firewall rule",
        f"[string](Get-NetFirewallRule -Name {rule}).Enabled -ne 'True'",
        f"Enable-NetFirewallRule -Name {rule}",
    )


def _isolation(report: Report, r: ResultOut) -> tuple[Part, FixStep]:
    networks = r.evidence.get("networks") or []
    if not r.evidence.get("use_any_network") or not networks:
        return _host_part(r), FixStep(
            r.check_id,
            r.message,
            "Name the dedicated migration network",
            manual="Choose the host's dedicated migration subnet, then run "
            "Add-VMMigrationNetwork -Subnet <subnet>; Set-VMHost -UseAnyNetworkForMigration $false",
        )
    return _host_part(r), FixStep(
        r.check_id,
        r.message,
        f"Accept migrations only on {', '.join(networks)}",
        "(Get-VMHost).UseAnyNetworkForMigration",
        "Set-VMHost -UseAnyNetworkForMigration $false",
    )


def _stale_subnets(report: Report, r: ResultOut) -> tuple[Part, FixStep]:
    subnets = r.evidence.get("unmatched") or []
    return _host_part(r), FixStep(
        r.check_id,
        r.message,
        f"Remove migration networks without a local address: {', '.join(subnets)}",
        f"@(Get-VMMigrationNetwork | Where-Object {{ {ps_array(subnets)} -contains $_.Subnet }}).Count -gt 0",
        f"foreach ($subnet in {ps_array(subnets)}) {{ Remove-VMMigrationNetwork -Subnet $subnet }}",
    )


def _delegation(report: Report, r: ResultOut) -> tuple[Part, FixStep]:
    account = ps_literal(_host_for(report, r).name)
    missing = ps_array(r.evidence.get("missing") or [])
    current = f"(Get-ADComputer -Identity {account} -Properties 'msDS-AllowedToDelegateTo').'msDS-AllowedToDelegateTo'"
    return "directory", FixStep(
        r.check_id,
        r.message,
        f"Let {_host_for(report, r).name} delegate to: {', '.join(r.evidence.get('missing') or [])}",
        f"@({missing} | Where-Object {{ @({current}) -notcontains $_ }}).Count -gt 0",
        f"$add = @({missing} | Where-Object {{ @({current}) -notcontains $_ }})\n"
        f"Set-ADComputer -Identity {account} -Add @{{'msDS-AllowedToDelegateTo' = $add}}",
    )


def _protocol_transition(report: Report, r: ResultOut) -> tuple[Part, FixStep]:
    if r.evidence.get("trusted_for_delegation"):
        return "directory", FixStep(
            r.check_id,
            r.message,
            "Replace unconstrained delegation",
            manual="The account is trusted for unconstrained delegation. Clear 'Trust this "
            "computer for delegation to any service' in Active Directory Users and Computers "
            "and configure constrained delegation with any authentication protocol.",
        )
    account = ps_literal(_host_for(report, r).name)
    return "directory", FixStep(
        r.check_id,
        r.message,
        f"Let {_host_for(report, r).name} delegate with any authentication protocol",
        f"-not (Get-ADComputer -Identity {account} -Properties TrustedToAuthForDelegation).TrustedToAuthForDelegation",
        f"Set-ADAccountControl -Identity (Get-ADComputer -Identity {account}) -TrustedToAuthForDelegation $true",
    )


AUTOMATED: dict[str, StepBuilder] = {
    "hyperv.migration-enabled": _host_step(
        "Enable incoming and outgoing live migrations",
        "-not (Get-VMHost).VirtualMachineMigrationEnabled",
        "Enable-VMMigration",
    ),
    "hyperv.vmms-running": _host_step(
        "Start vmms and start it automatically",
        "(Get-Service -Name vmms).Status -ne 'Running'",
        "Set-Service -Name vmms -StartupType Automatic; Start-Service -Name vmms",
    ),
    "hyperv.role-installed": _host_step(
        "Install the Hyper-V role (a restart follows; plan it)",
        "-not (Get-WindowsFeature -Name Hyper-V).Installed",
        "Install-WindowsFeature -Name Hyper-V -IncludeManagementTools",
    ),
    "hyperv.module-present": _host_step(
        "Install the Hyper-V PowerShell module",
        "-not (Get-Module -ListAvailable -Name Hyper-V)",
        "Install-WindowsFeature -Name Hyper-V-PowerShell",
    ),
    "hyperv.auth-type-consistent": _auth,
    "hyperv.simultaneous-migrations": _host_step(
        "Allow two simultaneous live migrations (the default)",
        "(Get-VMHost).MaximumVirtualMachineMigrations -lt 1",
        "Set-VMHost -MaximumVirtualMachineMigrations 2",
    ),
    "hyperv.user-rights": _user_rights,
    "network.firewall-rule": _firewall,
    "network.migration-networks-isolated": _isolation,
    "network.migration-subnets-match-addresses": _stale_subnets,
    "delegation.spns-to-destination": _delegation,
    "delegation.spns-to-source": _delegation,
    "delegation.protocol-transition": _protocol_transition,
}


def _manual(r: ResultOut) -> tuple[Part, FixStep]:
    part: Part = (
        "directory"
        if r.category in ("delegation", "domain") and r.subject == "pair"
        else ("destination" if r.subject == "destination" else "source")
    )
    fix = r.remediation
    text = fix.text if fix else "See the report."
    if fix and fix.powershell:
        text += f" Suggested: {' '.join(fix.powershell.split())}"
    return part, FixStep(r.check_id, r.message, "Not automated: needs a decision or downtime", manual=text)


IDENTITY_CHECKS = ("identity.host-is-who-it-says", "identity.domain-as-chosen")


def _identity_unconfirmed(report: Report) -> list[str]:
    """Why the hosts' identities are not confirmed (empty when they are): without that,
    directory changes would be built on names a host reported, not on the AD objects found
    for the names the admin typed."""
    seen = {r.check_id: r for r in report.results if r.check_id in IDENTITY_CHECKS}
    reasons = [f"{check_id} was not run" for check_id in IDENTITY_CHECKS if check_id not in seen]
    return reasons + [r.message for r in report.results if r.check_id in IDENTITY_CHECKS and r.status != "pass"]


def plan_fixes(report: Report) -> FixPlan:
    plan = FixPlan()
    unconfirmed = _identity_unconfirmed(report)
    for result in report.results:
        if result.status not in ("fail", "warn"):
            continue
        builder = AUTOMATED.get(result.check_id)
        part, step = builder(report, result) if builder else _manual(result)
        if part == "directory" and unconfirmed and result.check_id not in IDENTITY_CHECKS:
            step = FixStep(
                step.check_id,
                step.finding,
                "Not written: the hosts' identities are not confirmed",
                manual="No directory change is proposed until the name typed, the name each host reports "
                "and its AD account agree: " + "; ".join(unconfirmed),
            )
        plan.add(part, step)
    return plan


def render_fix_script(report: Report) -> str:
    plan = plan_fixes(report)
    template = template_environment(autoescape=False).get_template("fix.ps1.j2")
    return template.render(
        report=report,
        source=report.host_by_role("source"),
        destination=report.host_by_role("destination"),
        plan=plan,
        delegation_changed=any(s.change for s in plan.steps["directory"]),
    )
