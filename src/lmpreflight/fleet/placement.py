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

import gc
import multiprocessing
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from lmpreflight.facts.model import HostFacts
from lmpreflight.recorded import DestinationReads
from lmpreflight.registry import Registry
from lmpreflight.runner import Selection, SourcePairs
from lmpreflight.vocabulary import Finding, Result, Status

VM_PREFIX = "vm:"
SHOWN = (Status.FAIL, Status.ERROR, Status.WARN)


class Placement(StrEnum):
    READY = "ready"
    AFTER_FIXES = "after-fixes"
    BLOCKED = "blocked"
    UNKNOWN = "unknown"


class Problem(NamedTuple):
    """One non-passing result, without the evidence a fleet run need not keep.

    A named tuple, not a dataclass: a fleet builds a hundred thousand of them, hashes each
    to number it once and sends each from a worker process to the parent; a tuple is built,
    hashed, compared and pickled in C, a frozen dataclass field by field in Python."""

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
    """The check's fix-script step makes the change itself, without a decision (``@check(fix=...)``)."""

    @property
    def blocks(self) -> bool:
        return self.status in (Status.FAIL, Status.ERROR)


CODES = {Placement.READY: "r", Placement.AFTER_FIXES: "f", Placement.BLOCKED: "b", Placement.UNKNOWN: "u"}
SAME_HOST = "-"
"""A row's placements are one character per destination; ``-`` where it is the VM's own host."""
BY_CODE = {code: placement for placement, code in CODES.items()}


@dataclass(frozen=True, slots=True)
class Cell:
    destination: str
    placement: Placement
    problems: tuple[int, ...]
    """Indexes into :attr:`PlacementMatrix.problems`: blockers first, then warnings."""


@dataclass(frozen=True, slots=True)
class VmRow:
    """One VM's placements, compact enough for 4,000 VMs × 200 destinations."""

    source: str
    vm: str
    placements: str
    """One code per destination of the matrix (see :data:`CODES`), ``-`` for the VM's own host."""
    own: dict[int, tuple[int, ...]]
    """Destination index → the problems of this VM alone there (the pair's are kept per pair)."""


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
    pair_problems: dict[tuple[str, int], tuple[int, ...]]
    """(source, destination index) → the problems that concern every VM of that pair."""
    host_problems: dict[str, list[int]]
    """Per host, the problems about that host alone, each listed once."""
    pairs: int
    strict: bool = False
    _index: dict[Problem, int] = field(default_factory=dict, repr=False)
    _listed: dict[str, set[tuple[str, Status, str]]] = field(default_factory=dict, repr=False)
    """What each host's list already says: the same problem seen as source and as destination is listed once."""

    def cells(self, row: VmRow) -> list[Cell]:
        """The row's cells, skipping the VM's own host."""
        return [
            Cell(self.destinations[index], BY_CODE[code], self.cell_problems(row, index))
            for index, code in enumerate(row.placements)
            if code != SAME_HOST
        ]

    def cell_problems(self, row: VmRow, index: int) -> tuple[int, ...]:
        ids = self.pair_problems.get((row.source, index), ()) + row.own.get(index, ())
        return tuple(sorted(dict.fromkeys(ids), key=lambda i: -self.problems[i].status.rank))

    def destinations_for(self, row: VmRow, placement: Placement) -> list[str]:
        code = CODES[placement]
        return [self.destinations[i] for i, c in enumerate(row.placements) if c == code]

    def count(self, placement: Placement) -> int:
        code = CODES[placement]
        return sum(row.placements.count(code) for row in self.rows)

    @property
    def unread_sources(self) -> list[HostSummary]:
        """Sources whose VMs could not be read (unreachable, password rejected, ...): where
        their VMs can go is unknown, which is not the same as having no VM to place."""
        by_name = {host.name: host for host in self.hosts}
        return [by_name[name] for name in self.sources if name in by_name and by_name[name].vm_count is None]

    @property
    def exit_code(self) -> int:
        """0 when every VM has a destination that takes it now; 1 when some VM has none and
        that is known; 3 when some VM has none and facts are missing to say why, or when a
        source's VMs could not be read at all. A destination that could not be collected does
        not change a VM's answer when another host takes it now."""
        worst = 3 if self.unread_sources else 0
        ready, unknown = CODES[Placement.READY], CODES[Placement.UNKNOWN]
        for row in self.rows:
            if ready in row.placements:
                continue
            worst = max(worst, 3 if unknown in row.placements or not row.placements.strip(SAME_HOST) else 1)
        return worst

    def intern(self, problem: Problem) -> int:
        index = self._index.setdefault(problem, len(self.problems))  # hashed once, new or not
        if index == len(self.problems):
            self.problems.append(problem)
        return index

    def list_for_host(self, host: str, indexes: Iterable[int]) -> None:
        """List problems under their host once: the same finding seen when the host is a
        source and when it is a destination is one problem to fix."""
        listed = self._listed.get(host)
        if listed is None:
            listed = self._listed[host] = set()
        for index in indexes:
            problem = self.problems[index]
            said = (problem.check_id, problem.status, problem.message)
            if said not in listed:
                listed.add(said)
                self.host_problems.setdefault(host, []).append(index)

    def absorb(self, part: _Part) -> None:
        """Add what a worker judged (with its own problem numbering) to this matrix."""
        ids = list(map(self.intern, map(Problem._make, part.problems)))
        renumbered = ids.__getitem__
        for key, local in part.pair_problems.items():
            self.pair_problems[key] = tuple(map(renumbered, local))
        for source, vm, placements, own in part.rows:
            ours = {index: tuple(map(renumbered, local)) for index, local in own.items()}
            self.rows.append(VmRow(source, vm, placements, ours))
        for host, listed in part.host_problems.items():
            self.list_for_host(host, map(renumbered, listed))
        self.pairs += part.pairs


