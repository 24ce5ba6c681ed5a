"""Migration networks: isolation, subnets, a shared routable network, TCP 6600, the firewall rule."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

from lmpreflight.checks._helpers import (
    SETUP_GUIDE,
    TROUBLESHOOT_GUIDE,
    both_hosts,
    each_own_findings,
    need,
    own_findings,
    own_view,
)
from lmpreflight.escape import ps_array, ps_literal
from lmpreflight.facts.addresses import accepting_addresses, addresses_in, on_a_subnet_of, parse_subnet
from lmpreflight.facts.model import CATEGORY_PROFILE, HostFacts, PortTest
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
    RunPlace,
    Severity,
    failed,
    info,
    passed,
    subject_host,
    warned,
)

ENABLE_RULE = f"Enable-NetFirewallRule -Name {ps_literal(FIREWALL_RULE_NAME)}"
"""The fix for the built-in rule: by its Name, which does not change with the display language."""


def incoming_addresses(host: HostFacts, role: str) -> list[str]:
    """The addresses on which ``host`` accepts incoming live migrations, or :class:`MissingFact`
    (worked out once per host: a fleet's checks ask for them for every pair)."""
    return list(_incoming(host, role))


def _incoming(host: HostFacts, role: str) -> tuple[str, ...]:
    """:func:`incoming_addresses` as the host's own view holds them, for a check that only reads them."""
    return own_view(host, _accepting, role)


def _accepting(host: HostFacts, role: str) -> tuple[str, ...]:
    facts = RequiredFacts(host, role)
    return tuple(accepting_addresses(facts.migration, facts.network))


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
    quotes_destination=True,
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
def migration_subnets_match_addresses(context: Context) -> tuple[Finding, ...]:
    """A migration network entry that matches no local address is a typo or a stale setting:
    the host listens nowhere for it, and if it is the only entry, nowhere at all.
    Source: the setup guide (incoming live migrations on the listed networks)."""
    return each_own_findings(context, _subnets_matched)


def _subnets_matched(host: HostFacts, role: str) -> Iterator[Finding]:
    """What :func:`migration_subnets_match_addresses` says of one host: its own facts alone decide."""
    migration = RequiredFacts(host, role).migration
    network = RequiredFacts(host, role).network
    if migration.use_any_network or not migration.networks:
        yield passed(f"{host.name} has no migration network entries to match", role)
        return
    unmatched = [n.subnet for n in migration.networks if not addresses_in(network, parse_subnet(n.subnet))]
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
    title="How the source reaches the destination's migration addresses (same subnet or routed)",
    category=Category.NETWORK,
    severity=Severity.MEDIUM,
    needs=("hosts.migration", "hosts.network"),
    remediation=Remediation(
        text=(
            "A routed migration network works when TCP 6600 gets through (see network.port-6600); keep the "
            "routed path private, because migration traffic is not encrypted."
        ),
    ),
    references=(SETUP_GUIDE, TROUBLESHOOT_GUIDE),
    shows_on=(PathPart.TCP_6600,),
)
def shared_migration_subnet(context: Context) -> Iterator[Finding]:
    """The source connects to one of the destination's incoming migration addresses, on the
    same subnet or through a router: no Microsoft document requires a shared subnet, and the
    setup guide's own example names a single address. Whether the connection gets through is
    what network.port-6600 tests from the source itself; this check shows the path."""
    incoming = incoming_addresses(context.destination, "destination")
    reachable = [address for address in incoming if on_a_subnet_of(context.source, address)]
    tests = _tests(context.source)
    routed_open = [a for a in incoming if a not in reachable and a in tests and tests[a].succeeded] if tests else []
    evidence = {"destination_incoming": incoming, "on_shared_subnet": reachable, "routed_open": routed_open}
    if not incoming:
        yield failed(f"{context.destination.name} accepts migrations on no address", evidence=evidence)
    elif reachable:
        yield passed(f"{context.source.name} shares a subnet with {', '.join(reachable)}", evidence=evidence)
    elif routed_open:
        yield info(
            f"routed: {context.source.name} reaches {', '.join(routed_open)} through a router "
            "(TCP 6600 test succeeded); keep that path private, migration traffic is not encrypted",
            evidence=evidence,
        )
    else:
        yield warned(
            f"none of {context.destination.name}'s migration addresses ({', '.join(incoming)}) is on a subnet of "
            f"{context.source.name}, and no TCP 6600 test reached them: the routed path must carry TCP 6600 "
            "(see network.port-6600)",
            evidence=evidence,
        )


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
def not_management(context: Context) -> tuple[Finding, ...]:
    """Migration moves gigabytes of unencrypted memory; on the management network it competes
    with administration and backups and exposes memory contents to that network.
    Source: the setup guide (live-migration traffic is not encrypted)."""
    return own_findings(context.destination, _management_apart)


