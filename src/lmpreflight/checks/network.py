"""Migration networks: isolation, subnets, a shared routable network, TCP 6600, the firewall rule."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lmpreflight.checks._helpers import SETUP_GUIDE, TROUBLESHOOT_GUIDE, both_hosts, need
from lmpreflight.escape import ps_array, ps_literal
from lmpreflight.facts.addresses import accepting_addresses, addresses_in, on_a_subnet_of, parse_subnet
from lmpreflight.facts.model import HostFacts
from lmpreflight.facts.windows import FIREWALL_RULE, FIREWALL_RULE_NAME, MIGRATION_PORT
from lmpreflight.registry import check
from lmpreflight.vocabulary import (
    Category,
    Context,
    Finding,
    FixStep,
    PathPart,
    Remediation,
    RequiredFacts,
    Severity,
    failed,
    passed,
    subject_host,
    warned,
)


def incoming_addresses(host: HostFacts, role: str) -> list[str]:
    """The addresses on which ``host`` accepts incoming live migrations, or :class:`MissingFact`."""
    facts = RequiredFacts(host, role)
    return accepting_addresses(facts.migration, facts.network.adapters)


@dataclass(frozen=True)
class IsolationEvidence:
    use_any_network: bool
    networks: list[str]


def _isolate_migration_networks(finding: Finding, host: HostFacts) -> FixStep:
    evidence = finding.evidence_as(IsolationEvidence)
    if not evidence.use_any_network or not evidence.networks:
        return FixStep(
            subject_host(finding),
            "Name the dedicated migration network",
            manual="Choose the host's dedicated migration subnet, then run "
            "Add-VMMigrationNetwork -Subnet <subnet>; Set-VMHost -UseAnyNetworkForMigration $false",
        )
    return FixStep(
        subject_host(finding),
        f"Accept migrations only on {', '.join(evidence.networks)}",
        "(Get-VMHost).UseAnyNetworkForMigration",
        "Set-VMHost -UseAnyNetworkForMigration $false",
    )


@check(
    id="network.migration-networks-isolated",
    title="Migration traffic is limited to chosen networks",
    category=Category.NETWORK,
    severity=Severity.MEDIUM,
    needs=("hosts.migration",),
    remediation=Remediation(
        text="Turn off 'use any network' and name the dedicated migration subnet on each host.",
        powershell="Set-VMHost -UseAnyNetworkForMigration $false; Add-VMMigrationNetwork -Subnet '10.0.50.0/24'",
        run_on="each host",
    ),
    references=(SETUP_GUIDE,),
    fix=_isolate_migration_networks,
)
def migration_networks_isolated(context: Context) -> Iterator[Finding]:
    """Live-migration traffic is not encrypted: VM memory (keys, passwords) crosses the wire
    in the clear, so Microsoft recommends a dedicated, isolated network. With 'use any
    network' off and no network listed, a host accepts no incoming migration at all."""
    for role, host in both_hosts(context):
        migration = context.required(role).migration
        subnets = [n.subnet for n in migration.networks]
        if migration.use_any_network:
            yield warned(
                f"{host.name} accepts migrations on any network: unencrypted VM memory may cross the management or production network",
                role,
                evidence=IsolationEvidence(use_any_network=True, networks=subnets),
            )
        elif not subnets:
            message = f"{host.name} accepts migrations on no network (use-any off, no migration network listed)"
            if role == "destination":
                yield failed(message, role, evidence=IsolationEvidence(use_any_network=False, networks=subnets))
            else:
                yield warned(
                    f"moving back will fail: {message}",
                    role,
                    evidence=IsolationEvidence(use_any_network=False, networks=subnets),
                )
        else:
            yield passed(
                f"{host.name} accepts migrations only on {', '.join(subnets)}",
                role,
                evidence={"networks": subnets},
            )


@dataclass(frozen=True)
class UnmatchedSubnetsEvidence:
    unmatched: list[str]


def _remove_stale_subnets(finding: Finding, host: HostFacts) -> FixStep:
    subnets = finding.evidence_as(UnmatchedSubnetsEvidence).unmatched
    return FixStep(
        subject_host(finding),
        f"Remove migration networks without a local address: {', '.join(subnets)}",
        f"@(Get-VMMigrationNetwork | Where-Object {{ {ps_array(subnets)} -contains $_.Subnet }}).Count -gt 0",
        f"foreach ($subnet in {ps_array(subnets)}) {{ Remove-VMMigrationNetwork -Subnet $subnet }}",
    )