@dataclass(frozen=True, slots=True)
class _Part:
    """One source's part of the matrix as a worker sends it to the parent, numbered on its own.
    Its problems and rows are plain tuples: pickle writes and reads those in C, where it calls
    Python code for each named tuple or dataclass (several times the cost, for a hundred
    thousand problems)."""

    problems: list[tuple[object, ...]]
    pair_problems: dict[tuple[str, int], tuple[int, ...]]
    rows: list[tuple[str, str, str, dict[int, tuple[int, ...]]]]
    host_problems: dict[str, list[int]]
    pairs: int

    @classmethod
    def of(cls, matrix: PlacementMatrix) -> _Part:
        return cls(
            [tuple(problem) for problem in matrix.problems],
            matrix.pair_problems,
            [(row.source, row.vm, row.placements, row.own) for row in matrix.rows],
            matrix.host_problems,
            matrix.pairs,
        )


def _problem(result: Result, source: HostFacts, destination: HostFacts) -> Problem:
    finding = result.finding
    subject = finding.subject
    host = None
    if subject == "destination":
        host = destination.name
    elif subject == "source" or subject.startswith(VM_PREFIX):
        host = source.name
    fix = result.remediation
    step = result.check.fix_step(finding, destination if subject == "destination" else source)
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
        automated=step is not None and step.change is not None,
    )


def place(problems: Sequence[Problem], strict: bool) -> Placement:
    """A cell's placement: blocked by any blocker that needs a decision, else unknown while a
    fact is missing, else ready after the fixes that clear its blockers, else ready."""
    return BY_RANK[max((rank(problem, strict) for problem in problems), default=0)]


def rank(problem: Problem, strict: bool) -> int:
    """What one problem does to a cell, as a number the worst of which places it (:data:`BY_RANK`):
    a cell's placement is its problems' worst, so a fleet ranks each problem once, not each cell."""
    if not (problem.blocks or (strict and problem.status == Status.WARN)):
        return 0
    if problem.status == Status.ERROR:
        return 2
    return 1 if problem.automated else 3


