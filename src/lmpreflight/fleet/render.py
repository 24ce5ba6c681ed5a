"""The terminal render of the placement matrix (the JUnit one is in :mod:`lmpreflight.fleet.junit`)."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from lmpreflight.fleet.placement import Cell, Placement, PlacementMatrix, Problem

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
    _unread_sources(matrix, console)
    _fixes(matrix, console)
    without = [f"{row.vm} ({row.source})" for row in matrix.rows if "r" not in row.placements]
    counts = ", ".join(f"{matrix.count(p)} {p.value}" for p in Placement)
    console.print(
        f"{len(matrix.rows)} VM(s) × {len(matrix.destinations)} destination(s), {matrix.pairs} pair(s) judged: {counts}."
    )
    if without:
        shown = ", ".join(without[:10]) + (f" and {len(without) - 10} more" if len(without) > 10 else "")
        console.print(Text(f"No destination can take {shown} now.", style="bold red"))
    unread = ", ".join(host.name for host in matrix.unread_sources)
    if unread:
        console.print(
            Text(f"Where the VMs of {unread} can go is unknown: they could not be read.", style="bold yellow")
        )
    elif matrix.rows and not without:
        console.print(Text("Every VM has a destination that can take it now.", style="bold green"))
    elif not matrix.rows:
        console.print("No VM to place: the sources have none.")
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


def _unread_sources(matrix: PlacementMatrix, console: Console) -> None:
    """A source whose VMs could not be read has no row and no pair to carry its error: said here."""
    unlisted = [host for host in matrix.unread_sources if not matrix.host_problems.get(host.name)]
    if not unlisted:
        return
    console.print(Text("Sources whose VMs could not be read", style="bold"))
    for host in unlisted:
        line = Text("  ")
        line.append("ERROR", style=STYLES.get("error", ""))
        line.append(f" {host.name}: {host.error or 'its VMs could not be read'}")
        console.print(line)
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
