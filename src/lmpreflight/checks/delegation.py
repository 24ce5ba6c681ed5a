"""Kerberos constrained delegation between the hosts' computer accounts, and the SPNs it names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache

from lmpreflight.checks._helpers import (
    CREDENTIAL_GUARD,
    KCD_OVERVIEW,
    LIVE_MIGRATION_TROUBLESHOOTING,
    PROTECTED_USERS,
    SETUP_GUIDE,
    TROUBLESHOOT_GUIDE,
    each_own_findings,
    need,
    own_findings,
    own_view,
    require_auth,
    selected_vms,
)
from lmpreflight.checks.vm import _is_shared, _share_of, _vm_files
from lmpreflight.escape import ps_array, ps_literal
from lmpreflight.facts.model import ComputerAccount, HostFacts, is_address
from lmpreflight.facts.windows import MIGRATION_SERVICE
from lmpreflight.registry import check
from lmpreflight.vocabulary import (
    Category,
    Context,
    Finding,
    FixStep,
    NotApplicable,
    PathPart,
    Remediation,
    Severity,
    failed,
    info,
    passed,
    warned,
)

TRUSTED_FOR_DELEGATION = 0x80000
"""ADS_UF_TRUSTED_FOR_DELEGATION: unconstrained delegation."""
TRUSTED_TO_AUTH_FOR_DELEGATION = 0x1000000
"""ADS_UF_TRUSTED_TO_AUTHENTICATE_FOR_DELEGATION: 'use any authentication protocol'."""
AD_ADMIN = "a machine with the ActiveDirectory module, as a Domain Admin"
KCD_BLOG = (
    "https://techcommunity.microsoft.com/t5/virtualization/"
    "live-migration-via-constrained-delegation-with-kerberos-in/ba-p/382334"
)


def storage_involved(context: Context) -> bool:
    """cifs delegation is needed when SMB carries the memory or the storage moves too."""
    migration = context.source.migration
    return context.include_storage or (migration is not None and migration.performance_option == "SMB")


def _services(with_cifs: bool) -> list[str]:
    """The services a host delegates to on its peer: migration, and cifs with SMB or storage."""
    return [MIGRATION_SERVICE, "cifs"] if with_cifs else [MIGRATION_SERVICE]


def wanted_spns(target: HostFacts, with_cifs: bool) -> list[str]:
    names = [target.name, target.full_name]
    return [f"{service}/{name}" for service in _services(with_cifs) for name in names]


def delegation_fix(delegating: HostFacts, missing: list[str]) -> Remediation:
    return Remediation(
        text=(
            f"On {delegating.name}'s computer account, trust it for delegation to the specified services only, "
            "using any authentication protocol, and add the missing services. Then purge the hosts' Kerberos "
            "tickets (klist purge -li 0x3e7) or wait for AD replication and new tickets."
        ),
        powershell=(
            f"Set-ADComputer -Identity {ps_literal(delegating.name)} "
            f"-Add @{{'msDS-AllowedToDelegateTo' = {ps_array(missing)}}}"
        ),
        run_on=AD_ADMIN,
    )


def rbcd_fix(delegating: HostFacts, target: HostFacts) -> Remediation:
    return Remediation(
        text=(
            f"Let {target.name} accept delegation from {delegating.name} (resource-based constrained delegation, "
            "which also works across domains); then purge the hosts' Kerberos tickets (klist purge -li 0x3e7)."
        ),
        powershell=(
            f"Set-ADComputer -Identity {ps_literal(target.name)} -PrincipalsAllowedToDelegateToAccount "
            f"(Get-ADComputer -Identity {ps_literal(delegating.name)} -Server {ps_literal(_domain(delegating))})"
        ),
        run_on=f"{AD_ADMIN} of {_domain(target)}",
    )


@dataclass(frozen=True)
class DelegationEvidence:
    """What one direction of delegation lacks, and what the fix may write."""

    missing: list[str]
    wanted: list[str]
    resource_based: bool = False
    resource_based_needed: bool = False
    """Across domains: classic entries cannot work, only resource-based delegation can."""
    usable_name: str | None = None


def _add_delegation(finding: Finding, host: HostFacts) -> FixStep:
    """``host`` is the delegating computer account: the host the finding is about."""
    evidence = finding.evidence_as(DelegationEvidence)
    if evidence.resource_based_needed:
        fix = finding.remediation
        return FixStep(
            "directory",
            f"Let the target accept delegation from {host.name} (resource-based constrained delegation)",
            manual=(fix.text + " " + (fix.powershell or "")).strip() if fix else "Configure resource-based delegation.",
        )
    return _delegation_step(host.name, tuple(evidence.missing))


@lru_cache(maxsize=256)
def _delegation_step(name: str, missing: tuple[str, ...]) -> FixStep:
    """The step that adds ``missing`` to the delegation list of the account ``name``: the same
    for every pair of a source whose VMs' file server it may not delegate to (a fleet builds it
    for every destination)."""
    account = ps_literal(name)
    current = f"(Get-ADComputer -Identity {account} -Properties 'msDS-AllowedToDelegateTo').'msDS-AllowedToDelegateTo'"
    to_add = f"@({ps_array(missing)} | Where-Object {{ @({current}) -notcontains $_ }})"
    return FixStep(
        "directory",
        f"Let {name} delegate to: {', '.join(missing)}",
        f"{to_add}.Count -gt 0",
        f"$add = {to_add}\nSet-ADComputer -Identity {account} -Add @{{'msDS-AllowedToDelegateTo' = $add}}",
    )


@dataclass(frozen=True)
class AccountControlEvidence:
    userAccountControl: int
    trusted_to_auth_for_delegation: bool
    trusted_for_delegation: bool
    resource_based: bool = False


def _allow_protocol_transition(finding: Finding, host: HostFacts) -> FixStep:
    account = ps_literal(host.name)
    identity = f"(Get-ADComputer -Identity {account})"
    if finding.evidence_as(AccountControlEvidence).trusted_for_delegation:
        return FixStep(
            "directory",
            f"Replace {host.name}'s unconstrained delegation with protocol transition",
            f"(Get-ADComputer -Identity {account} -Properties TrustedForDelegation).TrustedForDelegation",
            f"Set-ADAccountControl -Identity {identity} -TrustedForDelegation $false -TrustedToAuthForDelegation $true",
        )
    return FixStep(
        "directory",
        f"Let {host.name} delegate with any authentication protocol",
        f"-not (Get-ADComputer -Identity {account} -Properties TrustedToAuthForDelegation).TrustedToAuthForDelegation",
        f"Set-ADAccountControl -Identity {identity} -TrustedToAuthForDelegation $true",
    )


def _domain(host: HostFacts) -> str:
    if host.directory is not None:
        return host.directory.domain_dns_name
    return host.domain.domain if host.domain is not None else "?"


def _computer(host: HostFacts, role: str) -> ComputerAccount:
    """The host's computer account as AD holds it. A host that was never reached, or whose name
    has no computer account, is a missing fact: no verdict, and no fix that writes to AD for a
    principal nobody saw. (The paths are spelled out only when one is missing: a fleet asks for
    every pair, four times.)"""
    directory = host.directory
    computer = directory.computer if directory is not None else None
    if computer is not None and host.identity is not None:
        return computer
    need(host.identity, f"{role}.identity")
    return need(need(directory, f"{role}.directory").computer, f"{role}.directory.computer")


def rbcd_allows(delegating: ComputerAccount, target: ComputerAccount) -> bool:
    """Whether ``target``'s account lists ``delegating``'s in msDS-AllowedToActOnBehalfOfOtherIdentity."""
    sid = delegating.object_sid
    return sid is not None and sid in (target.allowed_to_act or [])


def cross_domain(context: Context) -> bool:
    source, destination = _domain(context.source), _domain(context.destination)
    return source != destination and source.casefold() != destination.casefold()


def _delegation_findings(context: Context, delegating_role: str) -> Iterator[Finding]:
    """One direction of delegation: RBCD on the target, or classic entries for enough names."""
    back = delegating_role == "destination"
    target_role = "source" if back else "destination"
    delegating, target = (context.destination, context.source) if back else (context.source, context.destination)
    prefix = "moving back will fail: " if back else ""
    computer = _computer(delegating, delegating_role)
    target_computer = _computer(target, target_role)
    with_cifs = storage_involved(context)
    if rbcd_allows(computer, target_computer):
        yield passed(
            f"{target.name} accepts delegation from {delegating.name} (resource-based constrained delegation)",
            delegating_role,
            evidence=DelegationEvidence([], [], resource_based=True),
        )
        return
    have = computer.folded_delegation_targets
    spns = own_view(target, _spns_of, with_cifs)
    wanted = [spn for spn, _ in spns.wanted]
    missing = [spn for spn, folded in spns.wanted if folded not in have]
    across = cross_domain(context)
    evidence = DelegationEvidence(missing, wanted, resource_based_needed=across)
    if across and len(missing) < len(wanted):
        message = (
            f"{prefix}{delegating.name} ({_domain(delegating)}) lists {target.name} ({_domain(target)}) for classic "
            "constrained delegation, which cannot cross domains; use resource-based constrained delegation"
        )
        fix = rbcd_fix(delegating, target)
        yield (warned if back else failed)(message, delegating_role, fix=fix, evidence=evidence)
        return
    if not missing:
        yield passed(
            f"{delegating.name} may delegate to all of {target.name}'s services", delegating_role, evidence=evidence
        )
        return
    usable = [name for name, folded in spns.by_name if have.issuperset(folded)]
    if usable:
        yield warned(
            f"{delegating.name} may delegate to {target.name}'s services only by the name {usable[0]}: start moves "
            f"with -DestinationHost {usable[0]} (other names fail with 0x8009030E)",
            delegating_role,
            fix=delegation_fix(delegating, missing),
            evidence=DelegationEvidence(missing, wanted, usable_name=usable[0]),
        )
    else:
        message = f"{prefix}{delegating.name} may not delegate to {', '.join(missing)}"
        fix = rbcd_fix(delegating, target) if across else delegation_fix(delegating, missing)
        yield (warned if back else failed)(message, delegating_role, fix=fix, evidence=evidence)


@dataclass(frozen=True)
class _TargetSpns:
    """A host's services as a delegating account must list them, worked out once per host."""

    wanted: tuple[tuple[str, str], ...]
    """:func:`wanted_spns`, each with its casefolded form (delegation lists are compared so)."""
    by_name: tuple[tuple[str, frozenset[str]], ...]
    """Each name a move may use (its full name first, then the short name), with its services casefolded:
    delegation works by that name when the account lists all of them."""


