"""From runner results to the one report model every format renders."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from lmpreflight import __version__
from lmpreflight.checks.network import incoming_addresses
from lmpreflight.explain.model import Incident
from lmpreflight.facts.model import HostFacts
from lmpreflight.model import MissingFact, Result, Status
from lmpreflight.report.model import AcceptedOut, HostOut, PathOut, Report, ResultOut, RunOut, Summary, VmReadinessOut
from lmpreflight.report.parts import RemediationOut
from lmpreflight.report.waivers import WAIVABLE, Waiver, WaiverOut, WaiverState, active
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
        collected=host.whole_host_error is None,
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


# The parts of the migration-path picture, each as the (check id, subject) pairs behind it;
# a subject of None means any.
Parts = tuple[tuple[str, str | None], ...]
TCP_PARTS: Parts = (
    ("network.port-6600", "source"),
    ("network.firewall-rule", None),
    ("network.shared-migration-subnet", None),
)
FORWARD_PARTS: Parts = (
    ("delegation.spns-to-destination", None),
    ("delegation.protocol-transition", "source"),
    ("credssp.start-on-source", None),
    ("credssp.credential-guard", None),
    ("hyperv.auth-type-consistent", None),
    ("domain.same-or-trusted", None),
)
REVERSE_PARTS: Parts = (
    ("delegation.spns-to-source", None),
    ("delegation.protocol-transition", "destination"),
    ("network.port-6600", "destination"),
    ("hyperv.auth-type-consistent", None),
    ("domain.same-or-trusted", None),
)


def _worst(results: list[Result], parts: Parts | None = None, subject: str | None = None) -> str | None:
    """The worst status (skips aside) of the results named by ``parts``, or of every result
    about ``subject``; None when there are none."""
    chosen = [
        r.status
        for r in results
        if r.status != Status.SKIP
        and (subject is None or r.finding.subject == subject)
        and (parts is None or any(r.check.id == cid and sub in (None, r.finding.subject) for cid, sub in parts))
    ]
    return max(chosen, key=lambda status: status.rank).value if chosen else None


def _path(results: list[Result], source: HostFacts) -> PathOut:
    shared = next((r for r in results if r.check.id == "network.shared-migration-subnet"), None)
    addresses = shared.finding.evidence.get("on_shared_subnet") if shared else None
    auth = source.migration.authentication_type if source.migration else None
    label = {"Kerberos": "Kerberos delegation", "CredSSP": f"CredSSP (start on {source.name})"}.get(
        auth or "", "authentication"
    )
    return PathOut(
        address=addresses[0] if addresses else None,
        tcp_6600=_worst(results, TCP_PARTS),
        forward_auth=_worst(results, FORWARD_PARTS),
        reverse_auth=_worst(results, REVERSE_PARTS),
        auth_label=label,
        source_status=_worst(results, subject="source") or Status.PASS.value,
        destination_status=_worst(results, subject="destination") or Status.PASS.value,
    )


def _accept(results: list[ResultOut], waivers: list[Waiver], today: date) -> tuple[list[ResultOut], list[WaiverOut]]:
    """Mark the results an unexpired waiver covers as accepted; say what became of each waiver."""
    used: set[int] = set()
    marked = []
    for result in results:
        index = next(
            (
                i
                for i, w in enumerate(waivers)
                if result.status in WAIVABLE
                and active(w, today)
                and w.covers(result.check_id, result.subject, result.host)
            ),
            None,
        )
        if index is not None:
            used.add(index)
            waiver = waivers[index]
            result = result.model_copy(
                update={"accepted": AcceptedOut(reason=waiver.reason, by=waiver.by, expires=waiver.expires)}
            )
        marked.append(result)
    states: list[WaiverState] = [
        "applied" if i in used else ("expired" if not active(w, today) else "unused") for i, w in enumerate(waivers)
    ]
    return marked, [WaiverOut(**w.model_dump(), state=state) for w, state in zip(waivers, states, strict=True)]


def build_report(
    results: list[Result],
    source: HostFacts,
    destination: HostFacts,
    selection: Selection,
    run: RunInfo,
    incidents: list[Incident] | None = None,
    readiness: list[VmReadiness] | None = None,
    waivers: list[Waiver] | None = None,
) -> Report:
    """The report; ``incidents`` are given when the hosts' event logs were read (diagnose).
    Results an unexpired waiver accepts keep their status but do not count in the verdict."""
    generated_at = run.generated_at or datetime.now(UTC)
    outs, waiver_outs = _accept(
        [_result_out(r, source, destination) for r in results], waivers or [], generated_at.date()
    )
    statuses = [r.status for r in results]
    counted = [Status(out.status) for out in outs if out.accepted is None]
    verdict = verdict_for(counted, run.strict)
    counts = Counter(s.value for s in statuses)
    return Report(
        tool_version=__version__,
        generated_at=generated_at,
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
        summary=Summary(
            total=len(results),
            counts={s.value: counts.get(s.value, 0) for s in Status},
            accepted=sum(1 for out in outs if out.accepted is not None),
        ),
        path=_path(results, source),
        results=outs,
        vm_readiness=[
            VmReadinessOut(vm=v.vm, status=v.status.value, blocking=list(v.blocking), warnings=list(v.warnings))
            for v in readiness or []
        ],
        events_collected=incidents is not None,
        events_read=len(source.events or []) + len(destination.events or []),
        incidents=incidents or [],
        waivers=waiver_outs,
    )