@check(
    id="network.migration-subnets-match-addresses",
    title="Each configured migration network matches an address on its host",
    category=Category.NETWORK,
    severity=Severity.MEDIUM,
    needs=("hosts.migration", "hosts.network"),
    remediation=Remediation(
        text="Correct the migration network entries to subnets the host has an address in.",
        powershell="Get-VMMigrationNetwork; Remove-VMMigrationNetwork -Subnet '10.0.99.0/24'",
        run_on="each host listed",
    ),
    references=(SETUP_GUIDE,),
    fix=_remove_stale_subnets,
)
def migration_subnets_match_addresses(context: Context) -> Iterator[Finding]:
    """A migration network entry that matches no local address is a typo or a stale setting:
    the host listens nowhere for it, and if it is the only entry, nowhere at all."""
    for role, host in both_hosts(context):
        migration = context.required(role).migration
        adapters = context.required(role).network.adapters
        if migration.use_any_network or not migration.networks:
            yield passed(f"{host.name} has no migration network entries to match", role)
            continue
        unmatched = [n.subnet for n in migration.networks if not addresses_in(adapters, parse_subnet(n.subnet))]
        if unmatched:
            yield warned(
                f"{host.name} has no address in migration network(s) {', '.join(unmatched)}",
                role,
                fix=Remediation(
                    text="Remove or correct the stale entries.",
                    powershell="; ".join(f"Remove-VMMigrationNetwork -Subnet {ps_literal(s)}" for s in unmatched),
                    run_on=host.name,
                ),
                evidence=UnmatchedSubnetsEvidence(unmatched),
            )
        else:
            yield passed(f"every migration network of {host.name} matches a local address", role)


@check(
    id="network.shared-migration-subnet",
    title="Source and destination share a migration network",
    category=Category.NETWORK,
    severity=Severity.CRITICAL,
    needs=("hosts.migration", "hosts.network"),
    remediation=Remediation(
        text="Give both hosts an address in one migration subnet and list it on both.",
        powershell="Add-VMMigrationNetwork -Subnet '10.0.50.0/24'",
        run_on="each host",
    ),
    references=(SETUP_GUIDE, TROUBLESHOOT_GUIDE),
    shows_on=(PathPart.TCP_6600,),
)
def shared_migration_subnet(context: Context) -> Iterator[Finding]:
    """The source connects to one of the destination's incoming migration addresses. If none
    of them is on a subnet the source also sits on, the connection is routed elsewhere or
    not at all (0x8007274C timeouts, 0x8007274D refusals)."""
    incoming = incoming_addresses(context.destination, "destination")
    reachable = [a for a in incoming if on_a_subnet_of(context.source, a)]
    evidence = {"destination_incoming": incoming, "on_shared_subnet": reachable}
    if not incoming:
        yield failed(f"{context.destination.name} accepts migrations on no address", evidence=evidence)
    elif not reachable:
        yield failed(
            f"none of {context.destination.name}'s migration addresses ({', '.join(incoming)}) is on a subnet of {context.source.name}",
            evidence=evidence,
        )
    else:
        yield passed(f"{context.source.name} shares a subnet with {', '.join(reachable)}", evidence=evidence)


@check(
    id="network.not-management",
    title="The migration network is not the management network",
    category=Category.NETWORK,
    severity=Severity.LOW,
    needs=("destination.migration", "destination.network"),
    remediation=Remediation(
        text="Dedicate a separate (ideally isolated) network to live migration.",
    ),
    references=(SETUP_GUIDE,),
)
def not_management(context: Context) -> Iterator[Finding]:
    """Migration moves gigabytes of unencrypted memory; on the management network it competes
    with administration and backups and exposes memory contents to that network."""
    host = context.destination
    adapters = context.required("destination").network.adapters
    management = {a.address for adapter in adapters if adapter.is_management for a in adapter.addresses}
    incoming = set(incoming_addresses(host, "destination"))
    shared = sorted(management & incoming)
    if shared:
        yield warned(
            f"{host.name} accepts migrations on its management address {', '.join(shared)}",
            "destination",
            evidence={"management": sorted(management)},
        )
    else:
        yield passed(f"{host.name}'s migration addresses are separate from management", "destination")


