"""The "Before the move" list every report opens with: what to do, grouped by where it is
done, in the order to do it, one step per root cause.

Where a step runs comes from the check's own fix step when it has one, else from the host its
remediation says to run on, else from the result's subject. Steps that are the same change in
the same place (a disabled firewall rule blocks TCP 6600, so both checks say "enable the rule")
are merged into one step naming every check behind it; a command that still holds a placeholder
is never merged across subjects (each VM its own step). Directory changes come first (hosts
must renew their tickets after them), then the source, then the destination, then what only
the network team can change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from lmpreflight.report.model import Report, ResultOut

Place = Literal["directory", "source", "destination", "network"]
PLACES: tuple[Place, ...] = ("directory", "source", "destination", "network")
ACTIONABLE = ("fail", "error", "warn")
PLACEHOLDER = re.compile(r"<[A-Z][A-Za-z ]*>")
"""A name the fix could not know, written so a paste fails loudly (``<NetAdapterName>``)."""


@dataclass
class Action:
    """One step: what to do, the PowerShell for it when there is one, and the results it answers."""

    text: str
    powershell: str | None
    status: str
    check_ids: list[str] = field(default_factory=list)
    subjects: list[str] = field(default_factory=list)


@dataclass
class ActionGroup:
    place: Place
    label: str
    actions: list[Action] = field(default_factory=list)


def place_of(result: ResultOut, report: Report) -> Place:
    """Where the fix for ``result`` is done."""
    fix = result.remediation
    where = (fix.run_on or "").casefold() if fix else ""
    if "network team" in where or "network firewall" in where:
        return "network"
    if result.fix_step is not None:
        return result.fix_step.runs_on
    if "domain admin" in where or "dns administrator" in where or "active directory" in where:
        return "directory"
    # A VM's result is about the VM, not a host: the host its fix runs on decides (a missing
    # switch is created on the destination).
    return _host_first_named(where, report) or ("destination" if result.subject == "destination" else "source")


def _host_first_named(where: str, report: Report) -> Literal["source", "destination"] | None:
    """The role of the host a remediation's "run on" starts with: 'HV02', 'hv02.corp.example',
    'the destination host (and …)', 'HV01, then HV02'."""
    first = re.match(r"(?:the )?([^\s,(]+)", where)
    if first is None:
        return None
    word = first.group(1)
    for host in report.hosts:
        if word in (host.role, host.name.casefold(), (host.fqdn or host.target).casefold()):
            return host.role
    return None


def subject_name(result: ResultOut) -> str:
    return result.subject[3:] if result.subject.startswith("vm:") else (result.host or result.subject)


def _label(place: Place, report: Report) -> str:
    if place == "directory":
        return "Domain Admin (Active Directory)"
    if place == "network":
        return "Network team"
    host = report.host_by_role(place)
    return f"On {host.name} ({place})"


def before_the_move(report: Report) -> list[ActionGroup]:
    """The steps for every failing, unevaluated and warning result not accepted by a waiver,
    grouped by place in run order; failures before warnings within a place."""
    groups = {place: ActionGroup(place, _label(place, report)) for place in PLACES}
    merged: dict[str, Action] = {}
    actionable = [
        (place_of(r, report), r)
        for r in report.results
        if r.status in ACTIONABLE and r.remediation is not None and r.accepted is None
    ]
    # Run order, and failures before warnings; the same command twice is one step, in the
    # first place that needs it (a host before the network team).
    actionable.sort(key=lambda pair: (PLACES.index(pair[0]), pair[1].status == "warn"))
    for place, result in actionable:
        fix = result.remediation
        assert fix is not None
        text = " ".join(fix.text.split())
        # A collection problem (a rejected password, an unreachable DC) is one cause wherever
        # it shows up; a change to make is one step per place.
        key = (
            " ".join(fix.powershell.split())
            if fix.powershell
            else (text if result.status == "error" else f"{place}: {text}")
        )
        if fix.powershell and PLACEHOLDER.search(fix.powershell):
            # A command still holding a placeholder is one the admin completes for one object:
            # never one step standing for several objects behind a single placeholder.
            key = f"{key}\0{result.subject}"
        action = merged.get(key.casefold())
        if action is None:
            action = merged[key.casefold()] = Action(fix.text, fix.powershell, result.status)
            groups[place].actions.append(action)
        if result.check_id not in action.check_ids:
            action.check_ids.append(result.check_id)
        name = subject_name(result)
        if name not in action.subjects:
            action.subjects.append(name)
    return [group for group in groups.values() if group.actions]


def numbered_groups(groups: list[ActionGroup]) -> list[tuple[ActionGroup, list[tuple[str, Action]]]]:
    """Each group with its actions and their step numbers (numbered across groups)."""
    numbers = {id(action): number for number, action in numbered(groups)}
    return [(group, [(numbers[id(a)], a) for a in group.actions]) for group in groups]


def numbered(groups: list[ActionGroup]) -> list[tuple[str, Action]]:
    """Every action with its step number ("1", "2", …) across groups, in run order."""
    return [(str(index), action) for index, action in enumerate((a for g in groups for a in g.actions), start=1)]


BLOCKING = ("fail", "error")


@dataclass(frozen=True)
class VmVerdict:
    """One VM's answer: its own checks and the host-level blockers that stop every move."""

    vm: str
    state: Literal["blocked", "not-evaluated", "warnings", "ready"]
    vm_blockers: tuple[str, ...]
    host_blockers: tuple[str, ...]
    warnings: tuple[str, ...]

    def summary(self) -> str:
        """``blocked by 4 checks (2 host, 2 VM)``, ``ready, with 1 warning``, …"""
        count = len(self.vm_blockers) + len(self.host_blockers)
        parts = [f"{len(self.host_blockers)} host"] if self.host_blockers else []
        parts += [f"{len(self.vm_blockers)} VM"] if self.vm_blockers else []
        detail = f"{count} check{'s' if count != 1 else ''} ({', '.join(parts)})"
        if self.state == "blocked":
            return f"blocked by {detail}"
        if self.state == "not-evaluated":
            return f"unknown: {detail} could not be evaluated"
        if self.state == "warnings":
            return f"ready, with {len(self.warnings)} warning{'s' if len(self.warnings) != 1 else ''}"
        return "ready"