def _spns_of(target: HostFacts, with_cifs: bool) -> _TargetSpns:
    services = _services(with_cifs)
    return _TargetSpns(
        wanted=tuple((spn, spn.casefold()) for spn in wanted_spns(target, with_cifs)),
        by_name=tuple(
            (name, frozenset(f"{service}/{name}".casefold() for service in services))
            for name in (target.full_name, target.name)
        ),
    )


@check(
    id="delegation.spns-to-destination",
    title="The source may delegate to the destination's migration services",
    category=Category.DELEGATION,
    severity=Severity.CRITICAL,
    needs=("source.directory", "source.migration", "destination.identity"),
    remediation=Remediation(
        text="Add the destination's migration (and cifs) services to the source computer's delegation list.",
        run_on=AD_ADMIN,
    ),
    references=(SETUP_GUIDE, TROUBLESHOOT_GUIDE, KCD_OVERVIEW),
    fix=_add_delegation,
    shows_on=(PathPart.FORWARD_AUTH,),
)
def spns_to_destination(context: Context) -> Iterator[Finding]:
    """With Kerberos, the source's vmms acts on the user's behalf towards the destination's
    'Microsoft Virtual System Migration Service' (and 'cifs' when storage or SMB is involved;
    setup guide steps 5-9). Either the source computer's msDS-AllowedToDelegateTo lists those
    services, for the name the move will use (FQDN or short name), or the destination's account
    accepts the source through resource-based constrained delegation
    (msDS-AllowedToActOnBehalfOfOtherIdentity). Classic constrained delegation only reaches
    services in the account's own domain, so across domains only the resource-based form works.
    Otherwise the move fails with 0x8009030E or 0x8009030D."""
    require_auth(context, "Kerberos")
    yield from _delegation_findings(context, "source")


