"""Failed moves in event logs: each failure grouped with its sibling events on both hosts into
one incident, explained once.

Grouping is near-linear in the number of events: events are sorted once, a failure joins an
open group of the same VM (or of no named VM) within WINDOW, and groups leave the window as
time moves on. A flood of events is bounded: at most MAX_INCIDENTS incidents (the latest) and
MAX_MEMBERS events per incident are kept and explained.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from lmpreflight.explain.engine import FactsContext, explain_with_facts
from lmpreflight.explain.knowledge import knowledge
from lmpreflight.explain.model import Incident, IncidentEvent, IncidentsFound
from lmpreflight.explain.names import vm_names_in
from lmpreflight.facts.model import EventRecord

HYPERV = re.compile(r"hyper-v", re.IGNORECASE)
WINDOW = timedelta(minutes=2)
MAX_INCIDENTS = 200
MAX_MEMBERS = 50

Judge = Callable[[str | None], FactsContext]
"""The hosts' facts judged for one incident, given the VM it names (None: it names none)."""


def is_failure(event: EventRecord) -> bool:
    entry = knowledge().event(event.id, event.provider)
    if entry is not None:
        return entry.failure
    return event.level in ("Error", "Critical") and bool(HYPERV.search(event.provider + event.channel))


def vm_of(event: EventRecord) -> str | None:
    names = vm_names_in(event.message[:4096])
    return names[0] if names else None


@dataclass
class _Group:
    anchor: datetime
    vm: str | None
    members: list[tuple[str, EventRecord]] = field(default_factory=list)

    def accepts(self, vm: str | None) -> bool:
        return self.vm is None or vm is None or self.vm.casefold() == vm.casefold()


@dataclass(frozen=True)
class _Tagged:
    host: str
    event: EventRecord
    vm: str | None
    failure: bool


def _tag(events_by_host: Mapping[str, Iterable[EventRecord]]) -> list[_Tagged]:
    """The Hyper-V events of all hosts, oldest first, each read once."""
    kb = knowledge()
    tagged = [
        _Tagged(host, event, vm_of(event), is_failure(event))
        for host, events in events_by_host.items()
        for event in events
        if kb.event(event.id, event.provider) or HYPERV.search(event.provider + event.channel)
    ]
    tagged.sort(key=lambda t: t.event.time_created)
    return tagged


def _is_open(group: _Group | None, moment: datetime) -> bool:
    return group is not None and moment - group.anchor <= WINDOW


def _group_failures(tagged: list[_Tagged]) -> list[_Group]:
    """Each failure joins the open group of its VM (or, unnamed, the latest open group); a dict
    by VM keeps this linear however many VMs fail at once."""
    groups: list[_Group] = []
    by_vm: dict[str, _Group] = {}
    unnamed: _Group | None = None
    for item in (t for t in tagged if t.failure):
        moment = item.event.time_created
        if item.vm is None:
            group = groups[-1] if groups and _is_open(groups[-1], moment) else None
        else:
            named = by_vm.get(item.vm.casefold())
            group = named if _is_open(named, moment) else None
            if group is None and unnamed is not None and not unnamed.vm and _is_open(unnamed, moment):
                group = unnamed
        if group is None:
            group = _Group(moment, item.vm)
            groups.append(group)
        if len(group.members) < MAX_MEMBERS:
            group.members.append((item.host, item.event))
        group.vm = group.vm or item.vm
        if group.vm:
            by_vm[group.vm.casefold()] = group
        else:
            unnamed = group
    return groups


def _attach_siblings(groups: list[_Group], tagged: list[_Tagged]) -> None:
    """Errors and warnings near a failure (same VM or none named) join its incident."""
    anchors = [g.anchor for g in groups]
    for item in tagged:
        if item.failure or item.event.level not in ("Error", "Warning", "Critical"):
            continue
        moment = item.event.time_created
        for group in groups[bisect_left(anchors, moment - WINDOW) : bisect_right(anchors, moment + WINDOW)]:
            if group.accepts(item.vm) and len(group.members) < MAX_MEMBERS:
                group.members.append((item.host, item.event))


def _incident(group: _Group, judge: Judge | None) -> Incident:
    members = sorted(group.members[:MAX_MEMBERS], key=lambda member: member[1].time_created)
    text = "\n".join(f"Event ID {e.id}: {e.message}" for _, e in members)
    return Incident(
        started=members[0][1].time_created,
        vm=group.vm,
        hosts=sorted({host for host, _ in members}),
        events=[
            IncidentEvent(
                host=h, time_created=e.time_created, id=e.id, level=e.level, channel=e.channel, message=e.message
            )
            for h, e in members
        ],
        # The machines the events themselves name, not the hosts they were read for: an exported
        # file's host is only its file name.
        explanation=explain_with_facts(
            text,
            judge(group.vm) if judge is not None else None,
            group.vm,
            tuple(sorted({e.computer for _, e in members if e.computer})),
        ),
    )


def find_incidents(
    events_by_host: Mapping[str, Iterable[EventRecord]],
    judge: Judge | None = None,
    shown: Callable[[str | None], bool] | None = None,
) -> IncidentsFound:
    """Group each failure with the Hyper-V events of the same VM (or of no named VM) within
    two minutes on any host, and explain each group's messages together; ``judge`` gives the
    hosts' facts each incident's causes are ranked with, judged for the VM it names (a failure
    of one VM must never be confirmed by another VM's problem). ``shown`` keeps the incidents
    of the VMs it accepts (given the VM an incident names), before the latest MAX_INCIDENTS are
    taken: newer failures of other VMs never push a wanted one out, and are never explained,
    only counted."""
    tagged = _tag(events_by_host)
    groups = _group_failures(tagged)
    _attach_siblings(groups, tagged)
    kept = groups if shown is None else [group for group in groups if shown(group.vm)]
    return IncidentsFound(
        incidents=[_incident(group, judge) for group in kept[-MAX_INCIDENTS:]],
        incidents_of_other_vms=len(groups) - len(kept),
        incidents_older=max(0, len(kept) - MAX_INCIDENTS),
    )
