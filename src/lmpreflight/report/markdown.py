"""A short Markdown summary for a change ticket: the verdict, each VM, "Before the move",
warnings and accepted risks."""

from __future__ import annotations

from lmpreflight.explain.render import left_out, none_found
from lmpreflight.report.actions import before_the_move, numbered_groups, vm_verdicts
from lmpreflight.report.model import Report
from lmpreflight.resources import template_environment


def render_markdown(report: Report) -> str:
    template = template_environment(autoescape=False).get_template("summary.md.j2")
    text = template.render(
        report=report,
        source=report.host_by_role("source"),
        destination=report.host_by_role("destination"),
        groups=numbered_groups(before_the_move(report)),
        vm_verdicts=vm_verdicts(report),
        incidents_none=none_found(report, report.run.vms),
        incidents_left_out=left_out(report),
    )
    return text.rstrip("\n") + "\n"