@check(
    id="delegation.spns-to-source",
    title="The destination may delegate back to the source (moving the VM back)",
    category=Category.DELEGATION,
    severity=Severity.MEDIUM,
    needs=("destination.directory", "source.migration", "source.identity"),
    remediation=Remediation(
        text="Add the source's migration services to the destination computer's delegation list.",
        run_on=AD_ADMIN,
    ),
    references=(SETUP_GUIDE, KCD_OVERVIEW),
    fix=_add_delegation,
    shows_on=(PathPart.REVERSE_AUTH,),
)
def spns_to_source(context: Context) -> Iterator[Finding]:
    """Delegation is configured per direction (setup guide: repeat the steps for the other
    server). Without the reverse entries the VM moves but cannot be moved back, which admins
    usually discover during the next maintenance window."""
    require_auth(context, "Kerberos")
    yield from _delegation_findings(context, "destination")


@check(
    id="delegation.protocol-transition",
    title='Delegation uses "any authentication protocol" where the move needs it',
    category=Category.DELEGATION,
    severity=Severity.CRITICAL,
    needs=("source.directory", "source.migration", "destination.identity"),
    remediation=Remediation(
        text='Select "Use any authentication protocol" on the computer account\'s Delegation tab.',
        run_on=AD_ADMIN,
    ),
    references=(KCD_BLOG, SETUP_GUIDE),
    fix=_allow_protocol_transition,
    shows_on=((PathPart.FORWARD_AUTH, "source"), (PathPart.REVERSE_AUTH, "destination")),
)
def protocol_transition(context: Context) -> list[Finding]:
    """Since Windows Server 2016, Hyper-V remote management goes through WinRM, which runs as
    NETWORK SERVICE and cannot reach the user's forwardable ticket. Classic constrained
    delegation therefore needs protocol transition ("use any authentication protocol",
    TRUSTED_TO_AUTH_FOR_DELEGATION) for moves started from another machine; with "Kerberos
    only" they fail with 0x8009030E. Moves started on the source host itself have been reported
    to work with "Kerberos only" (so that is a warning with --move-from source), and
    resource-based constrained delegation does not use this flag at all. Unconstrained
    delegation (TRUSTED_FOR_DELEGATION) is not what live migration needs and is blocked by
    Credential Guard.
    Source: Microsoft's virtualization blog on constrained delegation with Kerberos (2017); the setup guide."""
    require_auth(context, "Kerberos")
    remote = not context.starts_on_source()
    source, destination = context.source, context.destination
    findings = _transition_findings(source, "source", destination, "destination", remote)
    if destination.directory is not None and destination.directory.computer is not None:
        findings += _transition_findings(destination, "destination", source, "source", remote)
    return findings


