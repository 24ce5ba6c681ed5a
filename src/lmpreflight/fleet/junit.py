"""JUnit XML of a plan: one testcase per VM × destination, and each problem's full text once.

A fleet's matrix is large (200 hosts × 20 VMs: 792,020 testcases) but says few things: about
a hundred thousand distinct problems, most of them about one host or one pair, so each is
shared by many testcases. Writing every problem's message, fix and PowerShell into every
testcase it concerns made a 1.6 GB file that no CI server loads. Here each testcase names
its blockers in a line each, by ``#id`` (the problem's index in the JSON plan's
``problems``), and the full text of every problem -- message, fix, where to run it,
PowerShell -- is written once:

- a host's own problems (about the source or the destination alone) in its testcase in the
  ``hosts`` testsuite (class ``lmpreflight.plan.hosts``, named as the host; a testcase's
  text calls it ``hosts/NAME``), which fails as its blockers would fail a move;
- the problems of a source's pairs and VMs in the ``system-out`` of that source's testsuite.

Where each part goes follows what CI servers show, so that a testcase explains itself where
it is read:

- Jenkins' JUnit plugin shows a failure's ``message`` as the error details, its text as the
  stack trace, and a testcase's ``system-out`` -- or, when it has none, its testsuite's --
  as its standard output (``CaseResult.getErrorDetails``, ``getErrorStackTrace`` and
  ``getStdout`` in github.com/jenkinsci/junit-plugin).
- Azure Pipelines' Publish Test Results maps ``message`` to the error message and the text
  to the stack trace, a testcase's ``system-out`` to its console log, and reads no
  testsuite ``system-out`` (learn.microsoft.com/azure/devops/pipelines/tasks/reference/
  publish-test-results-v2, "Result formats mapping", JUnit).
- GitLab shows a testcase's ``classname`` as its suite, its ``name``, and the text of its
  ``failure`` or ``error``; it ignores the ``message`` attribute and a testsuite's
  ``system-out`` (docs.gitlab.com/ci/testing/unit_test_reports, "JUnit XML format
  specification"; gitlab.com/gitlab-org/gitlab/-/issues/29565).

So the one-line findings go in a failing testcase's text, which all three show (in the
``message`` too they would be written twice), and its ``message`` names the VM, the
destination and the blocking checks for the lists of Jenkins and Azure. A ready testcase
carries no text, and a warning (which fails a testcase only in a strict run) is named only
where its full text is. GitLab reads neither a file over 30 MB nor, on GitLab.com, more than
500,000 testcases (same page): a fleet's plan belongs to Jenkins or Azure, or in parts
(``--vm``, ``--limit``).

The document is written a testsuite at a time (one source's VMs, a few thousand testcases),
so memory stays bounded whatever the fleet's size. Text from hosts goes through
:func:`lmpreflight.escape.visible` first: XML 1.0 forbids most control characters, and one in
a VM's name would make the whole file unreadable to the CI server.
"""

from __future__ import annotations

from collections.abc import Iterator
from xml.sax.saxutils import escape, quoteattr

from lmpreflight.escape import visible
from lmpreflight.fleet.document import PlanInfo
from lmpreflight.fleet.placement import (
    BY_CODE,
    SAME_HOST,
    VM_PREFIX,
    HostSummary,
    Placement,
    PlacementMatrix,
    Problem,
    VmRow,
    place,
)
from lmpreflight.vocabulary import Status

HOSTS_CLASS = "lmpreflight.plan.hosts"
"""The class of the hosts' own testcases: "hosts/NAME" in a testcase's text names one."""
FAILING = {
    Placement.AFTER_FIXES: ("failure", "after-fixes", "ready after fixes"),
    Placement.BLOCKED: ("failure", "blocked", "blocked"),
    Placement.UNKNOWN: ("error", "incomplete", "not judged"),
}
"""A placement that is not ready → its element, its ``type`` and the words its message starts with."""


def _text(value: object) -> str:
    return escape(visible(value, keep_newlines=True))


def _attribute(value: object) -> str:
    return quoteattr(visible(value))


