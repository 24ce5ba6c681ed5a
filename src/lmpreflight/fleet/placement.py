"""Where each VM can go: every (source, destination) pair judged from facts already collected.

A pure function of ``{host: facts}`` and a selection. Each pair is evaluated once with the
same runner and checks as ``check`` (hosts collected once: n collections, n² evaluations);
the results are split into what concerns the pair (every VM of the source) and what
concerns one VM, and each VM × destination cell is placed:

- **ready**: nothing blocks (warnings allowed; with ``strict`` a warning blocks);
- **after fixes**: every blocker is one the remediation script fixes safely, named;
- **blocked**: a blocker needs a decision or cannot be fixed (processor vendor, VM
  version, operating system pair, ...);
- **unknown**: some fact could not be collected and nothing else blocks: no verdict.

Only non-passing results are kept, each once (a fleet-sized run must stay small in
memory); a problem about one host alone is listed once for that host, not per pair.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from lmpreflight.facts.model import HostFacts
from lmpreflight.model import Result, Status
from lmpreflight.registry import Registry
from lmpreflight.report.fixscript import AUTOMATED
from lmpreflight.runner import Selection, evaluate

VM_PREFIX = "vm:"
SHOWN = (Status.FAIL, Status.ERROR, Status.WARN)


class Placement(StrEnum):
    READY = "ready"
    AFTER_FIXES = "after-fixes"
    BLOCKED = "blocked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Problem:
    """One non-passing result, without the evidence a fleet run need not keep."""

    check_id: str
    title: str
    status: Status
    subject: str
    host: str | None
    """The host it is about when it is about one host (subject source/destination/VM)."""
    message: str
    fix: str | None
    powershell: str | None
    run_on: str | None
    automated: bool
    """The remediation script fixes it safely (see report/fixscript.py)."""

    @property
    def blocks(self) -> bool:
        return self.status in (Status.FAIL, Status.ERROR)


@dataclass(frozen=True, slots=True)
class Cell:
    destination: str
    placement: Placement
    problems: tuple[int, ...]
    """Indexes into :attr:`PlacementMatrix.problems`: blockers first, then warnings."""


@dataclass(frozen=True, slots=True)
class VmRow:
    source: str
    vm: str
    cells: tuple[Cell, ...]

    def destinations(self, placement: Placement) -> list[str]:
        return [cell.destination for cell in self.cells if cell.placement == placement]


@dataclass(frozen=True, slots=True)
class HostSummary:
    name: str
    target: str
    os: str | None
    collected: bool
    error: str | None
    vm_count: int | None


@dataclass
class PlacementMatrix:
    hosts: list[HostSummary]
    sources: list[str]
    destinations: list[str]
    rows: list[VmRow]
    problems: list[Problem]
    host_problems: dict[str, list[int]]
    """Per host, the problems about that host alone, each listed once."""
    pairs: int
    strict: bool = False
    _index: dict[Problem, int] = field(default_factory=dict, repr=False)

    def count(self, placement: Placement) -> int:
        return sum(1 for row in self.rows for cell in row.cells if cell.placement == placement)

    @property
    def exit_code(self) -> int:
        """0 when every VM has a destination that takes it now; 1 when some VM has none and
        that is known; 3 when some VM has none and facts are missing to say why. A host that
        could not be collected does not change a VM's answer when another host takes it now."""
        worst = 0
        for row in self.rows:
            if any(cell.placement == Placement.READY for cell in row.cells):
                continue
            if any(cell.placement == Placement.UNKNOWN for cell in row.cells) or not row.cells:
                worst = max(worst, 3)
            else:
                worst = max(worst, 1)
        return worst


def automated_fix(check_id: str) -> bool:
    """Whether the remediation script fixes this check's failures without a decision."""
    return check_id in AUTOMATED


def _problem(result: Result, source: HostFacts, destination: HostFacts) -> Problem:
    finding = result.finding
    subject = finding.subject
    host = {"source": source.name, "destination": destination.name}.get(subject)
    if subject.startswith(VM_PREFIX):
        host = source.name
    fix = result.remediation
    return Problem(
        check_id=result.check.id,
        title=result.check.title,
        status=finding.status,
        subject=subject,
        host=host,
        message=finding.message,
        fix=fix.text if fix else None,
        powershell=fix.powershell if fix else None,
        run_on=fix.run_on if fix else None,
        automated=automated_fix(result.check.id),
    )


