"""Names and domain controllers as the hosts themselves see them, beside what the tool saw.

The tool resolves the hosts' names and finds DCs from the machine it runs on. A move is made by
the hosts: the source resolves the destination's name with its own resolver (its DNS cache,
hosts file and DNS servers) and authenticates through the DC its own locator hands out. A stale
hosts-file entry, a different DNS server or a cached DC in another site is visible only there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from lmpreflight.checks._helpers import LIVE_MIGRATION_TROUBLESHOOTING, TROUBLESHOOT_GUIDE
from lmpreflight.escape import ps_literal
from lmpreflight.facts.model import WHOLE_HOST, DcLocator, HostFacts, NameLookup, ResolverFacts, is_address
from lmpreflight.registry import check
from lmpreflight.vocabulary import (
    Category,
    Context,
    Finding,
    MissingFact,
    NotApplicable,
    Remediation,
    Severity,
    failed,
    info,
    passed,
    warned,
)

RESOLVE_DNS_NAME = "https://learn.microsoft.com/powershell/module/dnsclient/resolve-dnsname"
DC_LOCATOR = "https://learn.microsoft.com/windows-server/identity/ad-ds/manage/dc-locator"
DC_LOCATOR_CACHE = "https://learn.microsoft.com/windows/win32/ad/directory-service-functions"
NLTEST = "https://learn.microsoft.com/windows-server/administration/windows-commands/nltest"
KERBEROS_TROUBLESHOOTING = "https://learn.microsoft.com/troubleshoot/windows-server/windows-security/kerberos-authentication-troubleshooting-guidance"
ROLES = ("source", "destination")


def _peer_of(role: str) -> str:
    return "destination" if role == "source" else "source"


def _own_view(context: Context, role: str) -> ResolverFacts | str:
    """The host's resolver facts, or why there are none. A section the collector tried and lost
    is a missing fact (the run is incomplete); one an older collector never read is only noted."""
    host = context.host(role)
    if host.resolver is not None:
        return host.resolver
    error = host.error_for("resolver")
    if error is not None and error.section == WHOLE_HOST:
        return f"nothing could be collected from {host.name} (see collection.host)"
    if error is not None:
        raise MissingFact(f"{role}.resolver")
    return f"{host.name}'s own resolver was not read (facts from a collector before lmpreflight read it)"


def _norm(name: str) -> str:
    return name.rstrip(".").casefold()


def _names_of(host: HostFacts) -> set[str]:
    """The names ``host`` goes by: as typed, its FQDN and its computer name."""
    names = {_norm(host.target)}
    if host.identity is not None:
        names |= {_norm(host.identity.fqdn), _norm(host.identity.computer_name)}
    return names


@dataclass
class _PeerView:
    """How one host's lookups of its peer's names compare with the peer's own addresses."""

    wrong: list[str] = field(default_factory=list)
    """Names that lead to no address of the peer: a move by that name reaches another machine."""
    unresolved: list[str] = field(default_factory=list)
    partly: list[str] = field(default_factory=list)
    """Names whose answer mixes the peer's addresses with others (some attempts go elsewhere)."""
    unconfirmed: list[str] = field(default_factory=list)
    """Names answered differently from the tool, where the peer's own addresses are unknown."""
    good: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _tool_answer(peer: HostFacts, name: str) -> list[str] | None:
    for record in peer.dns.forward if peer.dns is not None else []:
        if _norm(record.name) == _norm(name) and not record.error:
            return record.addresses
    return None


def _judge_lookup(view: _PeerView, lookup: NameLookup, peer: HostFacts) -> None:
    tool = _tool_answer(peer, lookup.name)
    seen = f" (the tool: {', '.join(tool)})" if tool is not None else ""
    if lookup.error or not lookup.addresses:
        view.unresolved.append(f"{lookup.name} does not resolve ({lookup.error or 'no address'}){seen}")
        return
    found = ", ".join(lookup.addresses)
    own = set(peer.identity.addresses) if peer.identity is not None else None
    if own is None:
        if tool is not None and set(tool) == set(lookup.addresses):
            view.good.append(f"{lookup.name} → {found}, as the tool resolves it")
        else:
            view.unconfirmed.append(f"{lookup.name} → {found}{seen}; {peer.name}'s own addresses are unknown")
        return
    foreign = [a for a in lookup.addresses if a not in own]
    if len(foreign) == len(lookup.addresses):
        view.wrong.append(f"{lookup.name} → {found}, not an address of {peer.name}{seen}")
    elif foreign:
        view.partly.append(f"{lookup.name} → {found}: {', '.join(foreign)} is not {peer.name}'s{seen}")
    else:
        view.good.append(f"{lookup.name} → {found}")
        if tool is not None and set(tool) != set(lookup.addresses):
            view.notes.append(f"{lookup.name}: the tool resolved {', '.join(tool)}; both are {peer.name}'s")