class _Writer:
    """Testcases and problem listings of one matrix. Every problem's escaped words are made
    once and reused by every testcase naming it (a blocker on one host is named by thousands)."""

    def __init__(self, matrix: PlacementMatrix, info: PlanInfo) -> None:
        self.matrix = matrix
        stamp = info.generated_at.replace(microsecond=0).isoformat()
        self.suite_attributes = (
            f'skipped="0" timestamp={_attribute(stamp)} hostname={_attribute(info.run_from)} time="0"'
        )
        self.to = [_attribute(f"to {name}") for name in matrix.destinations]
        self.listed: dict[tuple[str, str, Status, str], int] = {}
        """(host, check, status, message) → the id listed under that host: the same finding
        seen as source and as destination is two problems but one entry in the host's list."""
        self.keys: dict[str, str] = {}
        """A problem's host (its computer name) → the host's name in the run (as the
        inventory names it), which names its testcase."""
        for host, ids in matrix.host_problems.items():
            for i in ids:
                problem = matrix.problems[i]
                self.listed.setdefault((host, problem.check_id, problem.status, problem.message), i)
                if problem.host is not None:
                    self.keys.setdefault(problem.host, host)
        self._lines: dict[int, str] = {}

    def blocks(self, problem: Problem) -> bool:
        return problem.blocks or (self.matrix.strict and problem.status == Status.WARN)

    def host_of(self, problem: Problem) -> str | None:
        """The host whose testcase holds the problem's full text, when it is about one host."""
        if problem.host is None or problem.subject.startswith(VM_PREFIX):
            return None
        return self.keys.get(problem.host, problem.host)

    def line(self, index: int) -> str:
        """A blocker as a testcase names it: id, status, check, the finding, where the rest is."""
        line = self._lines.get(index)
        if line is None:
            problem = self.matrix.problems[index]
            host = self.host_of(problem)
            shown = index
            if host is not None:
                shown = self.listed.get((host, problem.check_id, problem.status, problem.message), index)
            where = f"hosts/{host}" if host is not None else "testsuite output"
            said = f"#{shown} {problem.status.value.upper()} {problem.check_id}: {problem.message} (details: {where})"
            line = self._lines[index] = _text(said)
        return line

    def full_text(self, index: int) -> str:
        problem = self.matrix.problems[index]
        about = problem.subject.removeprefix(VM_PREFIX)
        lines = [f"#{index} {problem.status.value.upper()} {problem.check_id} ({about}): {problem.message}"]
        if problem.fix:
            lines.append(f"  fix: {problem.fix}")
        if problem.run_on:
            lines.append(f"  run on: {problem.run_on}")
        if problem.powershell:
            lines.append(f"  PowerShell: {problem.powershell}")
        return "\n".join(lines)

    def checks(self, problems: list[Problem]) -> str:
        return ", ".join(dict.fromkeys(p.check_id for p in problems if self.blocks(p)))

    def host_placement(self, host: HostSummary) -> Placement:
        """A host's testcase fails as its own blockers would fail a move; a host that could not
        be collected and has no pair to say so (a source whose VMs were not read) is an error."""
        if not host.collected and not self.matrix.host_problems.get(host.name):
            return Placement.UNKNOWN
        return place(
            [self.matrix.problems[i] for i in self.matrix.host_problems.get(host.name, [])], self.matrix.strict
        )

    def host_case(self, host: HostSummary, placement: Placement) -> str:
        """A host's own problems, listed once (not per pair)."""
        ids = self.matrix.host_problems.get(host.name, [])
        opening = f'    <testcase classname="{HOSTS_CLASS}" name={_attribute(host.name)} time="0"'
        if not ids and placement == Placement.UNKNOWN:
            element, kind, words = FAILING[placement]
            error = host.error or "nothing could be collected"
            message = _attribute(f"{words}: {host.name}: not collected")
            return f'{opening}>\n      <{element} message={message} type="{kind}">{_text(error)}</{element}>\n    </testcase>\n'
        if not ids:
            return opening + "/>\n"
        listing = _text("\n".join(self.full_text(i) for i in ids))
        if placement == Placement.READY:
            return f"{opening}>\n      <system-out>{listing}</system-out>\n    </testcase>\n"
        element, kind, words = FAILING[placement]
        message = _attribute(f"{words}: {host.name}: {self.checks([self.matrix.problems[i] for i in ids])}")
        return f'{opening}>\n      <{element} message={message} type="{kind}">{listing}</{element}>\n    </testcase>\n'

    def source_cases(self, rows: list[VmRow]) -> tuple[list[tuple[str, Placement]], list[int]]:
        """The testcases of a source's VMs, and the problems of its pairs and VMs (a cell's
        are its pair's and its VM's own there; the hosts' are listed with the hosts)."""
        matrix = self.matrix
        cases: list[tuple[str, Placement]] = []
        concerned: set[int] = set()
        for row in rows:
            opening = f"    <testcase classname={_attribute(f'lmpreflight.plan.{row.source}.{row.vm}')} name="
            vm = f"{row.vm} to "
            for index, code in enumerate(row.placements):
                if code == SAME_HOST:
                    continue
                placement = BY_CODE[code]
                if placement == Placement.READY:
                    cases.append((f'{opening}{self.to[index]} time="0"/>\n', placement))
                    continue
                blockers = [i for i in matrix.cell_problems(row, index) if self.blocks(matrix.problems[i])]
                element, kind, words = FAILING[placement]
                checks = self.checks([matrix.problems[i] for i in blockers])
                message = _attribute(f"{words}: {vm}{matrix.destinations[index]}: {checks}")
                body = "\n".join(self.line(i) for i in blockers)
                cases.append(
                    (
                        f'{opening}{self.to[index]} time="0">\n      <{element} message={message} type="{kind}">'
                        f"{body}</{element}>\n    </testcase>\n",
                        placement,
                    )
                )
            for ids in row.own.values():
                concerned.update(ids)
        for index in range(len(matrix.destinations)):
            concerned.update(matrix.pair_problems.get((rows[0].source, index), ()))
        return cases, sorted(i for i in concerned if self.host_of(matrix.problems[i]) is None)

    def suite(self, name: str, placements: list[Placement]) -> str:
        """A testsuite's opening, with its counts."""
        failures = sum(1 for p in placements if p in (Placement.AFTER_FIXES, Placement.BLOCKED))
        errors = placements.count(Placement.UNKNOWN)
        return (
            f'  <testsuite name={_attribute(name)} tests="{len(placements)}" failures="{failures}" '
            f'errors="{errors}" {self.suite_attributes}>\n'
        )