def _transition_findings(host: HostFacts, role: str, peer: HostFacts, peer_role: str, remote: bool) -> list[Finding]:
    """What :func:`protocol_transition` says of ``host``: resource-based delegation from its peer's
    account (judged for each pair), else its own account (worked out once per host)."""
    computer = _computer(host, role)
    if (
        peer.directory is not None
        and peer.directory.computer is not None
        and rbcd_allows(computer, _computer(peer, peer_role))
    ):
        return [
            passed(
                f"{host.name} delegates to {peer.name} through resource-based constrained delegation",
                role,
                evidence=_account_control(computer.user_account_control),
            )
        ]
    return list(own_findings(host, _account_delegation, role, remote))


def _account_control(uac: int) -> AccountControlEvidence:
    return AccountControlEvidence(
        userAccountControl=uac,
        trusted_to_auth_for_delegation=bool(uac & TRUSTED_TO_AUTH_FOR_DELEGATION),
        trusted_for_delegation=bool(uac & TRUSTED_FOR_DELEGATION),
    )


def _account_delegation(host: HostFacts, role: str, remote: bool) -> Iterator[Finding]:
    """What :func:`protocol_transition` says of a host whose peer's account does not accept it by
    resource-based delegation: its own account and where the move starts alone decide."""
    uac = _computer(host, role).user_account_control
    evidence = _account_control(uac)
    identity = f"(Get-ADComputer -Identity {ps_literal(host.name)})"
    if uac & TRUSTED_TO_AUTH_FOR_DELEGATION:
        yield passed(f"{host.name} delegates with any authentication protocol", role, evidence=evidence)
    elif uac & TRUSTED_FOR_DELEGATION:
        yield warned(
            f"{host.name} is trusted for unconstrained delegation: not what live migration needs, and blocked "
            "by Credential Guard; use constrained delegation with any authentication protocol",
            role,
            fix=Remediation(
                text=f"Replace unconstrained delegation on {host.name} with protocol transition.",
                powershell=(
                    f"Set-ADAccountControl -Identity {identity} -TrustedForDelegation $false "
                    "-TrustedToAuthForDelegation $true"
                ),
                run_on=AD_ADMIN,
            ),
            evidence=evidence,
        )
    else:
        fix = Remediation(
            text=f'Set "Use any authentication protocol" on {host.name}\'s computer account.',
            powershell=f"Set-ADAccountControl -Identity {identity} -TrustedToAuthForDelegation $true",
            run_on=AD_ADMIN,
        )
        kerberos_only = f'{host.name}\'s delegation is "Kerberos only" (userAccountControl {uac})'
        if role == "source" and remote:
            yield failed(
                f"{kerberos_only}: moves started from another machine fail with 0x8009030E",
                role,
                fix=fix,
                evidence=evidence,
            )
        elif role == "source":
            yield warned(
                f"{kerberos_only}: moves started on {host.name} are reported to work, but from any other "
                "machine they fail with 0x8009030E",
                role,
                fix=fix,
                evidence=evidence,
            )
        else:
            yield warned(f"moving back may fail: {kerberos_only}", role, fix=fix, evidence=evidence)


