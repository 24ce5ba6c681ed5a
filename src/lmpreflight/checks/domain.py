"""Domain and identity: membership, trust, domain controllers, secure channel, clocks."""

from __future__ import annotations

from collections.abc import Iterator

from lmpreflight.checks._helpers import SETUP_GUIDE, both_hosts
from lmpreflight.facts.model import HostFacts, Trust
from lmpreflight.registry import check
from lmpreflight.vocabulary import (
    Category,
    Context,
    Finding,
    MissingFact,
    PathPart,
    Remediation,
    Severity,
    failed,
    passed,
    warned,
)

KERBEROS_SKEW_LIMIT = 300.0
"""Kerberos's default maximum tolerance for computer clock synchronization: 5 minutes."""
SKEW_WARNING = 60.0
SKEW_REFERENCE = (
    "https://learn.microsoft.com/previous-versions/windows/it-pro/windows-10/security/threat-protection/"
    "security-policy-settings/maximum-tolerance-for-computer-clock-synchronization"
)
INTRA_FOREST = {"ParentChild", "TreeRoot"}


@check(
    id="domain.members",
    title="Both hosts are members of an Active Directory domain",
    category=Category.DOMAIN,
    severity=Severity.CRITICAL,
    needs=("hosts.domain",),
    remediation=Remediation(
        text="Join the host to the domain and restart it.",
        powershell="Add-Computer -DomainName 'corp.example' -Credential (Get-Credential) -Restart",
        run_on="each host that is not a member",
    ),
    references=(SETUP_GUIDE,),
)
def members(context: Context) -> Iterator[Finding]:
    """Live migration outside a cluster authenticates host to host with the computer
    accounts (Kerberos) or the user's domain credentials (CredSSP); Hyper-V will not even
    enable live migration on a workgroup host."""
    for role, host in both_hosts(context):
        domain = context.required(role).domain
        if domain.part_of_domain:
            yield passed(f"{host.name} is a member of {domain.domain}", role, evidence={"domain": domain.domain})
        else:
            yield failed(
                f"{host.name} is not domain-joined (workgroup {domain.domain})",
                role,
                evidence={"domain": domain.domain},
            )


def _trusts(host: HostFacts, partner: str) -> list[Trust]:
    directory = host.directory
    if directory is None:
        return []
    return [t for t in directory.trusts if t.partner.casefold() == partner.casefold()]


def _trusting(context: Context, source_domain: str, dest_domain: str) -> tuple[bool, bool, list[Trust]]:
    """Whether the destination's domain trusts the source's (forward) and vice versa (reverse).

    A trust is seen from the domain that holds it: ``Outbound`` means "we trust them",
    ``Inbound`` means "they trust us". The source's view and the destination's view are
    combined, because either side's directory may be the one that was readable.
    """
    forward = reverse = False
    seen = _trusts(context.source, dest_domain) + _trusts(context.destination, source_domain)
    for trust in _trusts(context.source, dest_domain):
        if trust.direction in ("Inbound", "Bidirectional") or trust.trust_type in INTRA_FOREST:
            forward = True
        if trust.direction in ("Outbound", "Bidirectional") or trust.trust_type in INTRA_FOREST:
            reverse = True
    for trust in _trusts(context.destination, source_domain):
        if trust.direction in ("Outbound", "Bidirectional") or trust.trust_type in INTRA_FOREST:
            forward = True
        if trust.direction in ("Inbound", "Bidirectional") or trust.trust_type in INTRA_FOREST:
            reverse = True
    return forward, reverse, seen


