"""From runner results to the one report model every format renders."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

from lmpreflight import __version__
from lmpreflight.checks.network import incoming_addresses
from lmpreflight.explain.model import Incident
from lmpreflight.facts.model import HostFacts
from lmpreflight.model import MissingFact, Result, Status
from lmpreflight.report.model import HostOut, PathOut, Report, ResultOut, RunOut, Summary, VmReadinessOut
from lmpreflight.report.parts import RemediationOut
from lmpreflight.runner import Selection, VmReadiness


class Verdict(StrEnum):
    READY = "ready"
    NOT_READY = "not-ready"
    INCOMPLETE = "incomplete"


EXIT_CODES = {Verdict.READY: 0, Verdict.NOT_READY: 1, Verdict.INCOMPLETE: 3}
"""0 ready, 1 not ready, 3 incomplete; 2 (usage or unusable input) is raised before a report exists."""


def verdict_for(statuses: list[Status], strict: bool) -> Verdict:
    if Status.FAIL in statuses or (strict and Status.WARN in statuses):
        return Verdict.NOT_READY
    if Status.ERROR in statuses:
        return Verdict.INCOMPLETE
    return Verdict.READY


def exit_code_for(verdict: Verdict) -> int:
    return EXIT_CODES[verdict]


@dataclass(frozen=True, slots=True)
class RunInfo:
    command: str
    run_from: str
    strict: bool = False
    generated_at: datetime | None = None


def _host_out(role: str, host: HostFacts) -> HostOut:
    migration = host.migration
    try:
        incoming = incoming_addresses(host, role)
    except MissingFact:
        incoming = []
    return HostOut(
        role=role,
        target=host.target,
        name=host.name,
        fqdn=host.identity.fqdn if host.identity else None,
        os=host.os.caption if host.os else None,
        os_build=host.os.build if host.os else None,
        authentication_type=migration.authentication_type if migration else None,
        performance_option=migration.performance_option if migration else None,
        migration_networks=[n.subnet for n in migration.networks] if migration else [],
        incoming_addresses=incoming,
        collected_at=host.collected_at,
        collection_method=host.collector.method,
        collection_errors=[f"{e.section}: {e.message}" for e in host.errors],
    )


def _subject_host(subject: str, source: HostFacts, destination: HostFacts) -> str | None:
    if subject == "source":
        return source.name
    if subject == "destination":
        return destination.name
    if subject.startswith("vm:"):
        return source.name
    return None


def _result_out(result: Result, source: HostFacts, destination: HostFacts) -> ResultOut:
    check, finding = result.check, result.finding
    show_fix = finding.status not in (Status.PASS, Status.INFO, Status.SKIP)
    fix = result.remediation
    return ResultOut(
        check_id=check.id,
        title=check.title,
        category=check.category.value,
        severity=check.severity.value,
        status=finding.status.value,
        subject=finding.subject,
        host=_subject_host(finding.subject, source, destination),
        message=finding.message,
        evidence=dict(finding.evidence),
        explanation=check.explanation,
        remediation=RemediationOut(text=fix.text, powershell=fix.powershell, run_on=fix.run_on) if show_fix else None,
        references=list(check.references),
    )


FORWARD_AUTH = (
    "delegation.spns-to-destination",
    "credssp.start-on-source",
    "credssp.credential-guard",
    "hyperv.auth-type-consistent",
    "domain.same-or-trusted",
)
REVERSE_AUTH = ("delegation.spns-to-source", "hyperv.auth-type-consistent", "domain.same-or-trusted")


def _worst(results: list[Result], check_ids: tuple[str, ...], subjects: tuple[str, ...] | None = None) -> str | None:
    """The worst status among the results of these checks (about these subjects), or None."""
    chosen = [
        r.status
        for r in results
        if r.check.id in check_ids and (subjects is None or r.finding.subject in subjects) and r.status != Status.SKIP
    ]
    return max(chosen, key=lambda s: s.rank).value if chosen else None


def _worst_about(results: list[Result], subject: str) -> str:
    statuses = [r.status for r in results if r.finding.subject == subject and r.status != Status.SKIP]
    return max(statuses, key=lambda s: s.rank).value if statuses else Status.PASS.value


def _path(results: list[Result], source: HostFacts) -> PathOut:
    shared = next((r for r in results if r.check.id == "network.shared-migration-subnet"), None)
    addresses = shared.finding.evidence.get("on_shared_subnet") if shared else None
    forward = _worst(results, FORWARD_AUTH)
    transition = _worst(results, ("delegation.protocol-transition",), ("source",))
    if transition is not None and (forward is None or Status(transition).rank > Status(forward).rank):
        forward = transition
    reverse = _worst(results, REVERSE_AUTH)
    back = _worst(results, ("delegation.protocol-transition",), ("destination",))
    if back is not None and (reverse is None or Status(back).rank > Status(reverse).rank):
        reverse = back
    auth = source.migration.authentication_type if source.migration else None
    label = {"Kerberos": "Kerberos delegation", "CredSSP": f"CredSSP (start on {source.name})"}.get(
        auth or "", "authentication"
    )
    return PathOut(
        address=addresses[0] if addresses else None,
        tcp_6600=_worst(
            results,
            ("network.port-6600", "network.firewall-rule", "network.shared-migration-subnet"),
            ("source", "destination", "pair"),
        ),
        forward_auth=forward,
        reverse_auth=reverse,
        auth_label=label,
        source_status=_worst_about(results, "source"),
        destination_status=_worst_about(results, "destination"),
    )


def build_report(
    results: list[Result],
    source: HostFacts,
    destination: HostFacts,
    selection: Selection,
    run: RunInfo,
    incidents: list[Incident] | None = None,
    readiness: list[VmReadiness] | None = None,
) -> Report:
    """The report; ``incidents`` are given when the hosts' event logs were read (diagnose)."""
    statuses = [r.status for r in results]
    verdict = verdict_for(statuses, run.strict)
    counts = Counter(s.value for s in statuses)
    return Report(
        tool_version=__version__,
        generated_at=run.generated_at or datetime.now(UTC),
        verdict=verdict.value,
        exit_code=exit_code_for(verdict),
        run=RunOut(
            command=run.command,
            run_from=run.run_from,
            vms=list(selection.vms),
            skipped_checks=sorted(selection.skip),
            strict=run.strict,
            include_storage=selection.include_storage,
        ),
        hosts=[_host_out("source", source), _host_out("destination", destination)],
        summary=Summary(total=len(results), counts={s.value: counts.get(s.value, 0) for s in Status}),
        path=_path(results, source),
        results=[_result_out(r, source, destination) for r in results],
        vm_readiness=[
            VmReadinessOut(vm=v.vm, status=v.status.value, blocking=list(v.blocking), warnings=list(v.warnings))
            for v in readiness or []
        ],
        events_collected=incidents is not None,
        events_read=len(source.events or []) + len(destination.events or []),
        incidents=incidents or [],
    )