@check(
    id="delegation.destination-spns-registered",
    title="The destination's migration SPNs are registered on its account and no other",
    category=Category.DELEGATION,
    severity=Severity.HIGH,
    needs=("destination.directory", "source.migration"),
    remediation=Remediation(
        text="Restart vmms on the destination so it registers its SPNs; remove duplicates from other accounts.",
        powershell="setspn -L HV02; setspn -X; Restart-Service vmms",
        run_on="the destination host (setspn -D as a Domain Admin for duplicates)",
    ),
    references=(
        "https://learn.microsoft.com/troubleshoot/windows-server/virtualization/hyper-v-vmm-service-fails-event-id-14050",
    ),
)
def destination_spns_registered(context: Context) -> Iterator[Finding]:
    """The source asks the KDC for a ticket to 'Microsoft Virtual System Migration
    Service/<destination>'. If the destination's account does not hold that SPN (vmms logs
    event 14050 when it cannot register it), or another account holds it too, the ticket
    is wrong or missing (0x80090322, 0x80090303)."""
    require_auth(context, "Kerberos")
    yield from own_findings(context.destination, _spns_registered)


def _spns_registered(destination: HostFacts) -> Iterator[Finding]:
    """What :func:`destination_spns_registered` says of the destination: its own account and
    directory alone decide."""
    directory = need(destination.directory, "destination.directory")
    computer = need(directory.computer, "destination.directory.computer")
    registered = computer.folded_spns
    wanted = wanted_spns(destination, with_cifs=False)
    missing = [spn for spn in wanted if spn.casefold() not in registered]
    duplicates = {
        holder.spn: [dn for dn in holder.holders if dn.casefold() != computer.distinguished_name.casefold()]
        for holder in directory.migration_spn_holders
    }
    duplicates = {spn: others for spn, others in duplicates.items() if others}
    if missing or duplicates:
        parts = []
        if missing:
            parts.append(f"not registered on {destination.name}: {', '.join(missing)}")
        parts.extend(f"{spn} also held by {', '.join(others)}" for spn, others in duplicates.items())
        yield failed("; ".join(parts), "destination", evidence={"missing": missing, "duplicates": duplicates})
    else:
        scope = {
            "forest": " in the forest",
            "domain": f" in {directory.domain_dns_name} (no Global Catalog of the forest answered; other domains "
            "were not searched)",
        }.get(directory.spn_search_scope or "", "")
        yield passed(f"{destination.name} holds its migration SPNs, and no other account{scope} does", "destination")