def _management_apart(host: HostFacts) -> Iterator[Finding]:
    """What :func:`not_management` says of the destination: its own facts alone decide."""
    adapters = RequiredFacts(host, "destination").network.adapters
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


@dataclass(frozen=True)
class PortEvidence:
    open: list[str]
    blocked: list[str]
    untested: list[str]
    outcomes: dict[str, str | None]
    source_addresses: dict[str, str | None]
    fix_on: RunPlace = "source"
    """Where the cause is fixed: the destination (rule, vmms, migration off) or the source (test it)."""


def _port_fix(finding: Finding, host: HostFacts) -> FixStep:
    """The cause-specific remediation, placed on the host that has the cause (never a blind
    firewall change: the check says whether the rule, vmms, migration or the network is at fault)."""
    fix = finding.remediation
    text = fix.text if fix else "See the report."
    command = f" PS> {fix.powershell}" if fix and fix.powershell else ""
    return FixStep(finding.evidence_as(PortEvidence).fix_on, text, manual=text + command)


@check(
    id="network.port-6600",
    title="The source reaches the destination's migration addresses on TCP 6600",
    category=Category.NETWORK,
    severity=Severity.CRITICAL,
    needs=("source.network", "destination.migration", "destination.network"),
    remediation=Remediation(
        text="Allow TCP 6600 from the source to the destination (host firewall and any network firewall between).",
        powershell=ENABLE_RULE,
        run_on="the destination host (and the network firewall)",
    ),
    references=(TROUBLESHOOT_GUIDE,),
    shows_on=((PathPart.TCP_6600, "source"), (PathPart.REVERSE_AUTH, "destination")),
    fix=_port_fix,
)
def port_6600(context: Context) -> Iterator[Finding]:
    """vmms listens for migrations on TCP 6600. The test is made *from the source host
    itself*, because that is where the move's connection starts; a test from the admin's
    workstation proves nothing about the path between the hosts. A refused connection means
    nothing listens (migration disabled, vmms stopped or bound before the address came up,
    0x8007274D); a timeout means something drops it (a firewall, 0x8007274C). The destination's
    test towards the source tells whether the VM can be moved back.
    Source: the live-migration troubleshooting article (0x8007274C, 0x8007274D, TCP 6600)."""
    source, destination = context.source, context.destination
    blocked, open_, untested = _port_results(source, destination, "destination")
    if blocked:
        tests = _tests(source)
        evidence = PortEvidence(
            open=open_,
            blocked=blocked,
            untested=untested,
            outcomes={a: tests[a].outcome for a in blocked},
            source_addresses={a: tests[a].source_address for a in blocked + open_},
            fix_on=_fix_place(context, tests[blocked[0]]),
        )
        reasons = "; ".join(_blocked_reason(context, tests[a]) for a in blocked)
        fix = _blocked_fix(context, tests[blocked[0]])
        if open_:
            yield warned(
                f"TCP 6600 open on {', '.join(open_)} but not on {', '.join(blocked)}: " + reasons,
                "source",
                fix=fix,
                evidence=evidence,
            )
        else:
            yield failed(reasons, "source", fix=fix, evidence=evidence)
    elif open_:
        tests = _tests(source)
        evidence = PortEvidence(open_, [], untested, {}, {a: tests[a].source_address for a in open_})
        yield passed(f"{source.name} reaches TCP 6600 on {', '.join(open_)}", "source", evidence=evidence)
    else:
        name = source.name
        yield warned(
            f"TCP 6600 from {name} to {destination.name} was not tested",
            "source",
            fix=Remediation(
                text=f"Test the port from {name} itself.",
                powershell=_test_port(untested[0] if untested else destination.full_name),
                run_on=name,
            ),
            evidence=PortEvidence([], [], untested, {}, {}),
        )
    if source.migration is None or destination.network is None:
        return
    back_blocked, back_open, _ = _port_results(destination, source, "source")
    if back_blocked and not back_open:
        yield warned(
            f"moving back will fail: {destination.name} cannot reach TCP 6600 on {', '.join(back_blocked)}",
            "destination",
            evidence=PortEvidence(back_open, back_blocked, [], {}, {}, fix_on="source"),
        )


