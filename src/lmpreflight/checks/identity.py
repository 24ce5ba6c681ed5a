"""Is each host the machine the admin named? Its reported name, its domain and its AD account.

Everything else a host reports is believed because it comes from the host the admin meant.
A compromised or misconfigured host that answers as another machine (a domain controller,
say) would otherwise steer the directory changes of the fix script, which a Domain Admin
runs. So the name typed, the name reported and the computer account that AD holds for the
typed name must agree before any of them is used.
"""

from __future__ import annotations

from collections.abc import Iterator

from lmpreflight.checks._helpers import SETUP_GUIDE, both_hosts, each_own_findings, need
from lmpreflight.facts.model import HostFacts, is_address
from lmpreflight.registry import check
from lmpreflight.vocabulary import Category, Context, Finding, Remediation, Severity, failed, info, passed, warned

DNS_HOST_NAME = "https://learn.microsoft.com/windows/win32/adschema/a-dnshostname"
COMPUTER_NAME = "https://learn.microsoft.com/windows/win32/cimwin32prov/win32-computersystem"


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.rstrip(".").casefold() == b.rstrip(".").casefold()


def _mismatches(host: HostFacts, role: str) -> tuple[list[str], dict[str, object]]:
    """What disagrees between the typed name, the reported identity and the AD account."""
    identity = need(host.identity, f"{role}.identity")
    directory = need(host.directory, f"{role}.directory")
    account = need(directory.computer, f"{role}.directory.computer")
    typed = host.target.rstrip(".")
    evidence: dict[str, object] = {
        "typed": typed,
        "computer_name": identity.computer_name,
        "fqdn": identity.fqdn,
        "ad_account": account.sam_account_name,
        "ad_dns_host_name": account.dns_host_name,
    }
    problems = []
    if not is_address(typed):
        if not _same(typed.split(".")[0], identity.computer_name):
            problems.append(f"it reports the computer name {identity.computer_name}")
        if "." in typed and not _same(typed, identity.fqdn):
            problems.append(f"it reports the FQDN {identity.fqdn}")
    if not _same(account.sam_account_name.rstrip("$"), identity.computer_name):
        problems.append(f"its AD account is {account.sam_account_name}")
    if not _same(account.dns_host_name, identity.fqdn):
        problems.append(f"its AD account's dNSHostName is {account.dns_host_name or 'empty'}")
    return problems, evidence


@check(
    id="identity.host-is-who-it-says",
    title="Each host is the machine that was named, by its own report and by its AD account",
    category=Category.DOMAIN,
    severity=Severity.CRITICAL,
    needs=("hosts.identity", "hosts.directory"),
    remediation=Remediation(
        text=(
            "Make sure the name you typed reaches the intended host (DNS, --endpoint) and that the host's "
            "name matches its computer account. Until they agree, no directory change is proposed."
        ),
        powershell="Resolve-DnsName -Name 'hv02.corp.example'; Get-ADComputer -Identity 'HV02' -Properties dNSHostName",
        run_on="a domain-joined machine with the ActiveDirectory module",
    ),
    references=(SETUP_GUIDE, DNS_HOST_NAME, COMPUTER_NAME),
    guards=("directory",),  # directory fixes are built on these hosts' names
)
def host_is_who_it_says(context: Context) -> tuple[Finding, ...]:
    """Delegation and SPN changes are built from host names. If a host answering for
    hv02 could call itself DC01, the fix script would let the source delegate to DC01's
    services, which hands domain controller access to whoever controls the source. The name
    typed, the computer name and FQDN the host reports, and the AD account found for the
    typed name (its sAMAccountName and dNSHostName) must all agree."""
    return each_own_findings(context, _confirmed)


def _confirmed(host: HostFacts, role: str) -> Iterator[Finding]:
    """What :func:`host_is_who_it_says` says of one host: it depends on that host's facts alone."""
    problems, evidence = _mismatches(host, role)
    typed = host.target.rstrip(".")
    if problems:
        yield failed(
            f"{typed} is not confirmed as {host.name}: {'; '.join(problems)}",
            role,
            evidence=evidence,
        )
    elif is_address(typed):
        yield warned(
            f"{typed} was typed as an address; it reports {host.name}, which only its AD account confirms",
            role,
            evidence=evidence,
        )
    else:
        yield passed(f"{typed} is {host.name}, as its AD account says", role, evidence=evidence)


@check(
    id="identity.domain-as-chosen",
    title="Each host reports the domain whose directory was read for it",
    category=Category.DOMAIN,
    severity=Severity.CRITICAL,
    needs=("hosts.domain", "hosts.directory"),
    remediation=Remediation(
        text=(
            "If the host really is in the domain it reports, name it by its FQDN in that domain or pass "
            "--domain; otherwise find out why it claims another domain."
        ),
        powershell="(Get-CimInstance -ClassName Win32_ComputerSystem).Domain",
        run_on="the host",
    ),
    references=(SETUP_GUIDE, COMPUTER_NAME),
    guards=("directory",),  # directory fixes are built on these hosts' names
    quotes_destination=True,
)
def domain_as_chosen(context: Context) -> Iterator[Finding]:
    """The domain whose DCs receive the admin's credentials is chosen by the admin (the typed
    FQDN, --domain or the --user domain), never by the host, so a host cannot send them to a
    DC it controls. A host that reports another domain than the one read for it is either
    misnamed or lying, and its directory facts do not describe it."""
    for role, host in both_hosts(context):
        membership = need(host.domain, f"{role}.domain")
        directory = need(host.directory, f"{role}.directory")
        evidence = {"reported": membership.domain, "read": directory.domain_dns_name}
        if not membership.part_of_domain:
            yield info(f"{host.name} is not domain-joined (domain.members judges that)", role, evidence=evidence)
        elif _same(membership.domain, directory.domain_dns_name):
            yield passed(f"{host.name} is in {directory.domain_dns_name}", role, evidence=evidence)
        else:
            yield failed(
                f"{host.name} reports the domain {membership.domain}, but was named as a host of "
                f"{directory.domain_dns_name}; nothing was sent to {membership.domain}'s domain controllers",
                role,
                evidence=evidence,
            )