def _lookup_fix(host: HostFacts, names: list[str]) -> Remediation:
    queries = "; ".join(f"Resolve-DnsName -Name {ps_literal(n)} -Type A_AAAA" for n in names)
    return Remediation(
        text=(
            f"Make {host.name} resolve its peer as DNS does: remove stale entries from its hosts file "
            r"(%SystemRoot%\System32\drivers\etc\hosts), point it at the domain's DNS servers, clear its cache "
            "and resolve again."
        ),
        powershell=f"Get-DnsClientServerAddress; Clear-DnsClientCache; {queries}",
        run_on=host.name,
    )


@check(
    id="resolver.peer-names",
    title="Each host's own resolver finds its peer by the names the move uses",
    category=Category.NETWORK,
    severity=Severity.HIGH,
    remediation=Remediation(
        text=(
            "Correct what the host resolves: stale hosts-file entries, DNS servers that are not the domain's, "
            "a cached answer. Then clear the DNS client cache."
        ),
        powershell="Get-DnsClientServerAddress; Clear-DnsClientCache; Resolve-DnsName -Name 'hv02.corp.example'",
        run_on="the host whose answer is wrong",
    ),
    references=(TROUBLESHOOT_GUIDE, LIVE_MIGRATION_TROUBLESHOOTING, KERBEROS_TROUBLESHOOTING, RESOLVE_DNS_NAME),
)
def host_resolves_peer(context: Context) -> list[Finding]:
    """The source connects to the destination by the name the move gives, through its own
    resolver, and asks Kerberos for a ticket to the SPN built from that name: a name it cannot
    resolve fails the move, and one that leads elsewhere (a stale hosts-file entry, other DNS
    servers) reaches another machine, where the ticket is refused (0x80090322). The tool's own
    lookups cannot see this. Each host resolves its peer's names with Resolve-DnsName's defaults
    (cache, hosts file, DNS, LLMNR/NetBIOS for short names); an answer counts when it is one of
    the peer's own addresses, even if the tool resolved another of them. On the destination a
    problem only affects moving the VM back, so it is a warning. Where neither host's view can be
    judged the check does not apply."""
    # Whether it applies is known before any finding is made: a fleet of hosts collected alone
    # (no peer to resolve) asks for every pair.
    views = [_peer_view(context, role) for role in ROLES]
    unjudged = [view for view in views if isinstance(view, _Unjudged)]
    if len(unjudged) == len(ROLES):
        raise NotApplicable("; ".join(view.reason for view in unjudged))
    findings: list[Finding] = []
    for role, view in zip(ROLES, views, strict=True):
        if isinstance(view, _Unjudged):
            findings.append(info(view.message, role))
        else:
            findings += view
    return findings


@dataclass(frozen=True, slots=True)
class _Unjudged:
    """Why a host's view of its peer's names cannot be judged, and what its finding says."""

    reason: str
    message: str


def _peer_view(context: Context, role: str) -> _Unjudged | list[Finding]:
    """What :func:`host_resolves_peer` says of the host in ``role``: its findings, or why it has none."""
    host, peer = context.host(role), context.host(_peer_of(role))
    own = _own_view(context, role)
    if isinstance(own, str):
        return _Unjudged(own, f"{own}: its view of {peer.name}'s name is unknown")
    if not own.peer_names:
        typed = peer.target.rstrip(".")
        reason = (
            f"{peer.name} was named by the address {typed}: {host.name} had no name of it to resolve"
            if is_address(typed)
            else f"{host.name} was not told its peer's names (collected alone): its view of them is unknown"
        )
        return _Unjudged(reason, reason)
    lookups = [lookup for lookup in own.peer_names if _norm(lookup.name) in _names_of(peer)]
    if not lookups:
        # Facts collected in another pair (plan, saved files): this host was asked about other hosts.
        asked = ", ".join(lookup.name for lookup in own.peer_names)
        reason = f"{host.name} resolved {asked}, not a name of {peer.name}: its view of {peer.name} is unknown"
        return _Unjudged(reason, reason)
    view = _PeerView()
    for lookup in lookups:
        _judge_lookup(view, lookup, peer)
    return list(_peer_findings(role, host, peer, lookups, view))


def _peer_findings(
    role: str, host: HostFacts, peer: HostFacts, lookups: list[NameLookup], view: _PeerView
) -> Iterator[Finding]:
    names = [lookup.name for lookup in lookups]
    evidence = {"lookups": [lookup.model_dump() for lookup in lookups]}
    fix = _lookup_fix(host, names)
    back = " (moving the VM back would fail)" if role == "destination" else ""
    broken = view.wrong or (view.unresolved and not view.good)
    if broken:
        problems = "; ".join([*view.wrong, *view.unresolved])
        message = f"{host.name}'s own resolver does not lead to {peer.name}: {problems}{back}"
        if peer.whole_host_error is not None:
            # Nobody reached the peer either: perhaps a mistyped name, judged by collection.host.
            yield warned(
                f"{message}; {peer.name} itself could not be reached: is its name right?",
                role,
                fix=fix,
                evidence=evidence,
            )
        elif role == "source":
            yield failed(message, role, fix=fix, evidence=evidence)
        else:
            yield warned(message, role, fix=fix, evidence=evidence)
    elif view.unresolved or view.partly or view.unconfirmed:
        problems = "; ".join([*view.unresolved, *view.partly, *view.unconfirmed])
        works = f"; {', '.join(view.good)} works" if view.good else ""
        yield warned(f"{host.name}: {problems}{works}{back}", role, fix=fix, evidence=evidence)
    else:
        notes = f" ({'; '.join(view.notes)})" if view.notes else ""
        yield passed(f"{host.name} finds {peer.name}: {', '.join(view.good)}{notes}", role, evidence=evidence)