@lru_cache(maxsize=4096)
def _test_port(target: str) -> str:
    """The command that tests TCP 6600 towards ``target`` (a fleet names each host's addresses for every peer)."""
    return f"Test-NetConnection -ComputerName {ps_literal(target)} -Port {MIGRATION_PORT}"


def _tests(tester: HostFacts) -> dict[str, PortTest]:
    """The TCP 6600 tests ``tester`` made, by address (none when its network was not read)."""
    network = tester.network
    return network.port_tests_by_port.get(MIGRATION_PORT, {}) if network else {}


def _refused(test: PortTest) -> bool:
    if test.outcome is not None:
        return test.outcome == "refused"
    return "refused" in (test.detail or "").casefold()


def _blocked_reason(context: Context, test: PortTest) -> str:
    """Why one address did not answer, from how the attempt ended and the destination's state."""
    source, dest = context.source, context.destination
    origin = f" from {test.source_address}" if test.source_address else ""
    if _refused(test):
        migration, hyperv = dest.migration, dest.hyperv
        if migration is not None and not migration.enabled:
            cause = f"live migration is disabled on {dest.name}"
        elif hyperv is not None and hyperv.vmms_status != "Running":
            cause = f"vmms is {hyperv.vmms_status or 'not running'} on {dest.name}"
        else:
            cause = f"nothing listens there (restart vmms on {dest.name} if the address came up after it started)"
        return f"{source.name}{origin} → {test.address}:6600 refused: {cause}"
    rule = dest.network.migration_firewall_rule if dest.network else None
    uncovered = _uncovered_profile(dest, test.address)
    if rule is not None and not (rule.present and rule.enabled):
        cause = f"{dest.name}'s firewall rule {FIREWALL_RULE} is {'disabled' if rule.present else 'missing'}"
    elif uncovered is not None:
        cause = f"{dest.name}'s firewall rule {FIREWALL_RULE} is not assigned to {uncovered.label()}"
    else:
        cause = f"a firewall or route between {source.name} and {dest.name} drops it (the host rule is enabled)"
    kind = "unreachable" if test.outcome == "unreachable" else "timed out"
    return f"{source.name}{origin} → {test.address}:6600 {kind}: {cause}"


def _fix_place(context: Context, test: PortTest) -> RunPlace:
    """The destination holds the cause unless the network between the hosts does."""
    rule = context.destination.network.migration_firewall_rule if context.destination.network else None
    if _refused(test) or (rule is not None and not (rule.present and rule.enabled)):
        return "destination"
    if _uncovered_profile(context.destination, test.address) is not None:
        return "destination"
    return "source"


def _blocked_fix(context: Context, test: PortTest) -> Remediation:
    dest = context.destination
    verify = f"Test-NetConnection -ComputerName {ps_literal(test.address)} -Port {MIGRATION_PORT}"
    if _refused(test):
        if dest.migration is not None and not dest.migration.enabled:
            return Remediation(
                text=f"Enable live migration on {dest.name}.", powershell="Enable-VMMigration", run_on=dest.name
            )
        return Remediation(
            text=f"Start (or restart) vmms on {dest.name} so it listens on its migration addresses.",
            powershell="Restart-Service -Name vmms",
            run_on=dest.name,
        )
    rule = dest.network.migration_firewall_rule if dest.network else None
    if rule is not None and rule.present and not rule.enabled:
        return Remediation(text=f"Enable the built-in rule on {dest.name}.", powershell=ENABLE_RULE, run_on=dest.name)
    uncovered = _uncovered_profile(dest, test.address)
    if uncovered is not None:
        return Remediation(
            text=f"Assign the built-in rule to the {uncovered.profile} profile of {uncovered.label()} on {dest.name}.",
            powershell=f"Set-NetFirewallRule -Name {ps_literal(FIREWALL_RULE_NAME)} -Profile Any",
            run_on=dest.name,
        )
    return Remediation(
        text=(
            f"Ask the network team to allow TCP 6600 from {test.source_address or context.source.name} to "
            f"{test.address}; then verify from {context.source.name}."
        ),
        powershell=verify,
        run_on=f"the network team (then verify on {context.source.name})",
    )


