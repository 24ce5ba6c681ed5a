"""Evaluating checks against facts. Never a crash, never a silent pass.

A check whose facts were not collected yields ``error`` naming the collection error; a
check that raises yields ``error`` with the exception summarised; a check that yields
nothing yields ``error`` too, because silence is not a pass.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

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
    role, parts = _steps(path)
    value: Any = context.host(role)
    for part in parts:
        value = getattr(value, part, None)
        if value is None:
            return None
    return value


@cache
def _steps(path: str) -> tuple[str, tuple[str, ...]]:
    """``role.section.field`` as the role and the attributes to follow (split once per path:
    a fleet resolves the same few paths for every check and pair)."""
    role, _, rest = path.partition(".")
    return role, tuple(rest.split("."))


@cache
def _expanded(needs: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(path for need in needs for path in expand_need(need))


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
    for path in _expanded(check.needs):
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
    return _pair_results(registry, registry.sorted(), context, selection, lambda check: run_check(check, context))


def _pair_results(
    registry: Registry,
    checks: Iterable[Check],
    context: Context,
    selection: Selection,
    findings_of: Callable[[Check], Iterable[Finding]],
    keep: Container[Status] | None = None,
) -> list[Result]:
    """The pair's results, with each check's findings from ``findings_of``; with ``keep``,
    only those of these statuses (sorted the same: a stable sort keeps their order)."""
    results: list[Result] = [plugin_load_result(error) for error in registry.load_errors]
    results += [unreachable_result(role, context.host(role)) for role in ROLES if context.host(role).whole_host_error]
    for check in checks:
        if check.id in selection.skip:
            findings: Iterable[Finding] = [Finding(Status.SKIP, "skipped by the user (--skip)")]
        else:
            findings = findings_of(check)
        results.extend(Result(check, finding) for finding in findings if keep is None or finding.status in keep)
    if keep is not None:
        results = [result for result in results if result.status in keep]
    return sort_results(results)


class _Watched:
    """A host's facts that remember whether anything looked at them.

    Stands in for the destination the first time a check runs for a source: every attribute,
    method and operator is passed through to the real facts and marks the facts as seen. A
    check that ran without seeing them concluded without the destination (checks are pure
    functions of what they read), so its findings hold for every destination of that source.
    """

    __slots__ = ("_facts", "_seen")

    def __init__(self, facts: HostFacts) -> None:
        object.__setattr__(self, "_facts", facts)
        object.__setattr__(self, "_seen", False)

    def __getattr__(self, name: str) -> Any:
        object.__setattr__(self, "_seen", True)
        return getattr(self._facts, name)

    @property  # type: ignore[misc]  # isinstance() asks __class__; it is a look too
    def __class__(self) -> type:
        object.__setattr__(self, "_seen", True)
        return type(self._facts)


def _passed_on(name: str) -> Callable[..., Any]:
    def method(self: _Watched, *args: Any, **kwargs: Any) -> Any:
        object.__setattr__(self, "_seen", True)
        return getattr(self._facts, name)(*args, **kwargs)

    method.__name__ = name
    return method


for _operator in (
    *("__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__", "__hash__", "__bool__", "__len__", "__iter__"),
    *("__contains__", "__getitem__", "__repr__", "__str__", "__format__", "__dir__", "__reduce_ex__", "__reduce__"),
    *("__copy__", "__deepcopy__", "__setattr__", "__delattr__", "__getstate__", "__sizeof__"),
):
    setattr(_Watched, _operator, _passed_on(_operator))


@dataclass(slots=True)
class SourcePairs:
    """:func:`evaluate` for one source against many destinations, with the same results.

    The first time a check runs for this source it sees the destination through
    :class:`_Watched`; when it did not look at the destination at all (the source's own VM
    files, CredSSP settings, ...), its findings are kept and stand for every destination. The
    checks that do look are run again for each pair. A fleet of n hosts so judges what
    concerns one host n times, not n² times.
    """

    registry: Registry
    source: HostFacts
    selection: Selection
    _checks: list[Check] = field(default_factory=list)
    _kept: dict[str, list[Finding]] = field(default_factory=dict)
    _looked: set[str] = field(default_factory=set)
    """Checks seen to read the destination (run for every pair)."""

    def __post_init__(self) -> None:
        self._checks = self.registry.sorted()

    def evaluate(self, destination: HostFacts, keep: Container[Status] | None = None) -> list[Result]:
        """The results :func:`evaluate` gives for the pair; with ``keep``, only those of these statuses."""
        context = self.selection.context(self.source, destination)
        return _pair_results(
            self.registry, self._checks, context, self.selection, lambda c: self._findings(c, context), keep
        )

    def _findings(self, check: Check, context: Context) -> list[Finding]:
        kept = self._kept.get(check.id)
        if kept is not None:
            return kept
        if check.id in self._looked:
            return run_check(check, context)
        watched = _Watched(context.destination)
        findings = run_check(check, self.selection.context(self.source, cast(HostFacts, watched)))
        if watched._seen:
            self._looked.add(check.id)
        else:
            self._kept[check.id] = findings
        return findings


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
    fixed = [(check.id, missing.status) for check in vm_checks if (missing := unmet[check.id]) is not None]
    live = [check for check in vm_checks if unmet[check.id] is None]
    summary = []
    for vm in source.vms or []:
        context = selection.context(source, destination, (vm.name,))
        found: dict[Status, set[str]] = {}
        for check_id, status in fixed:
            found.setdefault(status, set()).add(check_id)
        for check in live:
            for finding in call_check(check, context):
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


SEVERITY_ORDER = {severity: index for index, severity in enumerate(Severity)}


def sort_results(results: list[Result]) -> list[Result]:
    return sorted(
        results,
        key=lambda r: (-r.status.rank, SEVERITY_ORDER[r.check.severity], r.check.id, r.finding.subject),
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