def plan_junit_chunks(matrix: PlacementMatrix, info: PlanInfo) -> Iterator[str]:
    """The JUnit document piece by piece: the head; the ``hosts`` testsuite a host at a time
    (a host's list holds a problem for each pair it is in); then a testsuite per source (its
    VMs' testcases, then its pairs' and VMs' problems)."""
    writer = _Writer(matrix, info)
    placed = [writer.host_placement(host) for host in matrix.hosts]
    tests = len(placed) + sum(len(row.placements) - row.placements.count(SAME_HOST) for row in matrix.rows)
    failures = sum(matrix.count(p) + placed.count(p) for p in (Placement.AFTER_FIXES, Placement.BLOCKED))
    errors = matrix.count(Placement.UNKNOWN) + placed.count(Placement.UNKNOWN)
    yield (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<testsuites name="lmpreflight plan" tests="{tests}" failures="{failures}" errors="{errors}">\n'
    )
    yield writer.suite("hosts", placed)
    for host, placement in zip(matrix.hosts, placed, strict=True):
        yield writer.host_case(host, placement)
    yield "  </testsuite>\n"
    by_source: dict[str, list[VmRow]] = {}
    for row in matrix.rows:
        by_source.setdefault(row.source, []).append(row)
    for source, rows in by_source.items():
        cases, concerned = writer.source_cases(rows)
        output = ""
        if concerned:
            heading = (
                f"The problems of {source}'s pairs and VMs, each once (a testcase names its blockers by #id; "
                f"each host's own problems are in its testcase hosts/NAME):\n"
            )
            text = _text(heading + "\n".join(writer.full_text(i) for i in concerned))
            output = f"    <system-out>{text}</system-out>\n"
        yield (
            writer.suite(source, [p for _, p in cases])
            + "".join(case for case, _ in cases)
            + output
            + "  </testsuite>\n"
        )
    yield "</testsuites>\n"
