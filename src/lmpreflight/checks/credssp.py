"""CredSSP: where a move must be started, and what breaks it."""

from __future__ import annotations

from collections.abc import Iterator

from lmpreflight.checks._helpers import (
    CREDENTIAL_GUARD,
    SETUP_GUIDE,
    USE_GUIDE,
    both_hosts,
    need,
    require_auth,
)
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
    info,
    passed,
    warned,
)

VM_PLACEHOLDER = "<VMName>"
ENCRYPTION_ORACLE = {0: "Force Updated Clients", 1: "Mitigated", 2: "Vulnerable"}
"""AllowEncryptionOracle values of the CredSSP 'Encryption Oracle Remediation' policy."""


def move_command(context: Context) -> str:
    """The Move-VM line for the VMs of this run (a visible placeholder when none was named)."""
    vms = context.vms or (VM_PLACEHOLDER,)
    destination = ps_literal(context.destination.full_name)
    return "\n".join(
        f"Move-VM -Name {vm if vm == VM_PLACEHOLDER else ps_literal(vm)} -DestinationHost {destination}" for vm in vms
    )


@check(
    id="credssp.start-on-source",
    title="With CredSSP, the move is started in a session on the source",
    category=Category.CREDSSP,
    severity=Severity.HIGH,
    needs=("source.migration",),
    remediation=Remediation(
        text=(
            "Start the move signed in to the source host (console or Remote Desktop), or switch both hosts to "
            "Kerberos with constrained delegation so moves can start anywhere."
        ),
        run_on="the source host",
    ),
    references=(SETUP_GUIDE, USE_GUIDE),
    shows_on=(PathPart.FORWARD_AUTH,),
)
def start_on_source(context: Context) -> Iterator[Finding]:
    """CredSSP hands the user's own credentials to the destination, and only a session signed
    in on the source has them to hand (setup guide: "sign in to the source server"). Started
    from another machine (Hyper-V Manager, Move-VM -ComputerName, or a default PowerShell
    remote session, which is a network logon without reusable credentials) the move fails with
    "No credentials are available in the security package (0x8009030E)". Where the move will
    start is given with --move-from; without it, the guide's way for CredSSP (on the source) is
    assumed. Moving the VM back needs a session on the other host."""
    require_auth(context, "CredSSP")
    source, dest = context.source, context.destination
    evidence = {"move_from": context.move_from, "source": source.name}
    if not context.starts_on_source():
        yield failed(
            f"{source.name} uses CredSSP and the move will be started from another machine: it fails with "
            f"0x8009030E; start it signed in to {source.name}",
            "source",
            fix=Remediation(
                text=(
                    f"Sign in to {source.name} (console or Remote Desktop) and run Move-VM there; to move back, "
                    f"sign in to {dest.name}. Or switch both hosts to Kerberos with constrained delegation."
                ),
                powershell=move_command(context),
                run_on=f"{source.name}, signed in interactively",
            ),
            evidence=evidence,
        )
        return
    message = (
        f"start the move signed in to {source.name} (console or Remote Desktop), and to move back signed in to "
        f"{dest.name}"
    )
    if context.move_from is None:
        yield info(
            f"assumed (CredSSP): {message}; started from elsewhere it fails with 0x8009030E (--move-from remote "
            "checks that case)",
            "source",
            evidence=evidence,
        )
    else:
        yield passed(message, "source", evidence=evidence)


@check(
    id="credssp.credential-guard",
    title="Credential Guard is off on a CredSSP source (and on the destination, to move back)",
    category=Category.CREDSSP,
    severity=Severity.CRITICAL,
    needs=("source.migration", "source.security"),
    remediation=Remediation(
        text="Switch live migration to Kerberos with constrained delegation (recommended), or disable Credential Guard.",
        powershell="Set-VMHost -VirtualMachineMigrationAuthenticationType Kerberos",
        run_on="both hosts, after configuring constrained delegation",
    ),
    references=(CREDENTIAL_GUARD, SETUP_GUIDE),
    shows_on=((PathPart.FORWARD_AUTH, "source"), (PathPart.REVERSE_AUTH, "destination")),
)
def credential_guard(context: Context) -> Iterator[Finding]:
    """Credential Guard (on by default on domain-joined Windows Server 2025) keeps CredSSP from
    delegating credentials: "If the source machine of a Live Migration uses CredSSP for
    delegation with Credential Guard enabled, the Live Migration will fail", even when started
    on the source. On the destination it does not affect this move, but moving the VM back
    starts there, so that move fails.
    Source: Credential Guard considerations and known issues; the setup guide (2025)."""
    require_auth(context, "CredSSP")
    for role, host in both_hosts(context):
        security = need(host.security, "source.security") if role == "source" else host.security
        running = security.credential_guard_running if security is not None else None
        evidence = {"credential_guard_running": running}
        if role == "source":
            if running:
                yield failed(
                    f"Credential Guard is running on {host.name}, which uses CredSSP: moves from it will fail",
                    role,
                    evidence=evidence,
                )
            elif running is None:
                yield warned(
                    f"Credential Guard state on {host.name} is unknown; if it runs, CredSSP moves from it fail",
                    role,
                    evidence=evidence,
                )
            else:
                yield passed(f"Credential Guard is off on {host.name}", role, evidence=evidence)
        elif running:
            yield warned(
                f"moving back will fail: Credential Guard runs on {host.name}, and a CredSSP move started there "
                "cannot delegate credentials",
                role,
                evidence=evidence,
            )


@check(
    id="credssp.encryption-oracle",
    title="CredSSP patch-level policy on both hosts (information)",
    category=Category.CREDSSP,
    severity=Severity.INFO,
    needs=("source.migration",),
    remediation=Remediation(
        text="Keep both hosts patched and the 'Encryption Oracle Remediation' policy the same on both.",
    ),
    references=("https://msrc.microsoft.com/update-guide/vulnerability/CVE-2018-0886",),
)
def encryption_oracle(context: Context) -> Iterator[Finding]:
    """A CredSSP client and server at different patch levels can refuse each other when the
    'Encryption Oracle Remediation' policy is set to Force Updated Clients. Microsoft documents
    the policy but not its effect on live migration, so this is shown for information only."""
    require_auth(context, "CredSSP")
    values = {
        host.name: host.security.credssp_encryption_oracle if host.security else None
        for _role, host in both_hosts(context)
    }
    shown = ", ".join(
        f"{name}: {ENCRYPTION_ORACLE.get(value, str(value)) if value is not None else 'not set (default)'}"
        for name, value in values.items()
    )
    yield info(f"CredSSP Encryption Oracle Remediation policy: {shown}", evidence={"values": values})
