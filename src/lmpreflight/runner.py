"""Evaluating checks against facts. Never a crash, never a silent pass.

A check whose facts were not collected yields ``error`` naming the collection error; a
check that raises yields ``error`` with the exception summarised; a check that yields
nothing yields ``error`` too, because silence is not a pass.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from operator import attrgetter
from typing import Any, cast

from lmpreflight.facts.model import WHOLE_HOST, HostFacts
from lmpreflight.recorded import (
    Answers,
    DestinationReads,
    NameInspected,
    Recording,
    Traced,
    can_render,
    rendered,
)
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
    return _followed(context.host(role), parts)


def _followed(value: Any, parts: tuple[str, ...]) -> Any:
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


def _holds(host: HostFacts, needs: tuple[str, ...], role: str) -> bool:
    """Whether ``host``, in ``role``, holds every fact of ``needs`` of that role (as :func:`resolve_fact` finds them)."""
    steps = (_steps(path) for path in _expanded(needs))
    return all(_followed(host, parts) is not None for path_role, parts in steps if path_role == role)


def _held(known: dict[tuple[str, ...], bool], host: HostFacts, needs: tuple[str, ...], role: str) -> bool:
    """:func:`_holds`, remembered in ``known`` (one host's answers by set of needs): a fleet asks
    it of every pair, and a host's facts do not change."""
    held = known.get(needs)
    if held is None:
        held = known[needs] = _holds(host, needs, role)
    return held


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
        findings = list(check.function(context))  # what ``check(context)`` does, one call less per pair
    except Exception as exc:  # a broken check must not end the run
        return [raised_finding(context, exc)]
    if not findings:
        return [silent_finding()]
    return findings


def raised_finding(context: Context, exc: Exception) -> Finding:
    """What a check that raised ``exc`` says instead of its findings."""
    if isinstance(exc, NotApplicable):
        return Finding(Status.SKIP, f"not applicable: {exc}")
    if isinstance(exc, MissingFact):
        return missing_fact_finding(context, exc.path)
    return Finding(
        Status.ERROR,
        f"the check itself failed ({type(exc).__name__}: {exc}); its verdict is unknown",
        evidence={"exception": type(exc).__name__, "detail": str(exc)[:500]},
    )


def silent_finding() -> Finding:
    """What a check that found nothing says: silence is not a pass."""
    return Finding(Status.ERROR, "the check produced no result; its verdict is unknown")


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
    return _pair_results(
        registry, registry.sorted(), context, selection, lambda check: _results(check, run_check(check, context))
    )


def _results(check: Check, findings: Iterable[Finding], keep: Container[Status] | None = None) -> list[Result]:
    """The findings as results; with ``keep``, only those of these statuses (a fleet keeps what
    is not a pass, and most findings are passes: they are not wrapped only to be dropped)."""
    if keep is None:
        return [Result(check, finding) for finding in findings]
    return [Result(check, finding) for finding in findings if finding.status in keep]


def _pair_results(
    registry: Registry,
    checks: Iterable[Check],
    context: Context,
    selection: Selection,
    results_of: Callable[[Check], Iterable[Result]],
    keep: Container[Status] | None = None,
    known: Iterable[Result] = (),
) -> list[Result]:
    """The pair's results: those ``known`` already, then each check's from ``results_of``;
    with ``keep``, only those of these statuses (sorted the same: a stable sort keeps their order)."""
    results: list[Result] = [plugin_load_result(error) for error in registry.load_errors]
    results += [unreachable_result(role, context.host(role)) for role in ROLES if context.host(role).whole_host_error]
    results += known
    for check in checks:
        if check.id in selection.skip:
            results.append(Result(check, Finding(Status.SKIP, "skipped by the user (--skip)")))
        else:
            results.extend(results_of(check))
    if keep is not None:
        results = [result for result in results if result.status in keep]
    return sort_results(results)


@dataclass(slots=True)
class _Branch:
    """A point in what one check read of destinations: the next read, or (at a leaf) the findings."""

    read: int | None = None
    """The number of the next read (:meth:`lmpreflight.recorded.DestinationReads.read_number`)."""
    branches: dict[int, _Branch] = field(default_factory=dict)
    results: list[tuple[Result, tuple[str, ...]]] | None = None
    """At a leaf: each result, with the fields of its finding that hold a destination's name
    as a marker (put in per destination; none: the result stands as it is)."""


@dataclass(slots=True)
class _Kind:
    """What a source's trees say for destinations that answer alike: the leaves they reach."""

    leaves: list[_Branch]
    others: list[Check]
    """The checks without a leaf for this kind of destination (run for real, or to record)."""
    kept: tuple[object, list[Result], list[tuple[Result, tuple[str, ...]]]] = (object(), [], [])
    """For the statuses last asked for (a fleet asks for the same every pair): the leaves'
    results that stand as they are, and those to put the destination's names in."""
    split: tuple[int, list[tuple[Check, bool]], list[Check]] = (-1, [], [])
    """:attr:`others` split while :attr:`lmpreflight.recorded.DestinationReads.per_source` held
    the first number of checks: those run for real for every pair (each with whether the source
    holds the facts it needs of it), and the rest. Split once per kind, not once per pair."""

    def shown(self, keep: Container[Status] | None) -> tuple[list[Result], list[tuple[Result, tuple[str, ...]]]]:
        if self.kept[0] is not keep:
            shown = [
                (result, marked)
                for leaf in self.leaves
                for result, marked in leaf.results or ()
                if keep is None or result.status in keep
            ]
            standing = [result for result, marked in shown if not marked]
            self.kept = (keep, standing, [(result, marked) for result, marked in shown if marked])
        return self.kept[1], self.kept[2]


LEAVES_PER_CHECK = 4
"""Different ways one check may have read a source's destinations before it is run for real
for each of them: a check that reads what every host has of its own (its VMs, its addresses)
never repeats itself, and keeping its findings would only hold memory."""


@dataclass(slots=True)
class SourcePairs:
    """:func:`evaluate` for one source against many destinations, with the same results.

    A check runs against a destination seen through :class:`lmpreflight.recorded.Traced`,
    which records each part of the destination the check read and what it found there. A
    later destination that holds the same at each of those parts (compared as numbers,
    :class:`lmpreflight.recorded.DestinationReads`) gets the same findings without the check
    running: a check is a pure function of what it reads. A check that never looked at the
    destination is so run once per source; one that compared processors, once per kind of
    processor. The destination's names reach the check as markers and are put into its
    findings per destination; a check that did more than quote a name, or whose findings
    rendered for the destination it ran against differ from running it for real there, or
    that reads something different for every destination, is run for real for every pair.
    """

    registry: Registry
    source: HostFacts
    selection: Selection
    reads: DestinationReads = field(default_factory=DestinationReads)
    """Shared by every source of a fleet: each destination's answers are worked out once."""
    _checks: list[Check] = field(default_factory=list)
    _trees: dict[str, _Branch] = field(default_factory=dict)
    _leaves: dict[str, int] = field(default_factory=dict)
    _real: set[str] = field(default_factory=set)
    """Checks run for real for every pair."""
    _read_set: set[int] | None = field(default_factory=set)
    """Every read in the trees (``None``: to be worked out again, a tree was dropped)."""
    _asked: tuple[int, ...] | None = None
    """The same, in order (``None``: to be worked out again, a tree changed)."""
    _source_needs_met: dict[tuple[str, ...], bool] = field(default_factory=dict)
    """A check's needs → whether the source holds every fact of them it needs of the source."""
    _source_answers: dict[int, int] = field(default_factory=dict)
    """Read number → this source's answer, or this selection's for an option (see :meth:`_source_answer`)."""
    _kinds: dict[tuple[int, ...], _Kind] = field(default_factory=dict)
    """A destination's answers to :attr:`_asked` → each check's leaf for it. Destinations that
    answer alike walk every tree alike: most destinations of a fleet are found here with one
    look-up per read, not a walk per check."""

    def __post_init__(self) -> None:
        self._checks = self.registry.sorted()

    def evaluate(self, destination: HostFacts, keep: Container[Status] | None = None) -> list[Result]:
        """The results :func:`evaluate` gives for the pair; with ``keep``, only those of these statuses."""
        context = self.selection.context(self.source, destination)
        answers = self.reads.of(destination)
        kind = self._kind_of(answers)
        standing, named = kind.shown(keep)
        if named:
            names = self.reads.names(answers)
            standing = standing + [
                Result(result.check, _named(result.finding, marked, names)) for result, marked in named
            ]
        per_pair, rest = self._split(kind)
        if per_pair:
            standing = standing + _per_pair_results(per_pair, context, answers.needs_met, keep)
        return _pair_results(
            self.registry,
            rest,
            context,
            self.selection,
            lambda check: self._results_of(check, context, keep),
            keep,
            standing,
        )

    def _split(self, kind: _Kind) -> tuple[list[tuple[Check, bool]], list[Check]]:
        """The kind's checks run for real for every pair (those the user skipped aside), and the rest."""
        per_source = self.reads.per_source
        if kind.split[0] != len(per_source):  # checks are only ever added to it
            skip = self.selection.skip
            per_pair = [
                (check, self._source_holds(check.needs))
                for check in kind.others
                if check.id in per_source and check.id not in skip
            ]
            rest = [check for check in kind.others if check.id not in per_source or check.id in skip]
            kind.split = (len(per_source), per_pair, rest)
            self._real.update(check.id for check, _ in per_pair)
        return kind.split[1], kind.split[2]

    def _source_holds(self, needs: tuple[str, ...]) -> bool:
        """Whether the source holds every fact of ``needs`` it needs of the source, found once per set of needs."""
        return _held(self._source_needs_met, self.source, needs, "source")

    def _kind_of(self, answers: Answers) -> _Kind:
        """The leaf each check's tree reaches for the destination of ``answers`` (a check without one records)."""
        reads = self.reads
        if self._asked is None:
            if self._read_set is None:
                self._read_set = {read for tree in self._trees.values() for read in _reads_in(tree)}
            self._asked = tuple(sorted(self._read_set))
            self._kinds.clear()
        numbers = answers.numbers
        asked, key = answers.kind_key
        if asked != self._asked:
            key = tuple([numbers[read] if read in numbers else reads.number(answers, read) for read in self._asked])
            answers.kind_key = (self._asked, key)
        kind = self._kinds.get(key)
        if kind is None:
            leaves = {}
            for check_id, tree in self._trees.items():
                branch: _Branch | None = tree
                while branch is not None and branch.read is not None:
                    branch = branch.branches.get(numbers[branch.read])
                if branch is not None:
                    leaves[check_id] = branch
            others = [check for check in self._checks if check.id not in leaves]
            kind = self._kinds[key] = _Kind([leaves[check.id] for check in self._checks if check.id in leaves], others)
        return kind

    def _results_of(self, check: Check, context: Context, keep: Container[Status] | None) -> list[Result]:
        """The results of a check without a leaf for this destination, not run for real for every
        pair (:meth:`_split`): answered by what other sources got, or recorded."""
        if check.id in self._real:
            return self._by_source(check, context, keep)
        return _results(check, self._record(check, context))

    def _by_source(self, check: Check, context: Context, keep: Container[Status] | None) -> list[Result]:
        """A check that reads something different of every destination, with the results another
        source got against this destination when that source answered alike each read the check
        made of it and of the options (the same argument as for destinations, the roles swapped:
        a check that compares the destination's SPNs with its own account reads little of the
        source). One that reads something different of every source too is run for real."""
        reads = self.reads
        answers = reads.of(context.destination)
        trees = answers.by_source
        branch: _Branch | None = trees.get(check.id)
        known = self._source_answers
        while branch is not None and branch.read is not None:
            number = known.get(branch.read)
            branch = branch.branches.get(self._source_answer(branch.read, context) if number is None else number)
        if branch is not None and branch.results is not None:
            reads.source_hits[check.id] = reads.source_hits.get(check.id, 0) + 1
            return [result for result, _ in branch.results if keep is None or result.status in keep]
        if check.id not in trees:
            if not reads.source_hits.get(check.id) and reads.source_trees.get(check.id, 0) > SOURCE_TREES_BEFORE_A_HIT:
                # Enough destinations hold this check's answers for a later source to find out
                # whether it answers alike; until one has, more would likely be recorded for nothing.
                return _results(check, run_check(check, context), keep)
            reads.source_trees[check.id] = reads.source_trees.get(check.id, 0) + 1
        elif answers.source_leaves.get(check.id, 0) >= SOURCE_LEAVES_PER_DESTINATION:
            return _results(check, run_check(check, context), keep)
        recording = Recording(reads, self.source, quotes=False)
        findings = run_check(check, NotedContext(context, recording.option, cast(HostFacts, Traced(recording, ()))))
        results = _results(check, findings)
        misses = reads.source_misses[check.id] = reads.source_misses.get(check.id, 0) + (check.id in trees)
        kept: list[tuple[Result, tuple[str, ...]]] = [(result, ()) for result in results]
        grown = can_render(findings) and _grow(trees.setdefault(check.id, _Branch()), recording.trace, kept)
        if grown:
            answers.source_leaves[check.id] = answers.source_leaves.get(check.id, 0) + 1
        if not grown or misses > reads.source_hits.get(check.id, 0) + SOURCE_MISSES_BEYOND_HITS:
            reads.per_source.add(check.id)
            for host_answers in reads.every_host():
                host_answers.by_source.pop(check.id, None)
        return results

    def _source_answer(self, read: int, context: Context) -> int:
        """This source's answer to a read recorded by :meth:`_by_source`, kept for its other pairs
        (an option's is this selection's, the same for every pair of the source)."""
        reads = self.reads
        if reads.is_option(read):
            number = reads.option_number(getattr(context, reads.read_of(read)[1][0]))
        else:
            number = reads.number(reads.of(self.source), read)
        self._source_answers[read] = number
        return number

    def _record(self, check: Check, context: Context) -> list[Finding]:
        """Run the check against the traced destination and remember what it read and found."""
        recording = Recording(self.reads, context.destination, check.quotes_destination)
        traced = self.selection.context(self.source, cast(HostFacts, Traced(recording, ())))
        try:
            findings = run_check(check, traced)
        except NameInspected:
            return self._run_for_real(check, context)
        marked: list[tuple[str, ...]] | None = None
        if recording.marked:
            if not can_render(findings):
                return self._run_for_real(check, context)
            real = run_check(check, context)
            marked = _marked_in(findings, real, self.reads.names(recording.answers))
            if marked is None:
                return self._run_for_real(check, context, real)
        if not self._remember(check, recording.trace, findings, marked):
            self._real.add(check.id)
            self._forget(check.id)
        return real if recording.marked else findings

    def _run_for_real(self, check: Check, context: Context, real: list[Finding] | None = None) -> list[Finding]:
        self._real.add(check.id)
        self._forget(check.id)
        return run_check(check, context) if real is None else real

    def _remember(
        self, check: Check, trace: list[tuple[int, int]], findings: list[Finding], marked: list[tuple[str, ...]] | None
    ) -> bool:
        """Add a run to the check's tree; ``False`` when the check must run for real instead.
        Only a run that was handed a marker can have one in its findings; ``marked`` are then the
        fields of each that hold one (:func:`_marked_in`)."""
        check_id = check.id
        leaves = self._leaves[check_id] = self._leaves.get(check_id, 0) + 1
        if leaves > (1 if check_id in self.reads.per_pair else LEAVES_PER_CHECK):
            return False
        self._asked = None
        if self._read_set is not None:
            self._read_set.update(read for read, _ in trace)
        results = [
            (Result(check, finding), fields)
            for finding, fields in zip(findings, [()] * len(findings) if marked is None else marked, strict=True)
        ]
        return _grow(self._trees.setdefault(check_id, _Branch()), trace, results)

    def _forget(self, check_id: str) -> None:
        self.reads.per_pair.add(check_id)
        if self._trees.pop(check_id, None) is not None:
            self._asked = self._read_set = None


SOURCE_TREES_BEFORE_A_HIT = 4
"""Destinations a check is recorded against from the sources' side while no source has found
another's answers alike at any of them: past it, the check is run for real against the next
destinations, unrecorded, until a later source finds some. Without it the fleet's first
source would record the check against every destination, for nothing if no source ever
answers alike. Every source meets the destinations in the same order, so the next source
reaches these first and finds out there whether it answers alike: one destination tells, a few
more are spares. A recording costs several real runs, and a check no source answers alike (11
of the 14 run for every pair of the generated 200-host fleet) is recorded 5 times by the first
source and missed there by the next two (:data:`SOURCE_MISSES_BEYOND_HITS`), then run for real:
16 recordings, not the 66 that 32 trees and 32 misses cost."""

SOURCE_MISSES_BEYOND_HITS = 10
"""Runs of a check, beyond its first against each destination, that may find nothing another
source answered alike (more than found something) before the check is run for real for every
pair, nothing recorded from then on: one that quotes each source's name gains nothing, a
fleet of a few kinds of source does. Counted against the hits, not the trees of
:data:`SOURCE_TREES_BEFORE_A_HIT`: twice as many as those trees hold, so that a second and a
third source, each unlike the others, may miss at every one of them and a fourth still find
out whether it answers like one of them (each source judged for two selections, say); one more
kind gives the check up. In a larger fleet of two or three kinds in turn the check is still
given up, by its fourth or fifth source, not its second: once sources of one kind find each other's
answers, they are recorded at the destinations not yet recorded, and the other kinds' misses
there are counted as if each were a new kind. Giving up later does not pay even where
every third source is alike and the others all differ: their recordings cost more than the
alike sources' hits save."""


SOURCE_LEAVES_PER_DESTINATION = 8
"""Different ways sources may have answered one check against one destination before it is run
for real against that destination for every later source: a destination whose findings quote
what each source has of its own (its addresses, say) never repeats itself, and recording each
source's run would cost several real runs for nothing."""


def _per_pair_results(
    checks: list[tuple[Check, bool]],
    context: Context,
    destination_met: dict[tuple[str, ...], bool],
    keep: Container[Status] | None,
) -> list[Result]:
    """The results of the checks run for real for every pair (``run_check`` for each, with whether
    the needs are met known once per host and set of needs: a fleet runs these for every pair);
    ``destination_met`` is what the destination is known to hold (filled in here)."""
    results: list[Result] = []
    destination = context.destination
    for check, source_met in checks:
        met = _held(destination_met, destination, check.needs, "destination")
        findings = call_check(check, context) if source_met and met else run_check(check, context)
        results += _results(check, findings, keep)
    return results


def _grow(tree: _Branch, trace: Iterable[tuple[int, int]], results: list[tuple[Result, tuple[str, ...]]]) -> bool:
    """Add a run's trace and results to a tree; ``False`` when the run read differently from
    an earlier one that answered alike so far (the check is not a pure function of what it read)."""
    branch = tree
    for read, number in trace:
        if branch.read is None and branch.results is None:
            branch.read = read
        elif branch.read != read:
            return False
        branch = branch.branches.setdefault(number, _Branch())
    if branch.read is not None or branch.results is not None:
        return False
    branch.results = results
    return True


class NotedContext(Context):
    """A copy of a context for one run of one check that hands each option the check reads (a
    field that is not a host: the selected VMs, storage, where the move starts; read by the
    context's own methods too) to ``note`` as it is read. What a check concludes depends on its
    hosts and on the options it read alone, so a caller learns from the notes for which other
    options the same findings hold: :meth:`SourcePairs._by_source` records each option with
    what the check read of the source (which ``source`` stands in for), and
    :class:`lmpreflight.pipeline.VmResults` finds the checks that read the selected VMs. One
    per run: a check may keep what it worked out for the context it was given (``checks.vm``
    keeps its VMs), and would then not read the option again."""

    __slots__ = ("_note",)

    def __init__(self, context: Context, note: Callable[[str, Any], object], source: HostFacts | None = None) -> None:
        options = {name: getattr(context, name) for name in OPTIONS}
        super().__init__(context.source if source is None else source, context.destination, **options)
        object.__setattr__(self, "_note", note)

    def __getattribute__(self, name: str) -> Any:
        value = object.__getattribute__(self, name)
        if name in OPTIONS:
            object.__getattribute__(self, "_note")(name, value)
        return value


OPTIONS = frozenset(field.name for field in dataclasses.fields(Context)) - set(ROLES)
"""The context's fields that are not a host."""

FINDING_TEXT = ("message", "subject", "evidence", "remediation")


def _marked_fields(finding: Finding, shown: Finding) -> tuple[str, ...]:
    """The fields of ``finding`` that hold a marker: those rendering changed into ``shown``."""
    return tuple(name for name in FINDING_TEXT if getattr(shown, name) is not getattr(finding, name))


def _marked_in(findings: list[Finding], real: list[Finding], names: dict[str, str]) -> list[tuple[str, ...]] | None:
    """The fields of each of ``findings``, from a run against the traced destination, that hold a
    marker; ``None`` unless the findings with the destination's ``names`` put in are what running
    the check for real against it found (``real``). Only the fields that differ from the real
    ones are rendered: one equal to its real field holds no marker (markers are random per
    process, and comparing one raises), and a fleet records findings about every VM whose other
    fields quote no name. A field holds a marker where rendering changed it."""
    if len(findings) != len(real):
        return None
    marked = []
    for finding, actual in zip(findings, real, strict=True):
        if type(finding) is Finding and type(actual) is Finding:
            fields = tuple(name for name in FINDING_TEXT if not _equal(getattr(finding, name), getattr(actual, name)))
            as_shown = _named(finding, fields, names) if fields else finding
        else:
            as_shown = rendered(finding, names)
            fields = _marked_fields(finding, as_shown)
        if as_shown != actual:
            return None
        marked.append(fields)
    return marked


def _equal(part: object, real: object) -> bool:
    """Whether a part of a traced run's finding equals the real run's (one holding a marker does not)."""
    try:
        return bool(part == real)
    except NameInspected:
        return False


def _named(finding: Finding, marked: tuple[str, ...], names: dict[str, str]) -> Finding:
    """The finding with the destination's names in place of the markers in ``marked`` fields
    (built directly, not by ``dataclasses.replace``: a fleet renders a few for every pair)."""
    parts = [
        rendered(getattr(finding, name), names) if name in marked else getattr(finding, name) for name in FINDING_TEXT
    ]
    return Finding(finding.status, *parts)


def _reads_in(branch: _Branch) -> Iterator[int]:
    """Every read in a check's tree, walked without recursion: a check reads a few facts per
    VM, so a host with a few hundred VMs makes a chain deeper than Python's stack."""
    waiting = [branch]
    while waiting:
        below = waiting.pop()
        if below.read is not None:
            yield below.read
            waiting.extend(below.branches.values())


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
    problems apply to all of them and are reported once, in the main results.

    A host may report tens of thousands of VMs, so the loop around the checks does per VM only
    what differs per VM: a check whose facts are missing says the same for every VM, so its
    status is tallied once; a VM check's findings are reduced to their statuses as they come,
    and of those only what is not a pass is tallied. A check that raised or said nothing
    counts as :func:`call_check` says, through the same :func:`raised_finding` and
    :func:`silent_finding`."""
    vm_checks = [c for c in registry.sorted() if c.category == Category.VM and c.id not in selection.skip]
    # Whether a check's facts are there is the same for every VM: decided once, not per VM.
    host_context = selection.context(source, destination, ())
    unmet = {check.id: unmet_need(check, host_context) for check in vm_checks}
    host_tally = _Tally()
    for check in vm_checks:
        missing = unmet[check.id]
        if missing is not None:
            host_tally.add(check.id, missing.status)
    live = [check for check in vm_checks if unmet[check.id] is None]
    passing = Status.PASS
    summary = []
    for vm in source.vms or []:
        context = selection.context(source, destination, (vm.name,))
        tally = host_tally.copy()
        for check in live:
            try:
                statuses = list(map(_status_of, check.function(context)))
            except Exception as exc:  # a broken check must not end the run: it counts as call_check says
                statuses = [raised_finding(context, exc).status]
            if not statuses:
                statuses = [silent_finding().status]
            for status in statuses:
                if status is not passing:
                    tally.add(check.id, status)
        summary.append(tally.readiness(vm.name))
    summary += [VmReadiness(name, Status.ERROR, ("vm.exists-on-source",), ()) for name in unread_vms(source)]
    return summary


_status_of = attrgetter("status")

_JUDGED_RANK: dict[Status, int] = {status: status.rank for status in Status if status != Status.SKIP}
"""A status's weight in a VM's readiness; a skip does not judge the VM."""


@dataclass(slots=True)
class _Tally:
    """One VM's readiness as its checks' statuses come in: the worst judged status, and the
    checks that block the move or warn. A pass, by far the most common status, changes nothing
    and is never added."""

    worst: Status = Status.PASS
    blocking: set[str] = field(default_factory=set)
    warnings: set[str] = field(default_factory=set)

    def copy(self) -> _Tally:
        return _Tally(self.worst, set(self.blocking), set(self.warnings))

    def add(self, check_id: str, status: Status) -> None:
        rank = _JUDGED_RANK.get(status)
        if rank is not None and rank > _JUDGED_RANK[self.worst]:
            self.worst = status
        if status == Status.FAIL or status == Status.ERROR:
            self.blocking.add(check_id)
        elif status == Status.WARN:
            self.warnings.add(check_id)

    def readiness(self, vm: str) -> VmReadiness:
        return VmReadiness(vm, self.worst, tuple(sorted(self.blocking)), tuple(sorted(self.warnings)))


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
_WORST_FIRST = {status: -status.rank for status in Status}


def sort_results(results: list[Result]) -> list[Result]:
    """Worst status first, then the check's severity, id and the finding's subject."""
    return sorted(results, key=_sort_key)


def _sort_key(result: Result) -> tuple[int, int, str, str]:
    """What :func:`sort_results` orders by, read from the result's parts in one call (a fleet
    sorts the results of every pair; the ``status`` and ``rank`` properties cost a call each)."""
    finding, check = result.finding, result.check
    return _WORST_FIRST[finding.status], SEVERITY_ORDER[check.severity], check.id, finding.subject


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