def _port_results(tester: HostFacts, target: HostFacts, target_role: str) -> tuple[list[str], list[str], list[str]]:
    """(blocked, open, untested) among ``target``'s incoming addresses, as tested by ``tester``."""
    role = "source" if target_role == "destination" else "destination"
    network = need(tester.network, f"{role}.network")
    incoming = _incoming(target, target_role)
    tests = network.port_tests_by_port.get(MIGRATION_PORT)
    if not tests:  # most hosts of a fleet tested none of a peer's addresses
        return [], [], list(incoming)
    blocked = [a for a in incoming if a in tests and not tests[a].succeeded]
    open_ = [a for a in incoming if a in tests and tests[a].succeeded]
    untested = [a for a in incoming if a not in tests]
    return blocked, open_, untested


@check(
    id="network.migration-mtu",
    title="MTU of the migration adapters",
    category=Category.NETWORK,
    severity=Severity.INFO,
    needs=("hosts.migration", "hosts.network"),
    remediation=Remediation(text="Nothing to fix: shown so that both ends of the migration network can be compared."),
    references=(SETUP_GUIDE,),
    shows_on=(PathPart.HOST_DETAILS,),
)
def migration_mtu(context: Context) -> tuple[Finding, ...]:
    """Jumbo frames speed up live migration only when every hop agrees on them; a mismatch shows
    as slow or stalled moves, not as an error. No Microsoft rule names an MTU for live migration,
    so this check only shows the values seen, never a verdict."""
    return each_own_findings(context, _mtu_seen)


def _mtu_seen(host: HostFacts, role: str) -> Iterator[Finding]:
    """What :func:`migration_mtu` shows of one host: its own facts alone decide."""
    incoming = set(incoming_addresses(host, role))
    adapters = [
        a for a in RequiredFacts(host, role).network.adapters if not incoming.isdisjoint(x.address for x in a.addresses)
    ]
    seen = {a.name: a.mtu for a in adapters}
    values = ", ".join(
        f"adapter '{name}' MTU {mtu if mtu is not None else 'not reported'}" for name, mtu in seen.items()
    )
    yield info(f"{host.name}: {values or 'no adapter carries a migration address'}", role, evidence={"mtu": seen})


GET_NET_FIREWALL_RULE = "https://learn.microsoft.com/powershell/module/netsecurity/get-netfirewallrule"
GET_NET_CONNECTION_PROFILE = "https://learn.microsoft.com/powershell/module/netconnection/get-netconnectionprofile"


@dataclass(frozen=True)
class FirewallRuleEvidence:
    present: bool
    enabled: bool | None
    uncovered: list[str] = field(default_factory=list)
    """Migration adapters whose firewall profile the enabled rule is not assigned to."""


@dataclass(frozen=True)
class _AdapterFirewall:
    """How Windows Firewall treats TCP 6600 arriving on one of the destination's migration adapters."""

    adapter: str
    profile: str
    addresses: frozenset[str]
    firewall_on: bool
    covered: bool | None
    """Whether the enabled built-in rule is assigned to this profile; None when the rule's profiles are unknown."""

    @property
    def admits(self) -> bool:
        return not self.firewall_on or self.covered is not False

    def label(self) -> str:
        return f"'{self.adapter}' ({self.profile} profile)"


def _migration_adapters_firewall(dest: HostFacts) -> list[_AdapterFirewall] | None:
    """Per migration adapter of the destination: its firewall profile (from its network category),
    whether that profile's firewall is on, and whether the enabled rule covers it. None when the
    facts predate profiles (no network category): the rule alone is judged then."""
    network = dest.network
    rule = network.migration_firewall_rule if network is not None else None
    if network is None or rule is None or dest.migration is None:
        return None
    incoming = set(incoming_addresses(dest, "destination"))
    adapters = [a for a in network.adapters if not incoming.isdisjoint(x.address for x in a.addresses)]
    if not adapters or any(a.network_category is None for a in adapters):
        return None
    states = {p.name.casefold(): p.enabled for p in rule.profiles or []}
    covers = rule.applies_to()
    result = []
    for adapter in adapters:
        profile = CATEGORY_PROFILE[adapter.network_category or "Public"]
        enabled = bool(rule.present and rule.enabled)
        covered = (profile in covers if covers is not None else None) if enabled else False
        result.append(
            _AdapterFirewall(
                adapter.name,
                profile,
                frozenset(x.address for x in adapter.addresses),
                states.get(profile.casefold(), True),
                covered,
            )
        )
    return result


