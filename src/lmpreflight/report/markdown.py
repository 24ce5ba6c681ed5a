"""A short Markdown summary for a change ticket: verdict, what blocks the move and its fix, links."""

from __future__ import annotations

from lmpreflight.report.model import Report
from lmpreflight.resources import template_environment


def render_markdown(report: Report) -> str:
    template = template_environment(autoescape=False).get_template("summary.md.j2")
    return template.render(
        report=report, source=report.host_by_role("source"), destination=report.host_by_role("destination")
    )
