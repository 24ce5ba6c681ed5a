"""The explanation on the terminal: what the codes mean, then the likely causes with fixes."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from lmpreflight.escape import md_text, visible
from lmpreflight.explain.incidents import MAX_INCIDENTS
from lmpreflight.explain.model import CauseOut, Explanation, ShownIncidents

SHOWN_CAUSES = 3
INCIDENT_CAUSES = 2
CONFIDENCE_STYLES = {"high": "bold green", "medium": "yellow", "low": "dim"}
EVENT_TEXT_TERMINAL = 220
EVENT_TEXT_MARKDOWN = 300
CUT = "…"


def event_text(message: str, limit: int) -> str:
    """An event's text on one line, cut at a word boundary and marked with "…" when longer than
    ``limit``: a cut must never read as the whole message (a switch name lost mid-sentence)."""
    text = " ".join(message.split())
    if len(text) <= limit:
        return text
    short = textwrap.shorten(text, limit, placeholder=CUT)
    # One word longer than the limit (a path, a GUID run) leaves only the mark: cut inside it.
    return short if short != CUT else text[: limit - len(CUT)] + CUT


def render_explanation(explanation: Explanation, console: Console, show_all: bool = False) -> None:
    for match in explanation.matches:
        if match.kind == "code" and match.decoded is not None:
            decoded = match.decoded
            title = f"{decoded.value}{' ' + decoded.name if decoded.name else ''}"
            console.print(Text.assemble((title, "bold"), f" — {match.meaning}"))
            console.print(f"  {escape(decoded.structure())}", style="dim", highlight=False)
        elif match.kind == "event":
            console.print(Text.assemble((f"Event {match.value}", "bold"), f" — {match.meaning}"))
        elif match.kind in ("vmm", "wmi"):
            label = "VMM error" if match.kind == "vmm" else "WMI return value"
            console.print(Text.assemble((f"{label} {match.value}", "bold"), f" — {match.meaning}"))
        elif match.kind == "message":
            language = f" [{match.language}]" if match.language and match.language != "en" else ""
            console.print(Text.assemble(("Message", "bold"), f"{language} — {match.meaning}"))
    for note in explanation.notes:
        console.print(f"note: {escape(visible(note))}", style="yellow", highlight=False)
    if not explanation.causes:
        return
    console.print()
    console.print(Text("Most likely causes:", style="bold"))
    shown = explanation.causes if show_all else explanation.causes[:SHOWN_CAUSES]
    for cause in shown:
        render_cause(cause, console)
    hidden = len(explanation.causes) - len(shown)
    if hidden > 0:
        console.print(f"({hidden} less likely cause(s) not shown; --all or --json lists them all)", style="dim")


def render_cause(cause: CauseOut, console: Console, indent: str = "   ") -> None:
    console.print(
        Text.assemble(
            f"{indent[:-3]}{cause.rank}. ",
            (cause.title, "bold"),
            "  ",
            (f"[{cause.confidence} confidence]", CONFIDENCE_STYLES[cause.confidence]),
        )
    )
    console.print(f"{indent}why: {escape(cause.why)}", highlight=False)
    console.print(f"{indent}ranked: {escape(visible(cause.ranking))}", style="dim", highlight=False)
    console.print(f"{indent}evidence: {escape(visible('; '.join(cause.evidence)))}", style="dim", highlight=False)
    for check in cause.checks:
        console.print(
            f"{indent}check {check.check_id}: {check.status.upper()} {escape(visible(check.message))}", highlight=False
        )
    where = f" (on {cause.fix.run_on})" if cause.fix.run_on else ""
    console.print(f"{indent}fix{escape(where)}: {escape(cause.fix.text)}", highlight=False)
    for line in (cause.fix.powershell or "").splitlines():
        console.print(f"{indent}  PS> {escape(line)}", highlight=False)
    console.print(f"{indent}see: {' '.join(cause.references)}", style="dim", highlight=False)


def none_found(found: ShownIncidents, vms: Sequence[str] = ()) -> str:
    """The sentence for logs without a failure to show. With --vm, other VMs' failures are not
    shown: "no failures" must not read as a clean log when they were left out (a VM name typed
    wrong would otherwise look like a VM that never failed), so it says how many were."""
    if not vms:
        return f"No migration failures found ({found.events_read} event(s) read)."
    others = (
        f"other VMs' failures are not shown with --vm: {found.incidents_of_other_vms} failed move(s)"
        if found.incidents_of_other_vms
        else "no other VM's move failed either"
    )
    return f"No migration failures of {', '.join(vms)} or of the hosts found ({found.events_read} event(s) read; {others})."


def left_out(found: ShownIncidents) -> str | None:
    """The line under the failures shown that counts those found but not shown, if any."""
    parts = []
    if found.incidents_of_other_vms:
        parts.append(f"{found.incidents_of_other_vms} failed move(s) of other VMs not shown with --vm")
    if found.incidents_older:
        parts.append(f"{found.incidents_older} older failed move(s) not shown: only the latest {MAX_INCIDENTS} are")
    return f"({'; '.join(parts)})" if parts else None


def render_incidents(found: ShownIncidents, console: Console, vms: Sequence[str] = ()) -> None:
    """Each failed move: when, which VM, the events on each host, then its most likely cause."""
    incidents = found.incidents
    if not incidents:
        console.print(Text(visible(none_found(found, vms)), style="green"))
        return
    console.print(Text(f"Recent migration failures: {len(incidents)}", style="bold red"))
    note = left_out(found)
    if note:
        console.print(note, style="dim", highlight=False)
    for incident in incidents:
        console.print()
        when = incident.started.strftime("%Y-%m-%d %H:%M:%S UTC")
        console.print(
            Text.assemble(
                (f"▸ {when}", "bold"), f"  VM {incident.vm or '(not named)'}", f"  on {', '.join(incident.hosts)}"
            )
        )
        for event in incident.events:
            first_line = visible(event_text(event.message, EVENT_TEXT_TERMINAL))
            host = visible(event.host)
            console.print(f"    {escape(host)} event {event.id} {event.level}: {escape(first_line)}", highlight=False)
        for cause in incident.explanation.causes[:INCIDENT_CAUSES]:
            render_cause(cause, console, indent="      ")
        for note in incident.explanation.notes:
            console.print(f"    note: {escape(visible(note))}", style="yellow", highlight=False)


def incidents_markdown(found: ShownIncidents, vms: Sequence[str] = ()) -> str:
    """The failed moves as a short Markdown section for a ticket (diagnose --evtx --markdown)."""
    lines = ["# Recent migration failures", ""]
    if not found.incidents:
        return "\n".join([*lines, md_text(visible(none_found(found, vms))), ""])
    note = left_out(found)
    if note:
        lines += [md_text(note), ""]
    for incident in found.incidents:
        when = incident.started.strftime("%Y-%m-%d %H:%M UTC")
        vm = md_text(visible(incident.vm or "(not named)"))
        hosts = ", ".join(md_text(visible(h)) for h in incident.hosts)
        lines += [f"## {when} · VM {vm} · {hosts}", ""]
        for event in incident.events:
            message = md_text(visible(event_text(event.message, EVENT_TEXT_MARKDOWN)))
            lines.append(f"- {md_text(visible(event.host))} event {event.id} ({event.level}): {message}")
        lines.append("")
        for cause in incident.explanation.causes[:INCIDENT_CAUSES]:
            lines.append(
                f"{cause.rank}. **{md_text(cause.title)}** ({cause.confidence} confidence): {md_text(visible(cause.ranking))}"
            )
            lines.append(f"   - fix: {md_text(cause.fix.text)}")
        if incident.explanation.notes:
            lines += ["", *(f"_Note: {md_text(visible(note))}_" for note in incident.explanation.notes)]
        lines.append("")
    return "\n".join(lines)