@check(
    id="domain.same-or-trusted",
    title="The hosts are in one domain or in domains that trust each other",
    category=Category.DOMAIN,
    severity=Severity.CRITICAL,
    needs=("hosts.domain",),
    remediation=Remediation(
        text=(
            "Put both hosts in one domain, or create a two-way trust between their domains. Across domains, "
            "Kerberos moves need resource-based constrained delegation on the destination's computer account."
        ),
        powershell=(
            "Set-ADComputer -Identity 'HV02' -PrincipalsAllowedToDelegateToAccount (Get-ADComputer -Identity 'HV01' "
            "-Server 'source.domain')"
        ),
        run_on="a machine with the AD module, as Domain Admin of the destination's domain",
    ),
    references=(
        SETUP_GUIDE,
        "https://learn.microsoft.com/windows-server/security/kerberos/kerberos-constrained-delegation-overview",
    ),
    shows_on=(PathPart.FORWARD_AUTH, PathPart.REVERSE_AUTH),
)
def same_or_trusted(context: Context) -> Iterator[Finding]:
    """The source's computer account (Kerberos) or the user (CredSSP) must authenticate to the
    destination: the destination's domain must trust the source's. Moving back needs the
    reverse. Classic constrained delegation only names services in the account's own domain,
    so a cross-domain Kerberos pair needs resource-based constrained delegation instead."""
    source = context.required("source").domain
    dest = context.required("destination").domain
    evidence: dict[str, object] = {"source_domain": source.domain, "destination_domain": dest.domain}
    if source.domain.casefold() == dest.domain.casefold():
        yield passed(f"both hosts are in {source.domain}", evidence=evidence)
        return
    if context.source.directory is None and context.destination.directory is None:
        raise MissingFact("source.directory")
    forward, reverse, seen = _trusting(context, source.domain, dest.domain)
    evidence["trusts"] = [t.model_dump() for t in seen]
    if not forward:
        yield failed(
            f"{dest.domain} does not trust {source.domain}: {context.source.name} cannot authenticate to {context.destination.name}",
            evidence=evidence,
        )
        return
    auth = context.source.migration.authentication_type if context.source.migration else None
    if auth == "Kerberos":
        yield warned(
            f"cross-domain pair ({source.domain} → {dest.domain}) with Kerberos: classic constrained delegation does not cross domains; configure resource-based constrained delegation on the destination",
            evidence=evidence,
        )
    elif not reverse:
        yield warned(
            f"{dest.domain} trusts {source.domain} but not the other way: moving the VM back will fail",
            evidence=evidence,
        )
    else:
        yield passed(f"{source.domain} and {dest.domain} trust each other", evidence=evidence)


@check(
    id="domain.dc-discovery",
    title="Domain controllers can be found through DNS",
    category=Category.DOMAIN,
    severity=Severity.HIGH,
    needs=("hosts.dns", "hosts.domain"),
    remediation=Remediation(
        text="Point the hosts at DNS servers that hold the domain's _msdcs zone, and re-register the DC records.",
        powershell="nltest /dsgetdc:corp.example; ipconfig /registerdns",
        run_on="the host, and 'net stop netlogon; net start netlogon' on a DC whose records are missing",
    ),
    references=("https://learn.microsoft.com/windows-server/identity/ad-ds/manage/dc-locator",),
)
def dc_discovery(context: Context) -> Iterator[Finding]:
    """Kerberos tickets, delegation and secure channels all need a reachable DC, found
    through the SRV record _ldap._tcp.dc._msdcs.<domain>. Without it authentication fails
    with 0x80090311 ("no authority could be contacted"). lmpreflight also asks a DC over LDAP:
    whether one answered is shown too."""
    for role, host in both_hosts(context):
        dns = context.required(role).dns
        domain = context.required(role).domain.domain
        targets = [f"{t.target}:{t.port}" for t in dns.dc_srv]
        evidence = {"server": dns.server, "srv": targets}
        if not targets:
            yield failed(
                f"no SRV record _ldap._tcp.dc._msdcs.{domain} on {dns.server}: {dns.dc_srv_error or 'empty answer'}",
                role,
                evidence={**evidence, "error": dns.dc_srv_error},
            )
            continue
        unreachable = host.error_for("directory") if host.directory is None else None
        if unreachable is not None and unreachable.message.startswith("no domain controller"):
            yield warned(
                f"DCs for {domain} are published ({', '.join(targets)}) but none answered: {unreachable.message}",
                role,
                evidence=evidence,
            )
        elif host.directory is not None:
            yield passed(
                f"DCs for {domain}: {', '.join(targets)} (via {dns.server}); "
                f"{host.directory.domain_controller} answered",
                role,
                evidence=evidence,
            )
        else:
            yield passed(f"DCs for {domain}: {', '.join(targets)} (via {dns.server})", role, evidence=evidence)


