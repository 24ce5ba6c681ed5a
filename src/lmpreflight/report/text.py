"""The terminal report: one line per result, the fix under every problem, then the verdict."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from lmpreflight.explain.render import render_incidents
from lmpreflight.report.model import Report

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


def subject_label(subject: str, host: str | None) -> str:
    if subject.startswith("vm:"):
        return subject[3:]
    return host or subject


def render_text(report: Report, console: Console, verbose: bool = False) -> None:
    source, destination = report.host_by_role("source"), report.host_by_role("destination")
    vms = f"  VMs: {', '.join(report.run.vms)}" if report.run.vms else ""
    console.print(Text.assemble(("lmpreflight ", "bold"), f"{source.name} → {destination.name}{vms}"))
    console.print()
    if report.events_collected:
        render_incidents(report.incidents, console, report.events_read)
        console.print()
        console.print(Text("Checks:", style="bold"))
    for result in report.results:
        if result.status == "pass" and not verbose:
            continue
        line = Text()
        line.append(f"{result.status.upper():<5} ", style=STYLES[result.status])
        line.append(f"{result.check_id:<42} ", style="bold")
        line.append(f"[{subject_label(result.subject, result.host)}] ", style="dim")
        line.append(result.message)
        console.print(line)
        if result.remediation is not None and result.status in ("fail", "warn", "error"):
            where = f" (on {result.remediation.run_on})" if result.remediation.run_on else ""
            console.print(f"      fix{escape(where)}: {escape(result.remediation.text)}", style="dim", highlight=False)
            if result.remediation.powershell:
                for ps_line in result.remediation.powershell.splitlines():
                    console.print(f"        PS> {escape(ps_line)}", highlight=False)
    counts = report.summary.counts
    passed = counts.get("pass", 0)
    if passed and not verbose:
        console.print(Text(f"PASS  {passed} more check result(s) passed (--verbose lists them)", style="green"))
    if report.vm_readiness:
        console.print()
        console.print(
            Text(f"VMs on {source.name} (VM checks only; name them with --vm for the full check):", style="bold")
        )
        for vm in report.vm_readiness:
            verdict = {"fail": "NOT READY", "error": "INCOMPLETE", "warn": "ready, with warnings"}.get(
                vm.status, "ready"
            )
            detail = ", ".join(vm.blocking or vm.warnings)
            line = Text(f"  {vm.vm:<24} ")
            line.append(verdict, style=STYLES.get(vm.status, "green"))
            if detail:
                line.append(f"  {detail}", style="dim")
            console.print(line)
    console.print()
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("fail", "error", "warn", "pass", "info", "skip"))
    console.print(Text.assemble(("Summary: ", "bold"), summary))
    console.print(
        Text.assemble(
            ("Verdict: ", "bold"),
            (VERDICT_TEXT[report.verdict], VERDICT_STYLES[report.verdict]),
            f" (exit code {report.exit_code})",
        )
    )