def place(problems: Sequence[Problem], strict: bool) -> Placement:
    blockers = [p for p in problems if p.blocks or (strict and p.status == Status.WARN)]
    if any(p.status != Status.ERROR and not p.automated for p in blockers):
        return Placement.BLOCKED
    if any(p.status == Status.ERROR for p in blockers):
        return Placement.UNKNOWN
    return Placement.AFTER_FIXES if blockers else Placement.READY


def vms_to_place(source: HostFacts, wanted: Sequence[str]) -> list[str]:
    """The source's VMs the run is about: those named (as named), else all of them."""
    if not wanted:
        return [vm.name for vm in source.vms or []]
    if source.vms is None:  # not collected: the cells say why
        return list(wanted)
    names = {vm.name.casefold(): vm.name for vm in source.vms}
    return [names[name.casefold()] for name in wanted if name.casefold() in names]


def build_matrix(
    registry: Registry,
    facts: Mapping[str, HostFacts],
    sources: Iterable[str],
    destinations: Iterable[str],
    selection: Selection,
    strict: bool = False,
) -> PlacementMatrix:
    """Judge every (source, destination) pair with two different hosts; ``facts`` is keyed
    by the names used in ``sources`` and ``destinations``."""
    source_names, destination_names = list(sources), list(destinations)
    matrix = PlacementMatrix(
        hosts=[_summary(name, host) for name, host in facts.items()],
        sources=source_names,
        destinations=destination_names,
        rows=[],
        problems=[],
        host_problems={},
        pairs=0,
        strict=strict,
    )
    for source_name in source_names:
        source = facts[source_name]
        vm_names = vms_to_place(source, selection.vms)
        if not vm_names:
            continue
        cells: dict[str, list[Cell]] = {vm: [] for vm in vm_names}
        for destination_name in destination_names:
            if _same_host(source_name, destination_name, facts):
                continue
            destination = facts[destination_name]
            pair_selection = Selection(tuple(vm_names), selection.skip, selection.include_storage)
            results = evaluate(registry, source, destination, pair_selection)
            matrix.pairs += 1
            shared, per_vm = _split(matrix, results, source, destination, (source_name, destination_name))
            for vm in vm_names:
                ids = _ordered(matrix, shared + per_vm.get(vm.casefold(), []))
                problems = [matrix.problems[i] for i in ids]
                cells[vm].append(Cell(destination_name, place(problems, strict), tuple(ids)))
        matrix.rows.extend(VmRow(source_name, vm, tuple(cells[vm])) for vm in vm_names)
    return matrix


def _split(
    matrix: PlacementMatrix,
    results: list[Result],
    source: HostFacts,
    destination: HostFacts,
    names: tuple[str, str],
) -> tuple[list[int], dict[str, list[int]]]:
    """Problem ids that concern every VM of the pair, and those of each VM (by casefolded name)."""
    shared: list[int] = []
    per_vm: dict[str, list[int]] = {}
    for result in results:
        if result.status not in SHOWN:
            continue
        problem = _problem(result, source, destination)
        index = matrix._index.get(problem)
        if index is None:
            index = matrix._index[problem] = len(matrix.problems)
            matrix.problems.append(problem)
        subject = problem.subject
        if subject.startswith(VM_PREFIX):
            per_vm.setdefault(subject[len(VM_PREFIX) :].casefold(), []).append(index)
            continue
        shared.append(index)
        if subject in ("source", "destination"):
            host = names[0] if subject == "source" else names[1]
            listed = matrix.host_problems.setdefault(host, [])
            if index not in listed:
                listed.append(index)
    return shared, per_vm


def _ordered(matrix: PlacementMatrix, ids: list[int]) -> list[int]:
    return sorted(dict.fromkeys(ids), key=lambda i: -matrix.problems[i].status.rank)


def _same_host(first: str, second: str, facts: Mapping[str, HostFacts]) -> bool:
    """The same machine, even when listed under two names (a short name and an FQDN)."""
    if first.casefold() == second.casefold():
        return True
    a, b = facts[first], facts[second]
    return (
        a.identity is not None and b.identity is not None and a.identity.fqdn.casefold() == b.identity.fqdn.casefold()
    )


def _summary(name: str, host: HostFacts) -> HostSummary:
    error = host.whole_host_error
    return HostSummary(
        name=name,
        target=host.target,
        os=host.os.caption if host.os is not None else None,
        collected=error is None,
        error=error.message if error is not None else None,
        vm_count=len(host.vms) if host.vms is not None else None,
    )
