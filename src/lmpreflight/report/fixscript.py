"""The remediation script: one PowerShell file that fixes what can be fixed safely.

Steps come from the report's failing (and warning) results. A check that can fix its own
finding safely contributes the step itself (``@check(fix=...)``): it tests its precondition
first (so running the script again changes nothing) and changes only through PowerShell's
own ShouldProcess (high impact: each change is confirmed unless ``-Confirm:$false``;
``-WhatIf`` previews). Each part runs where its steps belong, directory first; it keeps a
transcript and writes the values it may change before changing them, so a change can be
undone. Everything else (upgrading a VM's version, processor compatibility, switches,
storage, the network) is written as a commented explanation instead, in the part for the
place it concerns; what only the network team can change is listed at the end. Every value
reaches PowerShell through the one literal-escaping helper.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from lmpreflight.facts.windows import FIREWALL_RULE_NAME
from lmpreflight.report.actions import place_of
from lmpreflight.report.model import Report, ResultOut
from lmpreflight.resources import template_environment
from lmpreflight.vocabulary import RUN_PLACES, RunPlace


@dataclass(frozen=True)
class ScriptStep:
    """A step as the script shows it: the check's step plus the finding it answers."""

    check_id: str
    finding: str
    description: str
    needed: str | None = None
    change: str | None = None
    manual: str | None = None

    suggested: tuple[str, ...] = ()
    """The check's suggested PowerShell for a manual step, line by line (shown, never run)."""


ScriptPlace = RunPlace | Literal["network"]
SCRIPT_PARTS: tuple[RunPlace, ...] = ("directory", "source", "destination")
PLACES: tuple[ScriptPlace, ...] = (*SCRIPT_PARTS, "network")
"""The parts in the order to run them: the directory first (the hosts renew their tickets after it)."""
assert set(SCRIPT_PARTS) == set(RUN_PLACES)


@dataclass
class FixPlan:
    steps: dict[ScriptPlace, list[ScriptStep]] = field(default_factory=lambda: {p: [] for p in PLACES})

    def add(self, place: ScriptPlace, step: ScriptStep) -> None:
        if step not in self.steps[place]:
            self.steps[place].append(step)

    def parts(self) -> list[RunPlace]:
        """The parts with something in them, in run order."""
        return [p for p in SCRIPT_PARTS if self.steps[p]]

    def automated(self, place: ScriptPlace) -> bool:
        return any(step.change for step in self.steps[place])


def _manual(r: ResultOut, report: Report) -> tuple[ScriptPlace, ScriptStep]:
    fix = r.remediation
    return place_of(r, report), ScriptStep(
        r.check_id,
        r.message,
        "Not automated: needs a decision or downtime",
        manual=fix.text if fix else "See the report.",
        suggested=tuple(fix.powershell.splitlines()) if fix and fix.powershell else (),
    )


def _step(r: ResultOut, report: Report) -> tuple[ScriptPlace, ScriptStep]:
    step = r.fix_step
    if step is None:
        return _manual(r, report)
    return step.runs_on, ScriptStep(r.check_id, r.message, step.description, step.needed, step.change, step.manual)


def plan_fixes(report: Report) -> FixPlan:
    plan = FixPlan()
    for result in report.results:
        if result.status not in ("fail", "warn") or result.accepted is not None:
            continue
        place, step = _step(result, report)
        held = report.held_fixes.get(place) if place != "network" else None
        if held and place == "directory":
            step = ScriptStep(
                step.check_id,
                step.finding,
                "Not written: the hosts' identities are not confirmed",
                manual="No directory change is proposed until the name typed, the name each host reports "
                "and its AD account agree: " + "; ".join(held),
            )
        elif held:
            step = ScriptStep(step.check_id, step.finding, "Not written", manual="; ".join(held))
        plan.add(place, step)
    return plan


def render_fix_script(report: Report) -> str:
    plan = plan_fixes(report)
    template = template_environment(autoescape=False).get_template("fix.ps1.j2")
    return template.render(
        report=report,
        source=report.host_by_role("source"),
        destination=report.host_by_role("destination"),
        plan=plan,
        hosts={"source": report.host_by_role("source"), "destination": report.host_by_role("destination")},
        firewall_rule=FIREWALL_RULE_NAME,
        delegation_changed=plan.automated("directory"),
    )
