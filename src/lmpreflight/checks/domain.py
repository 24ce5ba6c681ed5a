"""Domain and identity: membership, trust, domain controllers, secure channel, clocks."""

from __future__ import annotations

from collections.abc import Iterator

from lmpreflight.checks._helpers import KCD_OVERVIEW, SETUP_GUIDE, both_hosts, each_own_findings, need
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
    quotes_destination=True,
)
def members(context: Context) -> Iterator[Finding]:
    """The setup guide requires both hosts to belong to Active Directory domains: live
    migration outside a cluster authenticates host to host with the computer accounts
    (Kerberos) or the user's domain credentials (CredSSP)."""
    for role, host in both_hosts(context):
        domain = need(host.domain, f"{role}.domain")
        if domain.part_of_domain:
            yield passed(f"{host.name} is a member of {domain.domain}", role, evidence={"domain": domain.domain})
        else:
            yield failed(
                f"{host.name} is not domain-joined (workgroup {domain.domain})",
                role,
                evidence={"domain": domain.domain},
            )


def _forest(host: HostFacts) -> str | None:
    """The host's forest, when the directory that was read is the host's own domain's."""
    directory, membership = host.directory, host.domain
    if directory is None or membership is None:
        return None
    if directory.domain_dns_name.casefold() != membership.domain.casefold():
        return None
    return directory.forest


def _trust_objects(context: Context) -> list[tuple[str, Trust]]:
    """Every trust either host's domain holds, with the domain that holds it."""
    found: list[tuple[str, Trust]] = []
    for host in (context.source, context.destination):
        if host.directory is not None:
            found.extend((host.directory.domain_dns_name, t) for t in host.directory.trusts)
    return found


def _trusts(holder: str, trust: Trust, trusting: str, trusted: str) -> bool:
    """Whether this trust object, held by ``holder``, makes ``trusting`` trust ``trusted``.

    A trust is seen from the domain that holds it: ``Outbound`` means "we trust them",
    ``Inbound`` means "they trust us"."""
    partner = trust.partner.casefold()
    if holder.casefold() == trusting.casefold() and partner == trusted.casefold():
        return trust.direction in ("Outbound", "Bidirectional")
    if holder.casefold() == trusted.casefold() and partner == trusting.casefold():
        return trust.direction in ("Inbound", "Bidirectional")
    return False


def _trust_path(context: Context, trusting_host: HostFacts, trusted_host: HostFacts) -> tuple[bool, list[Trust]]:
    """Whether the trusting host's domain trusts the trusted host's domain: in one forest
    (trusts inside a forest are two-way and transitive), by a direct trust, or by a forest
    trust between their forests (transitive to every domain of both forests)."""
    trusting = need(trusting_host.domain, "domain").domain
    trusted = need(trusted_host.domain, "domain").domain
    trusting_forest, trusted_forest = _forest(trusting_host), _forest(trusted_host)
    if trusting_forest and trusted_forest and trusting_forest.casefold() == trusted_forest.casefold():
        return True, []
    used = []
    for holder, trust in _trust_objects(context):
        if _trusts(holder, trust, trusting, trusted) or (
            trust.trust_type == "Forest"
            and trusting_forest
            and trusted_forest
            and _trusts(holder, trust, trusting_forest, trusted_forest)
        ):
            used.append(trust)
    return bool(used), used