@check(
    id="delegation.name-resolution",
    title="Host names resolve to the hosts",
    category=Category.DELEGATION,
    severity=Severity.HIGH,
    needs=("hosts.dns", "hosts.identity"),
    remediation=Remediation(
        text="Fix the hosts' A records so that each name points at its host.",
        run_on="a DNS server, as a DNS administrator",
    ),
    references=(TROUBLESHOOT_GUIDE, LIVE_MIGRATION_TROUBLESHOOTING),
)
def name_resolution(context: Context) -> tuple[Finding, ...]:
    """The hosts must resolve and reach each other by name (troubleshooting guide), and Kerberos
    asks for a ticket to the SPN built from the name the move uses: a name that does not
    resolve fails the move, and one that resolves to another machine yields a ticket for the
    wrong principal (0x80090322). Windows builds the SPN from the name given, without a reverse
    lookup, so a PTR record that names another host is shown for information only."""
    return each_own_findings(context, _names_resolve)


def _names_resolve(host: HostFacts, role: str) -> Iterator[Finding]:
    """What :func:`name_resolution` says of one host: it depends on that host's facts alone."""
    dns = need(host.dns, f"{role}.dns")
    identity = need(host.identity, f"{role}.identity")
    own = set(identity.addresses)
    problems: list[str] = []
    for record in dns.forward:
        if record.error:
            problems.append(f"{record.name} does not resolve on {dns.server} ({record.error})")
        elif not own.intersection(record.addresses):
            problems.append(f"{record.name} resolves to {', '.join(record.addresses)}, not to {host.name}")
    notes = []
    for reverse in dns.reverse:
        names = {n.rstrip(".").casefold() for n in reverse.names}
        if reverse.error or identity.fqdn.casefold() not in names:
            notes.append(
                f"PTR of {reverse.address} is {', '.join(reverse.names) or reverse.error or 'missing'}, "
                f"not {identity.fqdn}"
            )
    evidence = {
        "forward": [r.model_dump() for r in dns.forward],
        "reverse": [r.model_dump() for r in dns.reverse],
    }
    if problems:
        yield failed(
            f"{host.name}: " + "; ".join(problems),
            role,
            fix=Remediation(
                text=f"Register {identity.fqdn} in DNS with {host.name}'s management address.",
                powershell="ipconfig /registerdns",
                run_on=host.name,
            ),
            evidence=evidence,
        )
    elif notes:
        yield info(
            f"{host.name}: " + "; ".join(notes) + " (Kerberos does not use PTR records)", role, evidence=evidence
        )
    else:
        yield passed(f"{host.name}'s names and addresses agree in DNS", role, evidence=evidence)


