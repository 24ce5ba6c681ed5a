"""Terminal and JUnit renders of the placement matrix."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

from rich.console import Console
from rich.text import Text

from lmpreflight.fleet.document import PlanInfo
from lmpreflight.fleet.placement import Cell, Placement, PlacementMatrix, Problem
from lmpreflight.vocabulary import Status

SHOWN_PER_LIST = 6
"""Destinations named per list before "+N more" (the JSON and HTML have them all)."""
STYLES = {"fail": "red", "error": "magenta", "warn": "yellow"}
PAIR_ONLY_NOTE = (
    "Each host was collected alone: TCP 6600 between hosts and Hyper-V's verdict on a VM's processor "
    "compatibility need the pair; run 'lmpreflight check SOURCE DESTINATION' for the move you choose."
)


def _names(cells: list[Cell], matrix: PlacementMatrix, with_checks: bool) -> Text:
    text = Text()
    for position, cell in enumerate(cells[:SHOWN_PER_LIST]):
        if position:
            text.append(", ")
        text.append(cell.destination)
        if with_checks:
            checks = sorted({matrix.problems[i].check_id for i in cell.problems if matrix.problems[i].blocks})
            if checks:
                text.append(f" ({', '.join(checks)})", style="dim")
    if len(cells) > SHOWN_PER_LIST:
        text.append(f", +{len(cells) - SHOWN_PER_LIST} more", style="dim")
    return text


ROW_LABELS = {
    Placement.READY: ("ready now", "green"),
    Placement.AFTER_FIXES: ("after fixes", "cyan"),
    Placement.BLOCKED: ("blocked", "red"),
    Placement.UNKNOWN: ("unknown", "magenta"),
}


def render_plan_text(matrix: PlacementMatrix, console: Console, verbose: bool = False) -> None:
    """Per VM: where it can go now, after fixes, not at all (with the blocking checks), and
    unknown; then each host's own problems once; the fixes; the counts."""
    if matrix.rows:
        console.print(Text("Where each VM can go", style="bold"))
    for row in matrix.rows:
        cells = matrix.cells(row)
        console.print(Text.assemble((row.vm, "bold"), f" on {row.source}"))
        for placement, (label, style) in ROW_LABELS.items():
            chosen = [c for c in cells if c.placement == placement]
            if chosen:
                line = Text.assemble("  ", (f"{label:<12}", style), " ")
                line.append_text(_names(chosen, matrix, placement != Placement.READY))
                console.print(line)
    _host_problems(matrix, console, verbose)
    _fixes(matrix, console)
    without = [f"{row.vm} ({row.source})" for row in matrix.rows if "r" not in row.placements]
    counts = ", ".join(f"{matrix.count(p)} {p.value}" for p in Placement)
    console.print(
        f"{len(matrix.rows)} VM(s) × {len(matrix.destinations)} destination(s), {matrix.pairs} pair(s) judged: {counts}."
    )
    if without:
        shown = ", ".join(without[:10]) + (f" and {len(without) - 10} more" if len(without) > 10 else "")
        console.print(Text(f"No destination can take {shown} now.", style="bold red"))
    elif matrix.rows:
        console.print(Text("Every VM has a destination that can take it now.", style="bold green"))
    else:
        console.print("No VM to place (the sources have none, or none could be read).")
    if matrix.rows:
        console.print(Text(PAIR_ONLY_NOTE, style="dim"))


def _host_problems(matrix: PlacementMatrix, console: Console, verbose: bool) -> None:
    """Each host's own problems, once; warnings only with -v unless they are all there is."""
    shown = False
    for host in matrix.hosts:
        problems = [matrix.problems[i] for i in matrix.host_problems.get(host.name, [])]
        if not verbose:
            problems = [p for p in problems if p.blocks]
        if not problems:
            continue
        if not shown:
            console.print(Text("\nProblems on each host (listed once, not per pair)", style="bold"))
            shown = True
        console.print(Text(host.name, style="bold"))
        for problem in problems:
            console.print(_problem_line(problem))
    if shown:
        console.print()


def _problem_line(problem: Problem) -> Text:
    line = Text("  ")
    line.append(f"{problem.status.value.upper():<5}", style=STYLES.get(problem.status.value, ""))
    line.append(f" {problem.check_id}: {problem.message}")
    if problem.fix:
        line.append(f"\n        fix: {problem.fix}", style="dim")
    return line