BY_RANK = (Placement.READY, Placement.AFTER_FIXES, Placement.UNKNOWN, Placement.BLOCKED)


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
    judged: Callable[[str], None] = lambda source: None,
    workers: int = 1,
) -> PlacementMatrix:
    """Judge every (source, destination) pair with two different hosts; ``facts`` is keyed
    by the names used in ``sources`` and ``destinations``. ``judged`` is told as each
    source's pairs are done (for progress).

    With ``workers`` > 1 the sources are judged in that many processes (forked, so the
    facts and checks are shared, not copied; where fork is unavailable, in this process):
    n² evaluations are pure work, and a fleet's take minutes on one core.
    """
    source_names, destination_names = list(sources), list(destinations)
    matrix = _empty(destination_names, strict, source_names, [_summary(name, host) for name, host in facts.items()])
    forking = "fork" in multiprocessing.get_all_start_methods()
    with _collector_skips_the_facts() as skip_what_exists_now:
        reads = DestinationReads()
        if workers > 1 and len(source_names) > 2 and forking:
            # The first source is judged here, before the workers fork: what judging it teaches
            # (which checks read something of their own of every pair, each host's own views) is
            # then inherited by every worker, not learnt again in each of them.
            first, *others = source_names
            _judge_source(matrix, registry, facts, first, selection, reads)
            judged(first)
            skip_what_exists_now()  # what the workers inherit outlives them too
            work = (registry, facts, destination_names, selection, strict, reads)
            _judge_in_processes(matrix, others, work, workers, judged, skip_what_exists_now)
            return matrix
        for source_name in source_names:
            _judge_source(matrix, registry, facts, source_name, selection, reads)
            judged(source_name)
    return matrix


@contextmanager
def _collector_skips_the_facts() -> Iterator[Callable[[], None]]:
    """Judge with every object that exists now (the facts, the checks) left out of garbage
    collection: they outlive the evaluation, yet each full collection walked all of them
    again while the matrix grew (a tenth or more of a fleet's evaluation), and in forked
    workers the walk also copied their memory pages. What it hands out leaves out what exists
    when it is called as well. Objects frozen by someone else before are left frozen (and
    then nothing more is)."""
    if gc.get_freeze_count():
        yield lambda: None
        return
    gc.freeze()
    try:
        yield gc.freeze
    finally:
        gc.unfreeze()


def _empty(
    destinations: list[str], strict: bool, sources: list[str] | None = None, hosts: list[HostSummary] | None = None
) -> PlacementMatrix:
    return PlacementMatrix(
        hosts=hosts or [],
        sources=sources or [],
        destinations=destinations,
        rows=[],
        problems=[],
        pair_problems={},
        host_problems={},
        pairs=0,
        strict=strict,
    )


PAIRS_PER_PROCESS_POOL = 400
"""Below this many pairs, judging takes less time than starting worker processes."""


def workers_for(pairs: int) -> int:
    """Processes worth judging this many pairs in: every core for a fleet, none for a few pairs."""
    return (os.cpu_count() or 1) if pairs > PAIRS_PER_PROCESS_POOL else 1


_Work = tuple[Registry, Mapping[str, HostFacts], list[str], Selection, bool, DestinationReads]
_work: _Work | None = None
"""What forked workers judge from: set before the pool forks, so it is inherited, not pickled."""


def _judge_in_processes(
    matrix: PlacementMatrix,
    sources: list[str],
    work: _Work,
    workers: int,
    judged: Callable[[str], None],
    skip_what_exists_now: Callable[[], None],
) -> None:
    """Each source's part is added to the matrix as it comes back, and then left out of garbage
    collection with the rest of the matrix: it lives as long as the matrix, and every full
    collection walked the whole matrix again (a third of this process's work in a fleet)."""
    global _work
    _work = work
    try:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            for source_name, part in zip(sources, pool.map(_judge_one, sources), strict=True):
                matrix.absorb(part)
                skip_what_exists_now()
                judged(source_name)
    finally:
        _work = None


def _judge_one(source_name: str) -> _Part:
    """In a worker: one source's pairs, numbered on their own (the parent renumbers)."""
    assert _work is not None
    registry, facts, destinations, selection, strict, reads = _work
    part = _empty(destinations, strict)
    _judge_source(part, registry, facts, source_name, selection, reads)
    return _Part.of(part)


