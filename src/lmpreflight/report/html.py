"""The self-contained HTML report, rendered by jinja2 with autoescaping on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from markupsafe import Markup, escape

from lmpreflight.escape import html_inline_markdown
from lmpreflight.explain.render import left_out, none_found
from lmpreflight.report.actions import before_the_move, not_evaluated_groups, numbered_groups, vm_verdicts
from lmpreflight.report.model import Report, ResultOut
from lmpreflight.resources import template_environment

STATUS_LABELS = {
    "fail": "FAIL",
    "error": "ERROR",
    "warn": "WARN",
    "skip": "SKIP",
    "info": "INFO",
    "pass": "PASS",
}
STATUS_ORDER = ("fail", "error", "warn", "skip", "info", "pass")
"""Worst first, as in :class:`lmpreflight.vocabulary.Status`."""


def evidence_html(value: Any) -> Markup:
    """Evidence as a person reads it: lists as comma-separated values, mappings as
    ``key: value`` lines, yes/no for booleans, "none" for empty; never raw JSON."""
    if value is None:
        return Markup("<span class=muted>unknown</span>")
    if isinstance(value, bool):
        return Markup("yes" if value else "no")
    if isinstance(value, Mapping):
        if not value:
            return Markup("<span class=muted>none</span>")
        return Markup("<br>").join(Markup("{}: {}").format(key, evidence_html(item)) for key, item in value.items())
    if isinstance(value, list | tuple):
        if not value:
            return Markup("<span class=muted>none</span>")
        separator = Markup("<br>") if any(isinstance(item, Mapping | list | tuple) for item in value) else ", "
        return Markup(separator).join(evidence_html(item) for item in value)
    return escape(str(value))


def check_matrix(report: Report) -> tuple[list[str], list[tuple[str, str, dict[str, ResultOut]]]]:
    """The per-host matrix: one row per check, one column per host (and the pair and each VM),
    each cell the worst result of that check about that subject."""
    columns = [
        "source",
        "destination",
        "pair",
        *dict.fromkeys(r.subject for r in report.results if r.subject.startswith("vm:")),
    ]
    rows: dict[str, tuple[str, dict[str, ResultOut]]] = {}
    for result in report.results:
        _, cells = rows.setdefault(result.check_id, (result.title, {}))
        known = cells.get(result.subject)
        if known is None or STATUS_ORDER.index(result.status) < STATUS_ORDER.index(known.status):
            cells[result.subject] = result
    used = [c for c in columns if any(c in cells for _, cells in rows.values())]
    return used, [(check_id, title, cells) for check_id, (title, cells) in sorted(rows.items())]


def render_html(report: Report) -> str:
    environment = template_environment(autoescape=True).overlay()
    environment.filters["split_lines"] = str.splitlines
    template = environment.get_template("report.html.j2")
    groups = before_the_move(report)
    columns, matrix = check_matrix(report)
    return template.render(
        report=report,
        source=report.host_by_role("source"),
        destination=report.host_by_role("destination"),
        labels=STATUS_LABELS,
        groups=numbered_groups(groups),
        vm_verdicts=vm_verdicts(report),
        skip_groups=not_evaluated_groups(report),
        matrix_columns=columns,
        matrix=matrix,
        md=html_inline_markdown,
        incidents_none=none_found(report, report.run.vms),
        incidents_left_out=left_out(report),
        evidence=evidence_html,
    )
