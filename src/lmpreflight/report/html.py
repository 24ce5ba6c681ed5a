"""The self-contained HTML report, rendered by jinja2 with autoescaping on."""

from __future__ import annotations

import json

from lmpreflight.report.model import Report
from lmpreflight.resources import template_environment

STATUS_LABELS = {
    "fail": "FAIL",
    "error": "ERROR",
    "warn": "WARN",
    "skip": "SKIP",
    "info": "INFO",
    "pass": "PASS",
}


def render_html(report: Report) -> str:
    template = template_environment(autoescape=True).get_template("report.html.j2")
    return template.render(
        report=report,
        source=report.host_by_role("source"),
        destination=report.host_by_role("destination"),
        labels=STATUS_LABELS,
        json=json,
    )
