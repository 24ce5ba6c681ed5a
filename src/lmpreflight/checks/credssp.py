"""CredSSP: where a move must be started, and what breaks it."""

from __future__ import annotations

from collections.abc import Iterator

from lmpreflight.checks._helpers import SETUP_GUIDE, USE_GUIDE, fqdn_of, require_auth
from lmpreflight.escape import ps_literal
from lmpreflight.registry import check
from lmpreflight.vocabulary import (
    Category,
    Context,
    Finding,
    PathPart,
    Remediation,
    Severity,
    failed,
    passed,
    warned,
)

CREDENTIAL_GUARD = (
    "https://learn.microsoft.com/windows/security/identity-protection/credential-guard/considerations-known-issues"
)


@check(
    id="credssp.start-on-source",
    title="With CredSSP, the move is started in a session on the source",
    category=Category.CREDSSP,
    severity=Severity.HIGH,
    needs=("source.migration",),
    remediation=Remediation(
        text=(
            "Start the move in a session on the source host (console, RDP or Enter-PSSession to it), or switch "
            "both hosts to Kerberos with constrained delegation so moves can start anywhere."
        ),
        powershell="Enter-PSSession -ComputerName 'HV01'; Move-VM -Name 'VM' -DestinationHost 'HV02'",
        run_on="the source host",
    ),
    references=(SETUP_GUIDE, USE_GUIDE),
    shows_on=(PathPart.FORWARD_AUTH,),
)
def start_on_source(context: Context) -> Iterator[Finding]:
    """CredSSP hands the user's own credentials to the destination, and only a session on the
    source has them to hand. Started from a workstation (Hyper-V Manager, Move-VM
    -ComputerName) the move fails with "No credentials are available in the security package
    (0x8009030E)". Moving the VM back needs a session on the other host."""
    require_auth(context, "CredSSP")
    source = context.source
    ran_from = source.collector.run_from
    here = ran_from.split(".")[0].casefold() == source.name.casefold()
    evidence = {"run_from": ran_from, "source": source.name}
    fix = Remediation(
        text=f"Run Move-VM in a session on {source.name}; to move back, start it on {context.destination.name}.",
        powershell=(
            f"Enter-PSSession -ComputerName {ps_literal(fqdn_of(source))}\n"
            f"Move-VM -Name 'VM' -DestinationHost {ps_literal(fqdn_of(context.destination))}"
        ),
        run_on=source.name,
    )
    if here:
        yield passed(
            f"this run came from {source.name}: start the move here too (and on {context.destination.name} to move back)",
            "source",
            evidence=evidence,
        )
    else:
        yield failed(
            f"{source.name} uses CredSSP and this run came from {ran_from}: a move started there fails with 0x8009030E; start it in a session on {source.name}",
            "source",
            fix=fix,
            evidence=evidence,
        )


@check(
    id="credssp.credential-guard",
    title="Credential Guard is off on a CredSSP source",
    category=Category.CREDSSP,
    severity=Severity.CRITICAL,
    needs=("source.migration", "source.security"),
    remediation=Remediation(
        text="Switch live migration to Kerberos with constrained delegation (recommended), or disable Credential Guard.",
        powershell="Set-VMHost -VirtualMachineMigrationAuthenticationType Kerberos",
        run_on="both hosts, after configuring constrained delegation",
    ),
    references=(CREDENTIAL_GUARD, SETUP_GUIDE),
    shows_on=(PathPart.FORWARD_AUTH,),
)
def credential_guard(context: Context) -> Iterator[Finding]:
    """Credential Guard (on by default on domain-joined Windows Server 2025) keeps CredSSP from
    delegating saved or signed-in credentials, so a CredSSP live migration from such a source
    fails even when started on the source."""
    require_auth(context, "CredSSP")
    running = context.required("source").security.credential_guard_running
    if running:
        yield failed(
            f"Credential Guard is running on {context.source.name}, which uses CredSSP: moves from it will fail",
            "source",
            evidence={"credential_guard_running": True},
        )
    elif running is None:
        yield warned(
            f"Credential Guard state on {context.source.name} is unknown; if it runs, CredSSP moves fail",
            "source",
        )
    else:
        yield passed(
            f"Credential Guard is off on {context.source.name}",
            "source",
            evidence={"credential_guard_running": False},
        )