@check(
    id="domain.same-or-trusted",
    title="The hosts are in one domain or in domains that trust each other",
    category=Category.DOMAIN,
    severity=Severity.CRITICAL,
    needs=("hosts.domain",),
    remediation=Remediation(
        text="Put both hosts in one domain or forest, or create a two-way trust between their domains or forests.",
        run_on="a domain controller, as an administrator of both domains",
    ),
    references=(
        SETUP_GUIDE,
        "https://learn.microsoft.com/openspecs/windows_protocols/ms-adts/e9a2d23c-c31e-4a6f-88a0-6646fdb51a3c",
        KCD_OVERVIEW,
    ),
    shows_on=(PathPart.FORWARD_AUTH, PathPart.REVERSE_AUTH),
    quotes_destination=True,
)
def same_or_trusted(context: Context) -> Iterator[Finding]:
    """The setup guide requires the hosts to be in the same domain or in domains that trust each
    other: the source's computer account (Kerberos) or the user (CredSSP) authenticates to the
    destination, so the destination's domain must trust the source's, and moving back needs the
    reverse. Domains of one forest trust each other transitively; a forest trust extends to every
    domain of both forests. With selective authentication on the trust, the authenticating
    account also needs 'Allowed to authenticate' on the destination's computer object."""
    source = need(context.source.domain, "source.domain")
    dest = need(context.destination.domain, "destination.domain")
    evidence: dict[str, object] = {
        "source_domain": source.domain,
        "destination_domain": dest.domain,
        "source_forest": _forest(context.source),
        "destination_forest": _forest(context.destination),
    }
    if source.domain.casefold() == dest.domain.casefold():
        yield passed(f"both hosts are in {source.domain}", evidence=evidence)
        return
    if context.source.directory is None and context.destination.directory is None:
        raise MissingFact("source.directory")
    forward, used = _trust_path(context, context.destination, context.source)
    reverse, back_used = _trust_path(context, context.source, context.destination)
    evidence["trusts"] = [t.model_dump() for t in used + back_used]
    if not forward:
        both_roots = all(
            (_forest(host) or "").casefold() == need(host.domain, "domain").domain.casefold()
            for host in (context.source, context.destination)
        )
        message = (
            f"{dest.domain} does not trust {source.domain}: {context.source.name} cannot authenticate to "
            f"{context.destination.name}"
        )
        if both_roots:
            yield failed(message, evidence=evidence)
        else:
            yield warned(
                f"no trust from {dest.domain} to {source.domain} is visible in these domains' directories "
                "(a forest trust is held by the forest root): confirm with nltest",
                fix=Remediation(
                    text="List the domains the destination trusts.",
                    powershell="nltest /trusted_domains",
                    run_on=context.destination.name,
                ),
                evidence=evidence,
            )
        return
    selective = [t.partner for t in used if t.selective_authentication]
    if selective:
        yield warned(
            f"{dest.domain} trusts {source.domain} with selective authentication: the moving account (and, with "
            f"Kerberos, {context.source.name}'s computer account) needs 'Allowed to authenticate' on "
            f"{context.destination.name}'s computer object",
            evidence=evidence,
        )
    elif not reverse:
        yield warned(
            f"{dest.domain} trusts {source.domain} but not the other way: moving the VM back will fail",
            evidence=evidence,
        )
    else:
        how = "one forest" if not used else "trust"
        yield passed(f"{source.domain} and {dest.domain} trust each other ({how})", evidence=evidence)


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
    quotes_destination=True,
)
def dc_discovery(context: Context) -> Iterator[Finding]:
    """Kerberos tickets, delegation and secure channels all need a reachable DC, found
    through the SRV record _ldap._tcp.dc._msdcs.<domain>. Without it authentication fails
    with 0x80090311 ("no authority could be contacted"). lmpreflight also asks a DC over LDAP:
    whether one answered is shown too.
    Source: the DC locator documentation."""
    for role, host in both_hosts(context):
        dns = need(host.dns, f"{role}.dns")
        domain = need(host.domain, f"{role}.domain").domain
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
    quotes_destination=True,
)
def secure_channel(context: Context) -> Iterator[Finding]:
    """A broken secure channel means the host's computer account password no longer matches
    AD: Kerberos service tickets for it cannot be decrypted and every delegated move fails.
    Source: the Test-ComputerSecureChannel reference."""
    for role, host in both_hosts(context):
        domain = need(host.domain, f"{role}.domain")
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
def clock_skew(context: Context) -> list[Finding]:
    """Kerberos refuses tickets whose timestamps are more than 5 minutes off (by default), so
    clock skew breaks delegated migration with authentication errors that name no clock.
    Source: the 'Maximum tolerance for computer clock synchronization' policy reference."""
    source = need(context.source.clock, "source.clock").offset_seconds
    dest = need(context.destination.clock, "destination.clock").offset_seconds
    between = _skew_finding(
        abs(source - dest),
        f"the clocks of {context.source.name} and {context.destination.name}",
        "pair",
        source_offset=round(source, 1),
        destination_offset=round(dest, 1),
    )
    return [between, *each_own_findings(context, _skew_to_dc)]


def _skew_to_dc(host: HostFacts, role: str) -> Iterator[Finding]:
    """How far the host's clock is from its DC's, when that was read: its own facts alone decide."""
    directory = host.directory
    clock = need(host.clock, f"{role}.clock")
    if directory is None or directory.dc_utc is None or directory.observer_utc is None:
        return
    dc_offset = (directory.dc_utc - directory.observer_utc).total_seconds()
    yield _skew_finding(
        abs(clock.offset_seconds - dc_offset),
        f"{host.name}'s clock and DC {directory.domain_controller}'s",
        role,
        domain_controller=directory.domain_controller,
    )