@check(
    id="delegation.user-delegable",
    title="The account that moves may be delegated (not sensitive, not in Protected Users)",
    category=Category.DELEGATION,
    severity=Severity.HIGH,
    needs=("source.directory", "source.migration"),
    remediation=Remediation(
        text=(
            "Start moves with an account that is not in Protected Users and not marked 'Account is sensitive and "
            "cannot be delegated'."
        ),
        run_on=AD_ADMIN,
    ),
    references=(PROTECTED_USERS, CREDENTIAL_GUARD),
)
def user_delegable(context: Context) -> Iterator[Finding]:
    """Members of Protected Users cannot be delegated with unconstrained or constrained
    delegation, and CredSSP does not keep their plain-text credentials, so neither Kerberos nor
    CredSSP live migration can act for them. An account marked 'sensitive and cannot be
    delegated' never gets a ticket another service may use on its behalf, which the Kerberos
    move needs. This is read for the account lmpreflight ran as: check the account that will
    start the move if it is another one.
    Source: Protected Users Security Group; Credential Guard known issues."""
    auth = need(context.source.migration, "source.migration").authentication_type
    user = need(context.source.directory, "source.directory").user
    if user is None:
        yield info(
            f"the account lmpreflight ran as is not in {context.source.directory.domain_dns_name if context.source.directory else '?'}; "
            "check the moving account's delegation flags by hand",
            "source",
        )
        return
    evidence = {"user": user.sam_account_name, "sensitive": user.sensitive, "protected_users": user.protected_users}
    if user.protected_users:
        yield failed(
            f"{user.sam_account_name} is in Protected Users: it can be delegated neither by Kerberos nor by CredSSP, "
            "so moves it starts fail",
            "source",
            fix=Remediation(
                text=f"Use another account for moves, or remove {user.sam_account_name} from Protected Users.",
                powershell=f"Remove-ADGroupMember -Identity 'Protected Users' -Members {ps_literal(user.sam_account_name)}",
                run_on=AD_ADMIN,
            ),
            evidence=evidence,
        )
    elif user.sensitive and auth == "Kerberos":
        yield failed(
            f"{user.sam_account_name} is 'sensitive and cannot be delegated': Kerberos moves it starts fail",
            "source",
            fix=Remediation(
                text=f"Use another account for moves, or clear the flag on {user.sam_account_name}.",
                powershell=f"Set-ADAccountControl -Identity {ps_literal(user.sam_account_name)} -AccountNotDelegated $false",
                run_on=AD_ADMIN,
            ),
            evidence=evidence,
        )
    elif user.sensitive:
        yield warned(
            f"{user.sam_account_name} is 'sensitive and cannot be delegated'; with CredSSP this is not documented "
            "to block moves, but Kerberos moves would fail",
            "source",
            evidence=evidence,
        )
    elif user.protected_users is None:
        yield info(
            f"{user.sam_account_name} may be delegated; its Protected Users membership could not be read",
            "source",
            evidence=evidence,
        )
    else:
        yield passed(f"{user.sam_account_name} may be delegated", "source", evidence=evidence)


SMB_DELEGATION = "https://learn.microsoft.com/powershell/module/smbshare/get-smbdelegation"


def _share_servers(context: Context) -> dict[str, list[tuple[str, str]]]:
    """File server (as the first UNC path names it) → (VM, share) pairs of the selected VMs
    whose files are on SMB shares."""
    servers: dict[str, list[tuple[str, str]]] = {}
    spelled: dict[str, str] = {}
    for name, vm in selected_vms(context):
        if vm is None:
            continue
        for share in dict.fromkeys(_share_of(p) for p in _vm_files(vm) if _is_shared(p)):
            server = share[2:].split("\\", 1)[0]
            key = spelled.setdefault(server.casefold(), server)
            servers.setdefault(key, []).append((name, share))
    return servers


CIFS_ENTRIES_SHOWN = 10
"""cifs/ entries a message names before "and N more": a host in a fleet delegates to hundreds."""


def _cifs_entries(computer: ComputerAccount) -> str:
    """The account's cifs/ delegation entries as a message lists them (picked once per list, not per pair)."""
    entries = _cifs_of(tuple(computer.allowed_to_delegate_to))
    shown = ", ".join(entries[:CIFS_ENTRIES_SHOWN]) or "none"
    more = len(entries) - CIFS_ENTRIES_SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