def _judge_source(
    matrix: PlacementMatrix,
    registry: Registry,
    facts: Mapping[str, HostFacts],
    source_name: str,
    selection: Selection,
    reads: DestinationReads,
) -> None:
    """One row per VM of the source: its pair with every destination, evaluated once;
    ``reads`` holds what each destination answers, worked out once for every source.

    Most of a row is the pair's placement (a VM without problems of its own there), the same
    for every VM of the source: it is worked out once per pair, and each VM's own problems
    then change its row only where it has them."""
    source = facts[source_name]
    vm_names = vms_to_place(source, selection.vms)
    if not vm_names:
        return
    keys = [vm.casefold() for vm in vm_names]
    own: dict[str, dict[int, tuple[int, ...]]] = {key: {} for key in keys}
    own_codes: dict[str, list[tuple[int, str]]] = {key: [] for key in keys}
    pair_codes: list[str] = []
    pairs = SourcePairs(registry, source, Selection(tuple(vm_names), selection.skip, selection.include_storage), reads)
    split = _Splitter(matrix, source_name, source)
    for index, destination_name in enumerate(matrix.destinations):
        if _same_host(source_name, destination_name, facts):
            pair_codes.append(SAME_HOST)
            continue
        destination = facts[destination_name]
        results = pairs.evaluate(destination, SHOWN)
        matrix.pairs += 1
        shared, pair_rank, per_vm, vm_ranks = split(results, destination_name, destination)
        if shared:
            matrix.pair_problems[(source_name, index)] = shared
        pair_codes.append(CODE_BY_RANK[pair_rank])
        for key, mine in per_vm.items():
            if key in own:  # a finding about a VM the run is not about places nothing
                own[key][index] = tuple(mine)
                own_codes[key].append((index, CODE_BY_RANK[max(pair_rank, vm_ranks[key])]))
    row_of_the_pairs = "".join(pair_codes)
    for vm, key in zip(vm_names, keys, strict=True):
        placements = row_of_the_pairs
        if own_codes[key]:
            codes = list(pair_codes)
            for index, code in own_codes[key]:
                codes[index] = code
            placements = "".join(codes)
        matrix.rows.append(VmRow(source_name, vm, placements, own[key]))


CODE_BY_RANK = [CODES[placement] for placement in BY_RANK]
"""A cell's code from the worst :func:`rank` of its problems."""

_Seen = tuple[Finding, int, int, str | None]
"""A finding, its problem's index and rank, and the VM it is about (casefolded) if any."""


@dataclass
class _Splitter:
    """One source's results sorted into the matrix: problem ids that concern every VM of the
    pair, and those of each VM (by casefolded name), each with the worst rank among them. A
    finding the source's checks concluded once for every destination is numbered, ranked
    and listed under its host once, not once per pair."""

    matrix: PlacementMatrix
    source_name: str
    source: HostFacts
    _known: dict[tuple[int, str], _Seen] = field(default_factory=dict)

    def __call__(
        self, results: list[Result], destination_name: str, destination: HostFacts
    ) -> tuple[tuple[int, ...], int, dict[str, list[int]], dict[str, int]]:
        shared: list[int] = []
        pair_rank = 0
        per_vm: dict[str, list[int]] = {}
        vm_ranks: dict[str, int] = {}
        known = self._known
        for result in results:
            finding = result.finding
            # The problem reads the destination's name and fix only for a destination subject.
            key = (id(finding), destination_name if finding.subject == "destination" else "")
            seen = known.get(key)
            if seen is None or seen[0] is not finding:
                seen = known[key] = self._first_sight(result, destination_name, destination)
            _, index, problem_rank, vm = seen
            if vm is None:
                shared.append(index)
                if problem_rank > pair_rank:
                    pair_rank = problem_rank
            elif vm in per_vm:
                per_vm[vm].append(index)
                if problem_rank > vm_ranks[vm]:
                    vm_ranks[vm] = problem_rank
            else:
                per_vm[vm] = [index]
                vm_ranks[vm] = problem_rank
        return tuple(shared), pair_rank, per_vm, vm_ranks

    def _first_sight(self, result: Result, destination_name: str, destination: HostFacts) -> _Seen:
        """Number a finding's problem and list it under its host: once, as listing is idempotent."""
        matrix = self.matrix
        problem = _problem(result, self.source, destination)
        index = matrix.intern(problem)
        subject = problem.subject
        if subject.startswith(VM_PREFIX):
            return result.finding, index, rank(problem, matrix.strict), subject[len(VM_PREFIX) :].casefold()
        if subject in ("source", "destination"):
            matrix.list_for_host(self.source_name if subject == "source" else destination_name, (index,))
        return result.finding, index, rank(problem, matrix.strict), None


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
