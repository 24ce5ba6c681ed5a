"""Kerberos constrained delegation between the hosts' computer accounts, and the SPNs it names."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lmpreflight.checks._helpers import (
    SETUP_GUIDE,
    TROUBLESHOOT_GUIDE,
    fqdn_of,
    need,
    require_auth,
)
from lmpreflight.escape import ps_array, ps_literal
from lmpreflight.facts.model import HostFacts
from lmpreflight.facts.windows import MIGRATION_SERVICE
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


def wanted_spns(target: HostFacts, with_cifs: bool) -> list[str]:
    names = [target.name, fqdn_of(target)]
    services = [MIGRATION_SERVICE, "cifs"] if with_cifs else [MIGRATION_SERVICE]
    return [f"{service}/{name}" for service in services for name in names]


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


@dataclass(frozen=True)
class DelegationEvidence:
    missing: list[str]
    wanted: list[str]


def _add_delegation(finding: Finding, host: HostFacts) -> FixStep:
    """``host`` is the delegating computer account: the host the finding is about."""
    missing = finding.evidence_as(DelegationEvidence).missing
    account = ps_literal(host.name)
    current = f"(Get-ADComputer -Identity {account} -Properties 'msDS-AllowedToDelegateTo').'msDS-AllowedToDelegateTo'"
    return FixStep(
        "directory",
        f"Let {host.name} delegate to: {', '.join(missing)}",
        f"@({ps_array(missing)} | Where-Object {{ @({current}) -notcontains $_ }}).Count -gt 0",
        f"$add = @({ps_array(missing)} | Where-Object {{ @({current}) -notcontains $_ }})\n"
        f"Set-ADComputer -Identity {account} -Add @{{'msDS-AllowedToDelegateTo' = $add}}",
    )


def _missing_delegation(delegating: HostFacts, target: HostFacts, role: str, with_cifs: bool) -> list[str]:
    computer = need(need(delegating.directory, f"{role}.directory").computer, f"{role}.directory.computer")
    have = {spn.casefold() for spn in computer.allowed_to_delegate_to}
    return [spn for spn in wanted_spns(target, with_cifs) if spn.casefold() not in have]


@check(
    id="delegation.spns-to-destination",
    title="The source may delegate to the destination's migration services",
    category=Category.DELEGATION,
    severity=Severity.CRITICAL,
    needs=("source.directory", "source.migration"),
    remediation=Remediation(
        text="Add the destination's migration (and cifs) services to the source computer's delegation list.",
        powershell=(
            "Set-ADComputer -Identity 'HV01' -Add @{'msDS-AllowedToDelegateTo' = "
            "@('Microsoft Virtual System Migration Service/HV02', "
            "'Microsoft Virtual System Migration Service/HV02.corp.example')}"
        ),
        run_on=AD_ADMIN,
    ),
    references=(SETUP_GUIDE, TROUBLESHOOT_GUIDE),
    fix=_add_delegation,
    shows_on=(PathPart.FORWARD_AUTH,),
)
def spns_to_destination(context: Context) -> Iterator[Finding]:
    """With Kerberos, the source's vmms acts on the user's behalf towards the destination's
    'Microsoft Virtual System Migration Service' (and 'cifs' when storage or SMB is involved).
    Only services listed in the source computer's msDS-AllowedToDelegateTo may be reached;
    a missing entry fails the move with 0x8009030E or 0x8009030D."""
    require_auth(context, "Kerberos")
    with_cifs = storage_involved(context)
    missing = _missing_delegation(context.source, context.destination, "source", with_cifs)
    evidence = DelegationEvidence(missing, wanted_spns(context.destination, with_cifs))
    if missing:
        yield failed(
            f"{context.source.name} may not delegate to {', '.join(missing)}",
            "source",
            fix=delegation_fix(context.source, missing),
            evidence=evidence,
        )
    else:
        yield passed(
            f"{context.source.name} may delegate to all of {context.destination.name}'s services",
            "source",
            evidence=evidence,
        )


@check(
    id="delegation.spns-to-source",
    title="The destination may delegate back to the source (moving the VM back)",
    category=Category.DELEGATION,
    severity=Severity.MEDIUM,
    needs=("destination.directory", "source.migration"),
    remediation=Remediation(
        text="Add the source's migration services to the destination computer's delegation list.",
        run_on=AD_ADMIN,
    ),
    references=(SETUP_GUIDE,),
    fix=_add_delegation,
    shows_on=(PathPart.REVERSE_AUTH,),
)
def spns_to_source(context: Context) -> Iterator[Finding]:
    """Delegation is configured per direction. Without the reverse entries the VM moves but
    cannot be moved back, which admins usually discover during the next maintenance window."""
    require_auth(context, "Kerberos")
    with_cifs = storage_involved(context)
    missing = _missing_delegation(context.destination, context.source, "destination", with_cifs)
    evidence = DelegationEvidence(missing, wanted_spns(context.source, with_cifs))
    if missing:
        yield warned(
            f"moving back will fail: {context.destination.name} may not delegate to {', '.join(missing)}",
            "destination",
            fix=delegation_fix(context.destination, missing),
            evidence=evidence,
        )
    else:
        yield passed(
            f"{context.destination.name} may delegate back to {context.source.name}", "destination", evidence=evidence
        )


@dataclass(frozen=True)
class AccountControlEvidence:
    userAccountControl: int
    trusted_to_auth_for_delegation: bool
    trusted_for_delegation: bool


def _allow_protocol_transition(finding: Finding, host: HostFacts) -> FixStep:
    if finding.evidence_as(AccountControlEvidence).trusted_for_delegation:
        return FixStep(
            "directory",
            "Replace unconstrained delegation",
            manual="The account is trusted for unconstrained delegation. Clear 'Trust this "
            "computer for delegation to any service' in Active Directory Users and Computers "
            "and configure constrained delegation with any authentication protocol.",
        )
    account = ps_literal(host.name)
    return FixStep(
        "directory",
        f"Let {host.name} delegate with any authentication protocol",
        f"-not (Get-ADComputer -Identity {account} -Properties TrustedToAuthForDelegation).TrustedToAuthForDelegation",
        f"Set-ADAccountControl -Identity (Get-ADComputer -Identity {account}) -TrustedToAuthForDelegation $true",
    )


@check(
    id="delegation.protocol-transition",
    title='Delegation uses "any authentication protocol", not "Kerberos only"',
    category=Category.DELEGATION,
    severity=Severity.CRITICAL,
    needs=("source.directory", "source.migration"),
    remediation=Remediation(
        text='Select "Use any authentication protocol" on the computer account\'s Delegation tab.',
        powershell="Set-ADAccountControl -Identity (Get-ADComputer -Identity 'HV01') -TrustedToAuthForDelegation $true",
        run_on=AD_ADMIN,
    ),
    references=(KCD_BLOG, SETUP_GUIDE),
    fix=_allow_protocol_transition,
    shows_on=((PathPart.FORWARD_AUTH, "source"), (PathPart.REVERSE_AUTH, "destination")),
)
def protocol_transition(context: Context) -> Iterator[Finding]:
    """Since Windows Server 2016, Hyper-V remote management goes through WinRM, which runs as
    NETWORK SERVICE and cannot reach the user's forwardable ticket. Constrained delegation
    therefore needs protocol transition ("use any authentication protocol",
    TRUSTED_TO_AUTH_FOR_DELEGATION); with "Kerberos only" moves fail with 0x8009030E.
    Unconstrained delegation (TRUSTED_FOR_DELEGATION) is not what live migration needs and
    is blocked by Credential Guard."""
    require_auth(context, "Kerberos")
    for role, host, status in (
        ("source", context.source, "fail"),
        ("destination", context.destination, "warn"),
    ):
        directory = host.directory if role == "destination" else need(host.directory, "source.directory")
        if directory is None:
            continue
        computer = need(directory.computer, f"{role}.directory.computer")
        uac = computer.user_account_control
        evidence = AccountControlEvidence(
            userAccountControl=uac,
            trusted_to_auth_for_delegation=bool(uac & TRUSTED_TO_AUTH_FOR_DELEGATION),
            trusted_for_delegation=bool(uac & TRUSTED_FOR_DELEGATION),
        )
        fix = Remediation(
            text=f'Set "Use any authentication protocol" on {host.name}\'s computer account.',
            powershell=(
                f"Set-ADAccountControl -Identity (Get-ADComputer -Identity {ps_literal(host.name)}) "
                "-TrustedToAuthForDelegation $true"
            ),
            run_on=AD_ADMIN,
        )
        if uac & TRUSTED_TO_AUTH_FOR_DELEGATION:
            yield passed(f"{host.name} delegates with any authentication protocol", role, evidence=evidence)
        elif uac & TRUSTED_FOR_DELEGATION:
            yield warned(
                f"{host.name} is trusted for unconstrained delegation: not what live migration needs, and blocked by Credential Guard; use constrained delegation with any authentication protocol",
                role,
                fix=fix,
                evidence=evidence,
            )
        else:
            message = (
                f'{host.name}\'s delegation is "Kerberos only" (userAccountControl {uac}); moves fail with 0x8009030E'
            )
            if status == "fail":
                yield failed(message, role, fix=fix, evidence=evidence)
            else:
                yield warned(f"moving back will fail: {message}", role, fix=fix, evidence=evidence)


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
    directory = context.required("destination").directory
    computer = need(directory.computer, "destination.directory.computer")
    registered = {spn.casefold() for spn in computer.service_principal_names}
    wanted = wanted_spns(context.destination, with_cifs=False)
    missing = [spn for spn in wanted if spn.casefold() not in registered]
    duplicates = {
        holder.spn: [dn for dn in holder.holders if dn.casefold() != computer.distinguished_name.casefold()]
        for holder in directory.migration_spn_holders
    }
    duplicates = {spn: others for spn, others in duplicates.items() if others}
    if missing or duplicates:
        parts = []
        if missing:
            parts.append(f"not registered on {context.destination.name}: {', '.join(missing)}")
        parts.extend(f"{spn} also held by {', '.join(others)}" for spn, others in duplicates.items())
        yield failed("; ".join(parts), "destination", evidence={"missing": missing, "duplicates": duplicates})
    else:
        yield passed(f"{context.destination.name} holds its migration SPNs, and no other account does", "destination")


@check(
    id="delegation.name-resolution",
    title="Host names resolve forward and reverse to the same host",
    category=Category.DELEGATION,
    severity=Severity.MEDIUM,
    needs=("hosts.dns", "hosts.identity"),
    remediation=Remediation(
        text="Fix the hosts' A and PTR records so that each name and address point at each other.",
        powershell="Add-DnsServerResourceRecordPtr -ZoneName '0.10.in-addr.arpa' -Name '11.0' -PtrDomainName 'hv01.corp.example'",
        run_on="a DNS server, as a DNS administrator",
    ),
    references=(TROUBLESHOOT_GUIDE,),
)
def name_resolution(context: Context) -> Iterator[Finding]:
    """Kerberos asks for a ticket to the SPN built from the name the source uses for the
    destination. A name that resolves to another machine, or an address whose PTR names
    another host, yields a ticket for the wrong principal (0x80090322)."""
    for role, host in (("source", context.source), ("destination", context.destination)):
        dns = context.required(role).dns
        identity = context.required(role).identity
        own = set(identity.addresses)
        problems: list[str] = []
        for record in dns.forward:
            if record.error:
                problems.append(f"{record.name} does not resolve ({record.error})")
            elif not own.intersection(record.addresses):
                problems.append(f"{record.name} resolves to {', '.join(record.addresses)}, not to {host.name}")
        for reverse in dns.reverse:
            names = {n.rstrip(".").casefold() for n in reverse.names}
            if reverse.error or identity.fqdn.casefold() not in names:
                problems.append(
                    f"PTR of {reverse.address} is {', '.join(reverse.names) or reverse.error or 'missing'}, "
                    f"not {identity.fqdn}"
                )
        evidence = {
            "forward": [r.model_dump() for r in dns.forward],
            "reverse": [r.model_dump() for r in dns.reverse],
        }
        if problems:
            yield warned(f"{host.name}: " + "; ".join(problems), role, evidence=evidence)
        else:
            yield passed(f"{host.name}'s names and addresses agree in DNS", role, evidence=evidence)