def _uncovered_profile(dest: HostFacts, address: str) -> _AdapterFirewall | None:
    """The migration adapter carrying ``address`` when the enabled rule does not cover its profile."""
    rule = dest.network.migration_firewall_rule if dest.network else None
    if rule is None or not (rule.present and rule.enabled):
        return None
    for adapter in _migration_adapters_firewall(dest) or []:
        if address in adapter.addresses and not adapter.admits:
            return adapter
    return None


def _enable_firewall_rule(finding: Finding, host: HostFacts) -> FixStep:
    evidence = finding.evidence_as(FirewallRuleEvidence)
    rule = ps_literal(FIREWALL_RULE_NAME)
    if evidence.present and evidence.enabled and evidence.uncovered:
        return FixStep(
            "destination",
            f"Assign the {ps_literal(FIREWALL_RULE)} firewall rule to every profile",
            f"[string](Get-NetFirewallRule -Name {rule}).Profile -ne 'Any'",
            f"Set-NetFirewallRule -Name {rule} -Profile Any",
        )
    if not evidence.present:
        return FixStep(
            "destination",
            "Restore the built-in Hyper-V firewall rules",
            manual="The rule is missing entirely: re-add the Hyper-V role's firewall "
            f"rules (reinstalling the role) or create an inbound rule for TCP {MIGRATION_PORT} to vmms.exe.",
        )
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
        powershell=f"Enable-NetFirewallRule -Name {ps_literal(FIREWALL_RULE_NAME)}",
        run_on="the destination host",
    ),
    references=(TROUBLESHOOT_GUIDE, GET_NET_FIREWALL_RULE, GET_NET_CONNECTION_PROFILE),
    fix=_enable_firewall_rule,
    shows_on=(PathPart.TCP_6600,),
)
def firewall_rule(context: Context) -> Iterator[Finding]:
    """Windows Firewall admits incoming migrations through the built-in rule 'Hyper-V
    (MIG-TCP-In)' (Name VIRT-MIGL-In-TCP-NoScope, TCP 6600, vmms.exe). Disabled, the source's
    connection times out (0x8007274C) unless another rule, a GPO or a third-party firewall
    allows it; so when the source's TCP 6600 test got through, the port test decides and the
    disabled rule is only a warning. The rule is read from the active store (GPO rules
    included) and counts only for the profiles it is assigned to: each migration adapter is in
    the profile of its network category (an isolated migration network is usually an
    unidentified network: Public), and a profile whose firewall is off filters nothing.
    Sources: the live-migration troubleshooting article (firewall settings); the NetSecurity
    reference (Get-NetFirewallRule -PolicyStore ActiveStore, Profile) and Get-NetConnectionProfile."""
    verdict = own_view(context.destination, _rule_verdict)
    if isinstance(verdict, Finding):
        yield verdict
        return
    tests = _tests(context.source)
    reached = [t.address for t in tests.values() if t.succeeded and t.address in verdict.blocked] if tests else []
    if reached:
        yield warned(
            f"{verdict.problem}, but {context.source.name} reached TCP 6600 on {', '.join(reached)}: another rule, "
            "a GPO or another firewall allows it",
            "destination",
            fix=verdict.failed.remediation,
            evidence=verdict.failed.evidence,
        )
    else:
        yield verdict.failed


@dataclass(frozen=True)
class _RuleProblem:
    """What :func:`firewall_rule` says of a destination whose rule does not admit TCP 6600 on
    some migration address: the failure, unless the source's test got through to one of them."""

    problem: str
    failed: Finding
    blocked: frozenset[str]
    """The destination's migration addresses the rule does not admit: the source's successful
    TCP 6600 tests to these show that something else lets the connection in."""


