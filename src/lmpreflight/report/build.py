"""From runner results to the one report model every format renders."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime

from lmpreflight._version import __version__
from lmpreflight.documents import RemediationOut
from lmpreflight.exit_codes import ExitCode
from lmpreflight.explain.model import IncidentsFound
from lmpreflight.facts.addresses import incoming_addresses, shared_migration_addresses
from lmpreflight.facts.model import HostFacts
from lmpreflight.report.model import (
    AcceptedOut,
    FixStepOut,
    HostDetailOut,
    HostOut,
    PathOut,
    Report,
    ResultOut,
    RunOut,
    Summary,
    Verdict,
    VmReadinessOut,
)
from lmpreflight.report.waivers import WAIVABLE, Waiver, WaiverOut, WaiverState, active
from lmpreflight.runner import Selection, VmReadiness
from lmpreflight.vocabulary import PathPart, Result, RunPlace, Status

EXIT_CODES = {
    Verdict.READY: ExitCode.READY,
    Verdict.NOT_READY: ExitCode.NOT_READY,
    Verdict.INCOMPLETE: ExitCode.INCOMPLETE,
}
"""0 ready, 1 not ready, 3 incomplete; 2 (usage or unusable input) is raised before a report exists."""


def verdict_for(statuses: list[Status], strict: bool) -> Verdict:
    if Status.FAIL in statuses or (strict and Status.WARN in statuses):
        return Verdict.NOT_READY
    if Status.ERROR in statuses:
        return Verdict.INCOMPLETE
    return Verdict.READY


def exit_code_for(verdict: Verdict) -> ExitCode:
    return EXIT_CODES[verdict]


@dataclass(frozen=True, slots=True)
class RunInfo:
    command: str
    run_from: str
    strict: bool = False
    generated_at: datetime | None = None


def _host_out(role: str, host: HostFacts, results: list[Result]) -> HostOut:
    migration = host.migration
    return HostOut(
        details=[
            HostDetailOut(check_id=r.check.id, label=r.check.title, text=r.finding.message, status=r.status)
            for r in results
            if r.finding.subject == role and r.check.colours(PathPart.HOST_DETAILS, r.finding)
        ],
        role=role,
        target=host.target,
        name=host.name,
        fqdn=host.identity.fqdn if host.identity else None,
        os=host.os.caption if host.os else None,
        os_build=host.os.build if host.os else None,
        authentication_type=migration.authentication_type if migration else None,
        performance_option=migration.performance_option if migration else None,
        migration_networks=[n.subnet for n in migration.networks] if migration else [],
        incoming_addresses=incoming_addresses(host) or [],
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
    step = check.fix_step(finding, destination if finding.subject == "destination" else source)
    return ResultOut(
        check_id=check.id,
        title=check.title,
        category=check.category.value,
        severity=check.severity.value,
        status=finding.status.value,
        subject=finding.subject,
        host=_subject_host(finding.subject, source, destination),
        message=finding.message,
        evidence=finding.evidence_fields(),
        explanation=check.explanation,
        remediation=RemediationOut(text=fix.text, powershell=fix.powershell, run_on=fix.run_on) if show_fix else None,
        fix_step=FixStepOut(
            runs_on=step.runs_on,
            description=step.description,
            needed=step.needed,
            change=step.change,
            manual=step.manual,
        )
        if step
        else None,
        references=list(check.references),
    )


def _worst(results: list[Result], part: PathPart | None = None, subject: str | None = None) -> str | None:
    """The worst status (skips aside) of the results the checks show on ``part`` of the picture,
    or of every result about ``subject``; None when there are none."""
    chosen = [
        r.status
        for r in results
        if r.status != Status.SKIP
        and (subject is None or r.finding.subject == subject)
        and (part is None or r.check.colours(part, r.finding))
    ]
    return max(chosen, key=lambda status: status.rank).value if chosen else None


def _path(results: list[Result], source: HostFacts, destination: HostFacts) -> PathOut:
    addresses = shared_migration_addresses(source, destination)
    auth = source.migration.authentication_type if source.migration else None
    label = {"Kerberos": "Kerberos delegation", "CredSSP": f"CredSSP (start on {source.name})"}.get(
        auth or "", "authentication"
    )
    return PathOut(
        address=addresses[0] if addresses else None,
        tcp_6600=_worst(results, PathPart.TCP_6600),
        forward_auth=_worst(results, PathPart.FORWARD_AUTH),
        reverse_auth=_worst(results, PathPart.REVERSE_AUTH),
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


def _held_fixes(results: list[Result]) -> dict[RunPlace, list[str]]:
    """The places whose fix steps must not be written, with the results of the checks guarding them."""
    held: dict[RunPlace, list[str]] = {}
    for result in results:
        if result.status != Status.PASS:
            for place in result.check.guards:
                held.setdefault(place, []).append(f"{result.check.id}: {result.finding.message}")
    return held


def build_report(
    results: list[Result],
    source: HostFacts,
    destination: HostFacts,
    selection: Selection,
    run: RunInfo,
    incidents: IncidentsFound | None = None,
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
        hosts=[_host_out("source", source, results), _host_out("destination", destination, results)],
        summary=Summary(
            total=len(results),
            counts={s.value: counts.get(s.value, 0) for s in Status},
            accepted=sum(1 for out in outs if out.accepted is not None),
        ),
        path=_path(results, source, destination),
        results=outs,
        vm_readiness=[
            VmReadinessOut(vm=v.vm, status=v.status.value, blocking=list(v.blocking), warnings=list(v.warnings))
            for v in readiness or []
        ],
        events_collected=incidents is not None,
        events_read=len(source.events or []) + len(destination.events or []),
        **dict(incidents or IncidentsFound(incidents=[])),
        waivers=waiver_outs,
        held_fixes=_held_fixes(results),
    )
