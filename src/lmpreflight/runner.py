"""Evaluating checks against facts. Never a crash, never a silent pass.

A check whose facts were not collected yields ``error`` naming the collection error; a
check that raises yields ``error`` with the exception summarised; a check that yields
nothing yields ``error`` too, because silence is not a pass.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lmpreflight.facts.model import WHOLE_HOST, HostFacts
from lmpreflight.registry import PluginLoadError, Registry
from lmpreflight.vocabulary import (
    Category,
    Check,
    Context,
    Finding,
    MissingFact,
    MoveFrom,
    NotApplicable,
    Remediation,
    Result,
    Severity,
    Status,
)

ROLES = ("source", "destination")


def expand_need(path: str) -> list[str]:
    """``hosts.x`` is shorthand for both ``source.x`` and ``destination.x``."""
    role, _, rest = path.partition(".")
    if role == "hosts":
        return [f"source.{rest}", f"destination.{rest}"]
    return [path]


def resolve_fact(context: Context, path: str) -> Any:
    """The value at ``role.section.field``; ``None`` when any step was not collected."""
    role, _, rest = path.partition(".")
    value: Any = context.host(role)
    for part in rest.split("."):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


def missing_fact_finding(context: Context, path: str) -> Finding:
    role, _, rest = path.partition(".")
    host = context.host(role)
    error = host.error_for(rest)
    if error is not None and error.section == WHOLE_HOST:
        # The root cause is reported once, by collection.host; repeating it per check is noise.
        return Finding(
            Status.SKIP,
            f"not evaluated: nothing could be collected from {host.name} (see collection.host)",
            subject=role,
            evidence={"missing_fact": path},
        )
    if error is not None:
        message = f"{path} could not be collected from {host.name}: {error.message}"
        if error.hint:
            message += f" ({error.hint})"
    else:
        message = f"{path} is absent from the facts of {host.name} (the collection did not record it)"
    return Finding(
        Status.ERROR,
        message,
        subject=role,
        evidence={"missing_fact": path, "collection_error": error.message if error else None},
        remediation=Remediation(
            text=(error.hint if error and error.hint else "Fix the collection problem above and run the check again."),
        ),
    )


def unmet_need(check: Check, context: Context) -> Finding | None:
    """The finding for the first fact the check needs that was not collected, if any. It
    depends on the hosts' facts only, never on the selected VMs."""
    for need in check.needs:
        for path in expand_need(need):
            if resolve_fact(context, path) is None:
                return missing_fact_finding(context, path)
    return None


def run_check(check: Check, context: Context) -> list[Finding]:
    unmet = unmet_need(check, context)
    if unmet is not None:
        return [unmet]
    return call_check(check, context)


def call_check(check: Check, context: Context) -> list[Finding]:
    """The check's findings, once its needs are known to be met."""
    try:
        findings = check(context)
    except NotApplicable as exc:
        return [Finding(Status.SKIP, f"not applicable: {exc}")]
    except MissingFact as exc:
        return [missing_fact_finding(context, exc.path)]
    except Exception as exc:  # a broken check must not end the run
        return [
            Finding(
                Status.ERROR,
                f"the check itself failed ({type(exc).__name__}: {exc}); its verdict is unknown",
                evidence={"exception": type(exc).__name__, "detail": str(exc)[:500]},
            )
        ]
    if not findings:
        return [Finding(Status.ERROR, "the check produced no result; its verdict is unknown")]
    return findings


@dataclass(frozen=True, slots=True)
class Selection:
    """What the user asked for: VMs to consider and checks to leave out."""

    vms: tuple[str, ...] = ()
    skip: frozenset[str] = frozenset()
    include_storage: bool = False
    move_from: MoveFrom | None = None
    storage_path: str | None = None

    def context(self, source: HostFacts, destination: HostFacts, vms: tuple[str, ...] | None = None) -> Context:
        """The context checks see for this selection (``vms`` overrides the selected VMs)."""
        return Context(
            source,
            destination,
            self.vms if vms is None else vms,
            self.include_storage or self.storage_path is not None,
            self.move_from,
            self.storage_path,
        )


def evaluate(registry: Registry, source: HostFacts, destination: HostFacts, selection: Selection) -> list[Result]:
    """Every registered check against the pair, worst results first."""
    context = selection.context(source, destination)
    results: list[Result] = [plugin_load_result(error) for error in registry.load_errors]
    results += [unreachable_result(role, context.host(role)) for role in ROLES if context.host(role).whole_host_error]
    for check in registry.sorted():
        if check.id in selection.skip:
            findings: Iterable[Finding] = [Finding(Status.SKIP, "skipped by the user (--skip)")]
        else:
            findings = run_check(check, context)
        results.extend(Result(check, finding) for finding in findings)
    return sort_results(results)