@lru_cache(maxsize=4096)
def _cifs_of(spns: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(spn for spn in spns if spn.casefold().startswith("cifs/"))


def _server_names(server: str, domain: str) -> list[str]:
    """The short name and the FQDN of a file server as a UNC path names it (either form)."""
    short = server.split(".", 1)[0]
    return [short, server if "." in server else f"{server}.{domain}"]


@check(
    id="delegation.smb-share-server",
    title="The source may delegate to the file server of VMs on SMB shares",
    category=Category.DELEGATION,
    severity=Severity.HIGH,
    needs=("source.directory", "source.migration", "source.vms"),
    remediation=Remediation(
        text="Add the file server's cifs service to the source computer's delegation list.",
        run_on=AD_ADMIN,
    ),
    references=(SETUP_GUIDE, SMB_DELEGATION, KCD_OVERVIEW),
    fix=_add_delegation,
    shows_on=(PathPart.FORWARD_AUTH,),
    quotes_destination=True,
)
def smb_share_server(context: Context) -> Iterator[Finding]:
    """A VM whose files live on an SMB share is opened by the source's vmms on the file server
    on the user's behalf. When the move is started from another machine (Kerberos), that is a
    second hop: the source computer must be allowed to delegate to the file server's cifs
    service, for the name the UNC path uses (msDS-AllowedToDelegateTo cifs/<server> and
    cifs/<server FQDN>), or the file server must accept the source by resource-based
    delegation (what Enable-SmbDelegation sets). The file server's own account is not read, so
    a missing classic entry is a warning, not a failure. A move started on the source itself
    uses the user's own logon there and needs no delegation. The destination's computer
    account also needs Full Control on the share and its folders; that ACL cannot be read over
    WinRM without a double hop, so it is stated, never judged.
    Source: the setup guide, step 9 ("If the server is configured to use SMB storage for
    Hyper-V, this should already be selected", of cifs); Get-SmbDelegation ("Delegation
    allows a user who remotes into an SMB client to perform operations on a remote SMB
    server"; resource-based delegation only)."""
    require_auth(context, "Kerberos")
    servers = _share_servers(context)
    if not servers:
        raise NotApplicable("no selected VM has files on an SMB share")
    computer = _computer(context.source, "source")
    source = context.source.name
    acl_note = (
        f"{context.destination.name}'s computer account needs Full Control on the share and its folders "
        "(not read: that ACL is out of reach over WinRM without a double hop)"
    )
    have = computer.folded_delegation_targets
    for server, uses in servers.items():
        seen = "; ".join(f"{vm} on {share}" for vm, share in uses)
        if is_address(server):
            yield info(
                f"{seen}: the share is named by address, for which Kerberos issues no ticket; name {server}'s "
                f"file server by its DNS name to move by Kerberos; {acl_note}",
                "source",
            )
            continue
        wanted = [f"cifs/{name}" for name in _server_names(server, _domain(context.source))]
        missing = [spn for spn in wanted if spn.casefold() not in have]
        evidence = DelegationEvidence(missing, wanted)
        if context.starts_on_source():
            yield passed(
                f"{seen}: the move starts on {source}, so the user's own session reaches {server} and no delegation "
                f"to it is needed; {acl_note}",
                "source",
                evidence=evidence,
            )
        elif not missing:
            yield passed(
                f"{seen}: {source} may delegate to {', '.join(wanted)}; {acl_note}", "source", evidence=evidence
            )
        else:
            yield warned(
                f"{seen}: {source} may not delegate to {', '.join(missing)} (its cifs entries: "
                f"{_cifs_entries(computer)}); a move started elsewhere cannot open the VM's files unless "
                f"{server} accepts {source} by resource-based delegation (not read); {acl_note}",
                "source",
                fix=delegation_fix(context.source, missing),
                evidence=evidence,
            )