@check(
    id="network.port-6600",
    title="The source reaches the destination's migration addresses on TCP 6600",
    category=Category.NETWORK,
    severity=Severity.CRITICAL,
    needs=("source.network", "destination.migration", "destination.network"),
    remediation=Remediation(
        text="Allow TCP 6600 from the source to the destination (host firewall and any network firewall between).",
        powershell=f"Enable-NetFirewallRule -DisplayName {ps_literal(FIREWALL_RULE)}",
        run_on="the destination host (and the network firewall)",
    ),
    references=(TROUBLESHOOT_GUIDE,),
    shows_on=((PathPart.TCP_6600, "source"), (PathPart.REVERSE_AUTH, "destination")),
)
def port_6600(context: Context) -> Iterator[Finding]:
    """vmms listens for migrations on TCP 6600. The test is made *from the source host
    itself*, because that is where the move's connection starts; a test from the admin's
    workstation proves nothing about the path between the hosts. The destination's test
    towards the source tells whether the VM can be moved back."""
    forward = _port_results(context.source, context.destination, "destination")
    blocked, open_, untested = forward
    evidence = {"open": open_, "blocked": blocked, "untested": untested}
    if blocked and not open_:
        yield failed(
            f"{context.source.name} cannot reach TCP 6600 on {', '.join(blocked)}", "source", evidence=evidence
        )
    elif blocked:
        yield warned(
            f"TCP 6600 open on {', '.join(open_)} but blocked on {', '.join(blocked)}", "source", evidence=evidence
        )
    elif not open_:
        yield warned(
            f"TCP 6600 from {context.source.name} to {context.destination.name} was not tested",
            "source",
            evidence=evidence,
        )
    else:
        yield passed(f"{context.source.name} reaches TCP 6600 on {', '.join(open_)}", "source", evidence=evidence)
    if context.source.migration is None or context.destination.network is None:
        return
    back_blocked, back_open, _ = _port_results(context.destination, context.source, "source")
    if back_blocked and not back_open:
        yield warned(
            f"moving back will fail: {context.destination.name} cannot reach TCP 6600 on {', '.join(back_blocked)}",
            "destination",
            evidence={"open": back_open, "blocked": back_blocked},
        )


def _port_results(tester: HostFacts, target: HostFacts, target_role: str) -> tuple[list[str], list[str], list[str]]:
    """(blocked, open, untested) among ``target``'s incoming addresses, as tested by ``tester``."""
    role = "source" if target_role == "destination" else "destination"
    network = RequiredFacts(tester, role).network
    incoming = incoming_addresses(target, target_role)
    tests = {t.address: t for t in network.port_tests if t.port == MIGRATION_PORT}
    blocked = [a for a in incoming if a in tests and not tests[a].succeeded]
    open_ = [a for a in incoming if a in tests and tests[a].succeeded]
    untested = [a for a in incoming if a not in tests]
    return blocked, open_, untested


@dataclass(frozen=True)
class FirewallRuleEvidence:
    present: bool
    enabled: bool | None


def _enable_firewall_rule(finding: Finding, host: HostFacts) -> FixStep:
    if not finding.evidence_as(FirewallRuleEvidence).present:
        return FixStep(
            "destination",
            "Restore the built-in Hyper-V firewall rules",
            manual="The rule is missing entirely: re-add the Hyper-V role's firewall "
            f"rules (reinstalling the role) or create an inbound rule for TCP {MIGRATION_PORT} to vmms.exe.",
        )
    rule = ps_literal(FIREWALL_RULE_NAME)
    return FixStep(
        "destination",
        f"Enable the {ps_literal(FIREWALL_RULE)} firewall rule",
        f"[string](Get-NetFirewallRule -Name {rule}).Enabled -ne 'True'",
        f"Enable-NetFirewallRule -Name {rule}",
    )


@check(
    id="network.firewall-rule",
    title=f"The destination's {ps_literal(FIREWALL_RULE)} firewall rule is enabled",
    category=Category.NETWORK,
    severity=Severity.HIGH,
    needs=("destination.network",),
    remediation=Remediation(
        text="Enable the built-in inbound rule for live migration.",
        powershell=f"Enable-NetFirewallRule -DisplayName {ps_literal(FIREWALL_RULE)}",
        run_on="the destination host",
    ),
    references=(TROUBLESHOOT_GUIDE,),
    fix=_enable_firewall_rule,
    shows_on=(PathPart.TCP_6600,),
)
def firewall_rule(context: Context) -> Iterator[Finding]:
    """Windows Firewall admits incoming migrations through the built-in rule 'Hyper-V
    (MIG-TCP-In)' (TCP 6600, vmms.exe). Disabled, the source's connection times out or is
    reset (0x8007274C, 0x80072746)."""
    rule = context.required("destination").network.migration_firewall_rule
    rule = need(rule, "destination.network.migration_firewall_rule")
    if not rule.present:
        yield failed(
            f"{FIREWALL_RULE} is missing on {context.destination.name}",
            "destination",
            evidence=FirewallRuleEvidence(present=False, enabled=None),
        )
    elif not rule.enabled:
        yield failed(
            f"{FIREWALL_RULE} is disabled on {context.destination.name}",
            "destination",
            evidence=FirewallRuleEvidence(present=True, enabled=False),
        )
    else:
        yield passed(
            f"{FIREWALL_RULE} is enabled on {context.destination.name}",
            "destination",
            evidence=FirewallRuleEvidence(present=True, enabled=True),
        )