@dataclass(frozen=True, slots=True)
class VmReadiness:
    vm: str
    status: Status
    blocking: tuple[str, ...]
    warnings: tuple[str, ...]


def vm_readiness(
    registry: Registry, source: HostFacts, destination: HostFacts, selection: Selection
) -> list[VmReadiness]:
    """With no VM named, every VM on the source judged by the VM checks alone; host-level
    problems apply to all of them and are reported once, in the main results."""
    vm_checks = [c for c in registry.sorted() if c.category == Category.VM and c.id not in selection.skip]
    # Whether a check's facts are there is the same for every VM: decided once, not per VM.
    host_context = selection.context(source, destination, ())
    unmet = {check.id: unmet_need(check, host_context) for check in vm_checks}
    summary = []
    for vm in source.vms or []:
        context = selection.context(source, destination, (vm.name,))
        found: dict[Status, set[str]] = {}
        for check in vm_checks:
            missing = unmet[check.id]
            for finding in [missing] if missing is not None else call_check(check, context):
                found.setdefault(finding.status, set()).add(check.id)
        judged = [status for status in found if status != Status.SKIP]
        blocking = found.get(Status.FAIL, set()) | found.get(Status.ERROR, set())
        summary.append(
            VmReadiness(
                vm=vm.name,
                status=max(judged, key=lambda s: s.rank, default=Status.PASS),
                blocking=tuple(sorted(blocking)),
                warnings=tuple(sorted(found.get(Status.WARN, ()))),
            )
        )
    summary += [VmReadiness(name, Status.ERROR, ("vm.exists-on-source",), ()) for name in unread_vms(source)]
    return summary


def unread_vms(source: HostFacts) -> list[str]:
    """VMs the source names in a ``vms.<name>`` error but could not give facts for: they are
    judged incomplete rather than left out of the list."""
    present = [vm.name.casefold() for vm in source.vms or []]
    names = []
    for error in source.errors:
        name = error.section.removeprefix("vms.")
        folded = name.casefold()
        if name != error.section and not any(folded == p or folded.startswith(f"{p}.") for p in present):
            names.append(name)
    return names


def sort_results(results: list[Result]) -> list[Result]:
    severity_order = list(Severity)
    return sorted(
        results,
        key=lambda r: (-r.status.rank, severity_order.index(r.check.severity), r.check.id, r.finding.subject),
    )


COLLECTION_CHECK_ID = "collection.host"
"""The runner's own result for a host nothing could be collected from."""
PLUGIN_LOAD_CHECK_ID = "plugin.load"
"""The runner's own result for a check plugin that did not load."""


def framework_check(
    id: str,
    title: str,
    category: Category,
    explanation: str,
    remediation: Remediation,
    severity: Severity = Severity.HIGH,
) -> Check:
    """A check the runner itself reports on (plugins, collection), outside the registry."""
    return Check(
        id=id,
        title=title,
        category=category,
        severity=severity,
        needs=(),
        references=(),
        remediation=remediation,
        explanation=explanation,
        function=lambda context: [],
    )


def unreachable_result(role: str, host: HostFacts) -> Result:
    error = host.whole_host_error
    assert error is not None
    check = framework_check(
        COLLECTION_CHECK_ID,
        "Facts could be collected from each host",
        Category.HYPERV,
        "Nothing could be read on this host, so every check that needs its facts was not evaluated; the verdict "
        "stays incomplete until the host can be collected.",
        Remediation(
            text=error.hint or "Fix the connection problem and run the check again.",
            run_on="the machine running lmpreflight, or the host",
        ),
        Severity.CRITICAL,  # the root cause of every other gap: listed first
    )
    return Result(
        check,
        Finding(
            Status.ERROR,
            f"{host.name}: {error.message}",
            subject=role,
            evidence={"target": host.target, "error": error.message},
        ),
    )


def plugin_load_result(error: PluginLoadError) -> Result:
    check = framework_check(
        PLUGIN_LOAD_CHECK_ID,
        "Third-party check plugins load",
        Category.PLUGIN,
        "Checks from an installed plugin could not be loaded, so the verdict lacks them.",
        Remediation(
            text=f"Reinstall or remove the package that provides the '{error.name}' entry point.",
            run_on="the machine running lmpreflight",
        ),
    )
    finding = Finding(
        Status.ERROR,
        f"plugin '{error.name}' ({error.module}) failed to load: {error.error}",
        subject="pair",
        evidence={"plugin": error.name, "module": error.module, "error": error.error},
    )
    return Result(check, finding)