def _fixes(matrix: PlacementMatrix, console: Console) -> None:
    """The named fixes behind 'after fixes', once each, with their PowerShell."""
    used: set[int] = set()
    for row in matrix.rows:
        for index, code in enumerate(row.placements):
            if code == "f":
                used.update(matrix.cell_problems(row, index))
    fixes: dict[tuple[str, str | None, str | None, str | None], Problem] = {}
    for i in sorted(used):
        problem = matrix.problems[i]
        if problem.blocks and problem.automated:
            fixes.setdefault((problem.check_id, problem.host, problem.fix, problem.powershell), problem)
    if not fixes:
        return
    console.print(
        Text("Fixes that make 'after fixes' destinations ready ('lmpreflight check --fix-script' writes them)")
    )
    for problem in fixes.values():
        where = f", run on {problem.run_on}" if problem.run_on else ""
        console.print(Text(f"  {problem.check_id} ({problem.host or 'pair'}{where}): {problem.fix or ''}"))
        if problem.powershell:
            console.print(Text(f"      {problem.powershell}", style="cyan"), soft_wrap=True)
    console.print()


def plan_junit_chunks(matrix: PlacementMatrix, info: PlanInfo) -> Iterator[str]:
    """JUnit XML, piece by piece (one test suite, a VM, per piece): one testcase per VM ×
    destination. Ready passes; after fixes and blocked fail; unknown is an error; warnings
    fail only in a strict run (as in the placement)."""
    yield '<?xml version="1.0" encoding="UTF-8"?>\n'

    counts = {
        "tests": sum(len(row.placements) - row.placements.count("-") for row in matrix.rows),
        "failures": matrix.count(Placement.AFTER_FIXES) + matrix.count(Placement.BLOCKED),
        "errors": matrix.count(Placement.UNKNOWN),
    }
    root = ET.Element("testsuites", {"name": "lmpreflight plan", **{k: str(v) for k, v in counts.items()}})
    opening = ET.tostring(root, encoding="unicode").replace(" />", ">")
    yield opening + "\n"
    stamp = info.generated_at.replace(microsecond=0).isoformat()
    for row in matrix.rows:
        cells = matrix.cells(row)
        suite = ET.Element(
            "testsuite",
            {
                "name": f"{row.source}/{row.vm}",
                "tests": str(len(cells)),
                "failures": str(sum(1 for c in cells if c.placement in (Placement.AFTER_FIXES, Placement.BLOCKED))),
                "errors": str(sum(1 for c in cells if c.placement == Placement.UNKNOWN)),
                "skipped": "0",
                "timestamp": stamp,
                "hostname": info.run_from,
                "time": "0",
            },
        )
        for cell in cells:
            suite.append(_case(matrix, row.source, row.vm, cell))
        ET.indent(suite, level=1)
        yield "  " + ET.tostring(suite, encoding="unicode") + "\n"
    yield "</testsuites>\n"


def _case(matrix: PlacementMatrix, source: str, vm: str, cell: Cell) -> ET.Element:
    case = ET.Element(
        "testcase", {"classname": f"lmpreflight.plan.{source}.{vm}", "name": f"to {cell.destination}", "time": "0"}
    )
    problems = [matrix.problems[i] for i in cell.problems]
    detail = "\n".join(
        f"{p.status.value.upper()} {p.check_id}: {p.message}" + (f"\n  fix: {p.fix}" if p.fix else "") for p in problems
    )
    blocking = [p for p in problems if p.blocks or (matrix.strict and p.status == Status.WARN)]
    summary = "; ".join(sorted({p.check_id for p in blocking}))
    if cell.placement == Placement.UNKNOWN:
        ET.SubElement(case, "error", message=f"not judged: {summary}", type="incomplete").text = detail
    elif cell.placement == Placement.BLOCKED:
        ET.SubElement(case, "failure", message=f"blocked: {summary}", type="blocked").text = detail
    elif cell.placement == Placement.AFTER_FIXES:
        ET.SubElement(case, "failure", message=f"ready after fixes: {summary}", type="after-fixes").text = detail
    else:
        ET.SubElement(case, "system-out").text = "READY" + (f"\n{detail}" if detail else "")
    return case