def _counted(report: Report, statuses: tuple[str, ...]) -> list[ResultOut]:
    return [r for r in report.results if r.status in statuses and r.accepted is None]


def vm_verdicts(report: Report) -> list[VmVerdict]:
    """Every VM named with --vm, or every VM on the source: never "ready" while a host-level
    check blocks the move or could not be evaluated."""
    host_level = [r for r in _counted(report, BLOCKING) if not r.subject.startswith("vm:")]
    host_failed = any(r.status == "fail" for r in host_level)
    host_ids = tuple(dict.fromkeys(r.check_id for r in host_level))
    own: dict[str, tuple[list[str], list[str], bool]] = {}
    if report.run.vms:
        for vm in report.run.vms:
            mine = [r for r in report.results if r.subject == f"vm:{vm}" and r.accepted is None]
            blockers = [r.check_id for r in mine if r.status in BLOCKING]
            own[vm] = (
                blockers,
                [r.check_id for r in mine if r.status == "warn"],
                any(r.status == "fail" for r in mine),
            )
    else:
        for readiness in report.vm_readiness:
            own[readiness.vm] = (list(readiness.blocking), list(readiness.warnings), readiness.status == "fail")
    verdicts = []
    for vm, (blockers, warnings, failed) in own.items():
        if failed or host_failed:
            state: Literal["blocked", "not-evaluated", "warnings", "ready"] = "blocked"
        elif blockers or host_ids:
            state = "not-evaluated"
        else:
            state = "warnings" if warnings else "ready"
        verdicts.append(VmVerdict(vm, state, tuple(dict.fromkeys(blockers)), host_ids, tuple(warnings)))
    return verdicts


GROUPED_SKIPS = ("not evaluated", "skipped by the user")


def not_evaluated_groups(report: Report) -> list[tuple[str, list[ResultOut]]]:
    """The skips that follow from one root cause ("not evaluated: nothing could be collected
    from HV02", or --skip), one group per cause, so a terminal shows one line instead of thirty."""
    groups: dict[str, list[ResultOut]] = {}
    for result in report.results:
        if result.status == "skip" and result.message.startswith(GROUPED_SKIPS):
            groups.setdefault(result.message, []).append(result)
    return list(groups.items())