@check(
    id="domain.secure-channel",
    title="Each host's secure channel to the domain works",
    category=Category.DOMAIN,
    severity=Severity.HIGH,
    needs=("hosts.domain",),
    remediation=Remediation(
        text="Repair the computer account's secure channel (needs a domain account allowed to reset it).",
        powershell="Test-ComputerSecureChannel -Repair -Credential (Get-Credential)",
        run_on="each failing host",
    ),
    references=(
        "https://learn.microsoft.com/powershell/module/microsoft.powershell.management/test-computersecurechannel",
    ),
)
def secure_channel(context: Context) -> Iterator[Finding]:
    """A broken secure channel means the host's computer account password no longer matches
    AD: Kerberos service tickets for it cannot be decrypted and every delegated move fails."""
    for role, host in both_hosts(context):
        domain = context.required(role).domain
        if not domain.part_of_domain:
            yield warned(f"{host.name} is not domain-joined; no secure channel to test", role)
        elif domain.secure_channel_ok is None:
            yield warned(
                f"secure channel of {host.name} not tested: {domain.secure_channel_error or 'no result'}",
                role,
            )
        elif domain.secure_channel_ok:
            yield passed(f"{host.name}'s secure channel to {domain.domain} works", role)
        else:
            yield failed(
                f"{host.name}'s secure channel to {domain.domain} is broken: {domain.secure_channel_error or ''}".strip(),
                role,
                evidence={"error": domain.secure_channel_error},
            )


def _skew_finding(seconds: float, what: str, subject: str, **evidence: object) -> Finding:
    if seconds >= KERBEROS_SKEW_LIMIT:
        return failed(
            f"{what} differ by {seconds:.0f} s; Kerberos rejects tickets at 300 s (5 minutes)",
            subject,
            evidence={"skew_seconds": round(seconds, 1), **evidence},
        )
    if seconds > SKEW_WARNING:
        return warned(
            f"{what} differ by {seconds:.0f} s (Kerberos fails at 300 s)",
            subject,
            evidence={"skew_seconds": round(seconds, 1), **evidence},
        )
    return passed(
        f"{what} agree within {seconds:.1f} s",
        subject,
        evidence={"skew_seconds": round(seconds, 1), **evidence},
    )


@check(
    id="domain.clock-skew",
    title="Host clocks agree with each other and with a domain controller",
    category=Category.DOMAIN,
    severity=Severity.HIGH,
    needs=("hosts.clock",),
    remediation=Remediation(
        text="Synchronise the hosts with the domain hierarchy (w32time) and resynchronise now.",
        powershell="w32tm /config /syncfromflags:domhier /update; Restart-Service w32time; w32tm /resync /force",
        run_on="each host whose clock is off",
    ),
    references=(SKEW_REFERENCE,),
)
def clock_skew(context: Context) -> Iterator[Finding]:
    """Kerberos refuses tickets whose timestamps are more than 5 minutes off (by default), so
    clock skew breaks delegated migration with authentication errors that name no clock."""
    source = context.required("source").clock
    dest = context.required("destination").clock
    between = abs(source.offset_seconds - dest.offset_seconds)
    yield _skew_finding(
        between,
        f"the clocks of {context.source.name} and {context.destination.name}",
        "pair",
        source_offset=round(source.offset_seconds, 1),
        destination_offset=round(dest.offset_seconds, 1),
    )
    for role, host in both_hosts(context):
        directory = host.directory
        clock = source if role == "source" else dest
        if directory is None or directory.dc_utc is None or directory.observer_utc is None:
            continue
        dc_offset = (directory.dc_utc - directory.observer_utc).total_seconds()
        yield _skew_finding(
            abs(clock.offset_seconds - dc_offset),
            f"{host.name}'s clock and DC {directory.domain_controller}'s",
            role,
            domain_controller=directory.domain_controller,
        )
