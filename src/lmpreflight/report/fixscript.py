"""The remediation script: one PowerShell file that fixes what can be fixed safely.

Steps come from the report's failing (and warning) results. A check that can fix its own
finding safely contributes the step itself (``@check(fix=...)``): it tests its precondition
first (so running the script again changes nothing) and only changes anything with
``-Apply``. Everything else (upgrading a VM's version, processor compatibility, switches,
storage, the network) is written as a commented explanation instead. Every value reaches
PowerShell through the one literal-escaping helper.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lmpreflight.model import RUN_PLACES, RunPlace
from lmpreflight.report.model import Report, ResultOut
from lmpreflight.resources import template_environment


@dataclass(frozen=True)
class ScriptStep:
    """A step as the script shows it: the check's step plus the finding it answers."""

    check_id: str
    finding: str
    description: str
    needed: str | None = None
    change: str | None = None
    manual: str | None = None


@dataclass
class FixPlan:
    steps: dict[RunPlace, list[ScriptStep]] = field(default_factory=lambda: {p: [] for p in RUN_PLACES})

    def add(self, place: RunPlace, step: ScriptStep) -> None:
        if step not in self.steps[place]:
            self.steps[place].append(step)


def _manual(r: ResultOut) -> tuple[RunPlace, ScriptStep]:
    place: RunPlace = (
        "directory"
        if r.category in ("delegation", "domain") and r.subject == "pair"
        else ("destination" if r.subject == "destination" else "source")
    )
    fix = r.remediation
    text = fix.text if fix else "See the report."
    if fix and fix.powershell:
        text += f" Suggested: {' '.join(fix.powershell.split())}"
    return place, ScriptStep(r.check_id, r.message, "Not automated: needs a decision or downtime", manual=text)


def _step(r: ResultOut) -> tuple[RunPlace, ScriptStep]:
    step = r.fix_step
    if step is None:
        return _manual(r)
    return step.runs_on, ScriptStep(r.check_id, r.message, step.description, step.needed, step.change, step.manual)


def plan_fixes(report: Report) -> FixPlan:
    plan = FixPlan()
    for result in report.results:
        if result.status not in ("fail", "warn"):
            continue
        place, step = _step(result)
        held = report.held_fixes.get(place)
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
        delegation_changed=any(s.change for s in plan.steps["directory"]),
    )