def _rule_verdict(host: HostFacts) -> Finding | _RuleProblem:
    """What :func:`firewall_rule` says of the destination by its own facts: the pass, or the
    problem (worked out once per destination: only which of its addresses the source reached
    depends on the source)."""
    rule = need(host.network, "destination.network").migration_firewall_rule
    rule = need(rule, "destination.network.migration_firewall_rule")
    dest = host.name
    state = "enabled" if rule.present and rule.enabled else "disabled" if rule.present else "missing"
    evidence = FirewallRuleEvidence(present=rule.present, enabled=rule.enabled)
    fix = _rule_fix(rule.present, dest)
    adapters = _migration_adapters_firewall(host)
    if adapters is not None:
        blocked = [a for a in adapters if not a.admits]
        if not blocked:
            return passed(
                _admitted_message(dest, state, rule.rule_profiles, adapters), "destination", evidence=evidence
            )
        labels = ", ".join(a.label() for a in blocked)
        if state == "enabled":
            problem = (
                f"{FIREWALL_RULE} on {dest} is enabled only for {rule.rule_profiles}; migration adapter {labels} is not"
            )
            evidence = FirewallRuleEvidence(present=True, enabled=True, uncovered=[a.label() for a in blocked])
            fix = Remediation(
                text=f"Assign the built-in rule to every profile on {dest} (or at least to {labels}).",
                powershell=f"Set-NetFirewallRule -Name {ps_literal(FIREWALL_RULE_NAME)} -Profile Any",
                run_on=dest,
            )
        else:
            problem = f"{FIREWALL_RULE} is {state} on {dest}, and Windows Firewall is on for {labels}"
        incoming = [a for a in incoming_addresses(host, "destination") if any(a in b.addresses for b in blocked)]
    elif state == "enabled":
        return passed(f"{FIREWALL_RULE} is enabled on {dest}", "destination", evidence=evidence)
    else:
        problem = f"{FIREWALL_RULE} is {state} on {dest}"
        incoming = incoming_addresses(host, "destination")
    return _RuleProblem(problem, failed(problem, "destination", fix=fix, evidence=evidence), frozenset(incoming))


def _admitted_message(dest: str, state: str, profiles: str | None, adapters: list[_AdapterFirewall]) -> str:
    off = [a.label() for a in adapters if not a.firewall_on]
    covered = [a.label() for a in adapters if a.firewall_on]
    parts = []
    if covered:
        parts.append(f"{FIREWALL_RULE} is enabled on {dest} for {profiles or 'its profiles'}: {', '.join(covered)}")
    if off:
        prefix = f"{FIREWALL_RULE} is {state} on {dest}, but " if not covered else ""
        parts.append(f"{prefix}Windows Firewall is off for {', '.join(off)}: nothing filters TCP 6600 there")
    return "; ".join(parts)


def _rule_fix(present: bool, dest: str) -> Remediation:
    if present:
        return Remediation(text=f"Enable the built-in rule on {dest}.", powershell=ENABLE_RULE, run_on=dest)
    return Remediation(
        text=f"Allow TCP 6600 into vmms on {dest} (the built-in rule is missing).",
        powershell=(
            "New-NetFirewallRule -Name 'lmpreflight-MIG-TCP-In' -DisplayName 'Live migration (TCP 6600)' "
            "-Direction Inbound -Protocol TCP -LocalPort 6600 -Program '%systemroot%\\system32\\vmms.exe' "
            "-Action Allow"
        ),
        run_on=dest,
    )


@check(
    id="network.ipsec-rules",
    title="IPsec rules on the hosts (information)",
    category=Category.NETWORK,
    severity=Severity.INFO,
    needs=("hosts.network",),
    remediation=Remediation(
        text="If the move times out only between these hosts, check whether an IPsec rule covers TCP 6600.",
        powershell="Get-NetIPsecRule -PolicyStore ActiveStore | Format-Table DisplayName, Enabled, Mode",
        run_on="each host",
    ),
    references=("https://learn.microsoft.com/powershell/module/netsecurity/get-netipsecrule",),
    quotes_destination=True,
)
def ipsec_rules(context: Context) -> Iterator[Finding]:
    """An IPsec connection-security rule that requires authentication between the hosts can
    stop the migration connection, but Microsoft documents no rule for live migration and
    IPsec, so the enabled rules are only shown."""
    for role, host in both_hosts(context):
        ipsec = need(host.network, f"{role}.network").ipsec
        if ipsec is None:
            yield info(f"{host.name}: IPsec rules were not read", role)
        elif ipsec.enabled_rules:
            yield info(
                f"{host.name} has enabled IPsec rules: {', '.join(ipsec.enabled_rules)}",
                role,
                evidence={"enabled_rules": ipsec.enabled_rules},
            )
        else:
            yield passed(f"{host.name} has no enabled IPsec rule", role)
