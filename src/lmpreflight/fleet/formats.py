"""The files a plan can write, one registration each (as ``report.formats`` for one pair).

A format is a renderer of the placement matrix and one line here: ``plan``'s option, its
help and the writing come from this table. Renderers may return text in pieces, so a
fleet-sized document is written without ever being one string in memory.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from lmpreflight.fleet.document import PlanInfo, plan_json_chunks
from lmpreflight.fleet.html import render_plan_html
from lmpreflight.fleet.junit import plan_junit_chunks
from lmpreflight.fleet.placement import PlacementMatrix


@dataclass(frozen=True, slots=True)
class PlanFormat:
    name: str
    """The option (``--NAME FILE``) and the key in ``PlanRequest.outputs``."""
    help: str
    render: Callable[[PlacementMatrix, PlanInfo], str | Iterable[str]]


PLAN_FORMATS: tuple[PlanFormat, ...] = (
    PlanFormat("json", "Write the plan as JSON (schemas/plan.schema.json).", plan_json_chunks),
    PlanFormat("html", "Write the HTML placement matrix.", render_plan_html),
    PlanFormat("junit", "Write JUnit XML: one testcase per VM × destination, and one per host.", plan_junit_chunks),
)
