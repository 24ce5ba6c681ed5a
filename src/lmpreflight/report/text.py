"""The terminal report: "Before the move" first, then what is wrong, then each VM and the verdict.

Quiet by default: passes and not-applicable results are counted, not listed (``-v`` lists
them), and the skips that follow from one root cause are one line naming it. PowerShell is
never wrapped (a wrapped command pasted line by line runs without its parameters), and
messages wrap with a hanging indent, so the status column stays readable at 80 columns.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from lmpreflight.explain.render import render_incidents
from lmpreflight.report.actions import (
    Action,
    ActionGroup,
    before_the_move,
    not_evaluated_groups,
    numbered,
    subject_name,
    vm_verdicts,
)
from lmpreflight.report.model import Report, ResultOut
from lmpreflight.vocabulary import Status

STYLES = {
    "fail": "bold red",
    "error": "bold magenta",
    "warn": "yellow",
    "skip": "dim",
    "info": "cyan",
    "pass": "green",
}
VERDICT_STYLES = {"ready": "bold green", "not-ready": "bold red", "incomplete": "bold magenta"}
VERDICT_TEXT = {"ready": "READY", "not-ready": "NOT READY", "incomplete": "INCOMPLETE"}
VM_STYLES = {"blocked": "bold red", "not-evaluated": "bold magenta", "warnings": "yellow", "ready": "green"}
LISTED = ("fail", "error", "warn", "info")


def subject_label(subject: str, host: str | None) -> str:
    if subject.startswith("vm:"):
        return subject[3:]
    return host or subject


def _hanging(console: Console, prefix: Text, body: Text) -> None:
    """``prefix`` then ``body``, whose wrapped lines start under its first (a hanging indent);
    one long line when the output is piped, so logs and greps see it whole."""
    if console.soft_wrap:
        console.print(prefix + body)
        return
    grid = Table.grid()
    grid.add_column(no_wrap=True, width=prefix.cell_len)
    grid.add_column(overflow="fold")
    grid.add_row(prefix, body)
    console.print(grid)


def _indented(console: Console, text: Text, indent: int) -> None:
    _hanging(console, Text(" " * indent), text)


def _powershell(console: Console, code: str, indent: int) -> None:
    for line in code.splitlines():
        console.print(Text(" " * indent + "PS> " + line), soft_wrap=True, overflow="ignore", crop=False)


def _render_actions(console: Console, steps: list[tuple[str, Action]], groups: list[ActionGroup]) -> None:
    """The "Before the move" list: numbered steps, grouped by where they run, in run order."""
    if not groups:
        return
    numbers = {id(action): number for number, action in steps}
    console.print(Text("Before the move", style="bold underline"), Text(" (in this order)", style="bold"))
    for group in groups:
        console.print(Text(f"  {group.label}", style="bold"))
        for action in group.actions:
            _render_action(console, numbers[id(action)], action)
    console.print()


def _render_action(console: Console, number: str, action: Action) -> None:
    text = Text("(warning) ", style="yellow") if action.status == "warn" else Text()
    text.append(action.text)
    text.append(f"  [{', '.join(action.check_ids)} · {', '.join(action.subjects)}]", style="dim")
    _hanging(console, Text(f"    {number}. ", style="bold"), text)
    if action.powershell:
        _powershell(console, action.powershell, 8)


def _step_of(result: ResultOut, steps: list[tuple[str, Action]]) -> str | None:
    for number, action in steps:
        if result.check_id in action.check_ids and subject_name(result) in action.subjects:
            return number
    return None


def _render_result(console: Console, result: ResultOut, steps: list[tuple[str, Action]], verbose: bool) -> None:
    line = Text()
    line.append(f"{result.status.upper():<5} ", style=STYLES[result.status])
    line.append(result.check_id, style="bold")
    line.append(f"  [{subject_label(result.subject, result.host)}]", style="dim")
    if result.accepted is not None:
        line.append(
            f"  ACCEPTED until {result.accepted.expires:%Y-%m-%d} by {result.accepted.by}: {result.accepted.reason}",
            style="cyan",
        )
    console.print(line, soft_wrap=console.soft_wrap)
    _indented(console, Text(result.message), 6)
    if result.remediation is None or result.status not in ("fail", "warn", "error") or result.accepted:
        return
    step = _step_of(result, steps)
    if step is not None and not verbose:
        _indented(console, Text(f"fix: step {step} above", style="bold"), 6)
        return
    where = f" (on {result.remediation.run_on})" if result.remediation.run_on else ""
    _indented(console, Text(f"fix{where}: {result.remediation.text}", style="bold"), 6)
    if result.remediation.powershell:
        _powershell(console, result.remediation.powershell, 8)


def _render_vm_verdicts(console: Console, report: Report, source: str) -> None:
    verdicts = vm_verdicts(report)
    if not verdicts:
        return
    console.print()
    scope = "" if report.run.vms else f" on {source} (name them with --vm for the full check)"
    console.print(Text(f"VMs{scope}:", style="bold"))
    for verdict in verdicts:
        line = Text(verdict.summary(), style=VM_STYLES[verdict.state])
        shown = [*verdict.host_blockers, *verdict.vm_blockers] or list(verdict.warnings)
        if shown:
            line.append(f": {', '.join(shown)}", style="dim")
        _hanging(console, Text(f"  {verdict.vm}: "), line)


def render_text(report: Report, console: Console, verbose: bool = False) -> None:
    source, destination = report.host_by_role("source"), report.host_by_role("destination")
    vms = f"  VMs: {', '.join(report.run.vms)}" if report.run.vms else ""
    console.print(Text.assemble(("lmpreflight ", "bold"), f"{source.name} → {destination.name}{vms}"))
    for host in report.hosts:
        if not host.collected:
            console.print(Text.assemble((f"{host.name}: not collected", "bold magenta"), " (see collection.host)"))
    console.print()
    if report.events_collected:
        render_incidents(report, console, report.run.vms)
        console.print()
    groups = before_the_move(report)
    steps = numbered(groups)
    _render_actions(console, steps, groups)
    counts = report.summary.counts
    console.print(Text("Findings", style="bold underline"))
    grouped = {id(r) for _, members in not_evaluated_groups(report) for r in members}
    for result in report.results:
        if verbose or (result.status in LISTED and id(result) not in grouped):
            _render_result(console, result, steps, verbose)
    if not verbose:
        for message, members in not_evaluated_groups(report):
            line = Text(f"{'SKIP':<5} ", style=STYLES["skip"])
            ids = ", ".join(dict.fromkeys(r.check_id for r in members))
            label = f"{len(members)} check{'s' if len(members) != 1 else ''} {message}"
            line.append(label, style="bold")
            if len(members) <= 3:
                line.append(f": {ids}", style="dim")
            console.print(line, soft_wrap=console.soft_wrap)
        quiet = (
            counts.get(Status.PASS, 0),
            counts.get(Status.SKIP, 0) - sum(len(m) for _, m in not_evaluated_groups(report)),
        )
        if any(quiet):
            console.print(
                Text(f"PASS  {quiet[0]} passed, {quiet[1]} not applicable (-v lists them)", style="green"),
                soft_wrap=console.soft_wrap,
            )
    _render_vm_verdicts(console, report, source.name)
    console.print()
    summary = ", ".join(
        f"{counts.get(s, 0)} {s}"
        for s in (Status.FAIL, Status.ERROR, Status.WARN, Status.PASS, Status.INFO, Status.SKIP)
    )
    if report.summary.accepted:
        summary += f" ({report.summary.accepted} accepted by waivers, not counted)"
    console.print(Text.assemble(("Summary: ", "bold"), summary))
    for waiver in report.waivers:
        if waiver.state != "applied":
            console.print(
                Text(f"waiver {waiver.check} for {waiver.subject}: {waiver.state}", style="yellow"),
                soft_wrap=console.soft_wrap,
            )
    # diagnose's own exit code says whether failures were found, not the move's verdict.
    exit_code = "" if report.events_collected else f" (exit code {report.exit_code})"
    console.print(
        Text.assemble(
            ("Verdict: ", "bold"),
            (VERDICT_TEXT[report.verdict], VERDICT_STYLES[report.verdict]),
            exit_code,
        )
    )