@check(
    id="resolver.domain-controller",
    title="Each host's own DC locator finds a domain controller of its domain, in its site",
    category=Category.DOMAIN,
    severity=Severity.HIGH,
    remediation=Remediation(
        text=(
            "Point the host at DNS servers that hold the domain's _msdcs records, map its subnet to its AD site, "
            "and make it find a DC again."
        ),
        powershell="nltest /dsgetdc:corp.example /force; Get-DnsClientServerAddress",
        run_on="the host",
    ),
    references=(KERBEROS_TROUBLESHOOTING, DC_LOCATOR, DC_LOCATOR_CACHE, NLTEST),
    quotes_destination=True,
)
def host_locates_dc(context: Context) -> Iterator[Finding]:
    """Microsoft's Kerberos troubleshooting guide: "both the client and the target server require
    a domain controller to facilitate authentication, authorization, and delegation", checked
    with nltest /dsgetdc. Each host uses the DC its own locator hands out (DsGetDcName, cached
    by Netlogon), found through its own DNS; the tool's SRV lookup does not prove the host can.
    No DC (ERROR_NO_SUCH_DOMAIN, 1355) fails the move on either host. A DC outside the host's site means
    none of its site answered or its subnet is mapped to no site: authentication crosses sites,
    and a delegation just changed may not have replicated there yet. A DC that DNS no longer
    lists is a cached, possibly retired one. Read with nltest /dsgetdc (without /force: the DC
    the host really uses)."""
    unjudged: list[str] = []
    for role in ROLES:
        host = context.host(role)
        own = _own_view(context, role)
        if isinstance(own, str):
            unjudged.append(own)
            yield info(own, role)
            continue
        if own.dc_locator is None:
            joined = host.domain is not None and host.domain.part_of_domain
            why = "no DC locator answer was recorded" if joined else "not domain-joined (domain.members judges that)"
            unjudged.append(f"{host.name}: {why}")
            yield info(f"{host.name}: {why}", role)
            continue
        yield _locator_finding(role, host, own.dc_locator)
    if len(unjudged) == len(ROLES):
        raise NotApplicable("; ".join(unjudged))


def _locator_fix(host: HostFacts, domain: str) -> Remediation:
    return Remediation(
        text=(
            f"On {host.name}: check its DNS servers hold _ldap._tcp.dc._msdcs.{domain}, that a DC of its site "
            "answers (or its subnet is mapped to the right site), then find a DC again."
        ),
        powershell=f"nltest {ps_literal('/dsgetdc:' + domain)} /force; Get-DnsClientServerAddress",
        run_on=host.name,
    )


def _locator_finding(role: str, host: HostFacts, locator: DcLocator) -> Finding:
    evidence = locator.model_dump(exclude={"output"}) | {"output": locator.output[:12]}
    fix = _locator_fix(host, locator.domain)
    if locator.status is not None:
        return failed(
            f"{host.name} finds no DC for {locator.domain}: {locator.error}", role, fix=fix, evidence=evidence
        )
    if not locator.found:
        shown = " | ".join(locator.output[:3]) or "no output"
        return warned(
            f"{host.name}'s DC locator answer could not be read ({locator.error}): {shown}",
            role,
            fix=fix,
            evidence=evidence,
        )
    dc = locator.domain_controller or ""
    problems = []
    if locator.client_site is None:
        problems.append(f"{host.name} is in no AD site (its subnet is mapped to none)")
    elif locator.dc_site is not None and locator.dc_site.casefold() != locator.client_site.casefold():
        problems.append(f"{dc} is in site {locator.dc_site}, {host.name} in {locator.client_site}")
    listed = [t.target for t in host.dns.dc_srv] if host.dns is not None else []
    if listed and _norm(dc) not in {_norm(t) for t in listed} and "." in dc:
        problems.append(f"{dc} is not among the DCs DNS lists for {locator.domain} ({', '.join(listed)})")
    if problems:
        return warned(f"{host.name} uses DC {dc}: " + "; ".join(problems), role, fix=fix, evidence=evidence)
    site = f" in its site {locator.client_site}"
    return passed(f"{host.name} finds DC {dc} of {locator.domain}{site}", role, evidence=evidence)
