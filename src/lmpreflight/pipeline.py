"""The pipeline below the command line: collect hosts, check a pair, get the report.

The commands, the benchmarks, the tests and Python users all run a check through here; the
click layer only parses options and prints. Collecting and checking are separate on purpose:
collect each host once, then judge as many (source, destination) pairs as needed::

    from lmpreflight.pipeline import check_pair, collect_pair
    source, destination = collect_pair("hv01.corp.example", "hv02.corp.example", options)
    report = check_pair(source, destination, Selection(vms=("SQL01",)))
    print(report.verdict)
"""

from __future__ import annotations

import dataclasses
import shlex
import socket
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from lmpreflight.collect.directory import DirectorySessions
from lmpreflight.collect.parallel import CollectOptions, CredentialGate, Progress, collect_hosts
from lmpreflight.errors import UserError
from lmpreflight.explain.engine import FactsContext
from lmpreflight.explain.incidents import find_incidents
from lmpreflight.explain.model import IncidentsFound
from lmpreflight.facts.model import EventRecord, HostFacts
from lmpreflight.registry import Registry, load_checks
from lmpreflight.report.build import RunInfo, build_report
from lmpreflight.report.model import Report
from lmpreflight.report.waivers import Waiver
from lmpreflight.runner import NotedContext, Selection, evaluate, run_check, sort_results, vm_readiness
from lmpreflight.vocabulary import Check, Context, Finding, Result


def _silent(host: str, stage: str) -> None:
    """No progress display."""


def collect_host(
    target: str,
    options: CollectOptions,
    progress: Progress | None = None,
    gate: CredentialGate | None = None,
    directory: DirectorySessions | None = None,
    cancel: threading.Event | None = None,
) -> HostFacts:
    """One host's facts over WinRM, LDAP and DNS; what could not be read is recorded in ``errors``.
    ``gate`` and ``directory``: the password's fate and the LDAP connections shared with other
    hosts collected one by one (``plan``); ``cancel`` stops it from another thread."""
    (facts,) = collect_hosts([target], options, progress or _silent, gate=gate, directory=directory, cancel=cancel)
    return facts


def collect_pair(
    source: str, destination: str, options: CollectOptions, progress: Progress | None = None
) -> tuple[HostFacts, HostFacts]:
    """Both hosts of a move, collected together: each also tests TCP to the other's migration
    addresses, and the destination judges the source VMs' compatibility."""
    if source.casefold() == destination.casefold():
        raise UserError(f"source and destination are both {source}; name two different hosts")
    source_facts, destination_facts = collect_hosts([source, destination], options, progress or _silent, pair=True)
    return source_facts, destination_facts


def check_pair(
    source: HostFacts,
    destination: HostFacts,
    selection: Selection | None = None,
    *,
    registry: Registry | None = None,
    strict: bool = False,
    events: bool = False,
    incidents: IncidentsFound | None = None,
    waivers: Sequence[Waiver] = (),
    command: str = "python",
) -> Report:
    """Every check on the pair, as the one report every format renders.

    ``events``: also explain the failed moves in the hosts' collected event logs;
    ``incidents`` found elsewhere (exported logs) are reported as given. Without selected VMs,
    every VM on the source is judged by the VM checks alone."""
    registry = registry if registry is not None else load_checks()
    selection = selection or Selection()
    results = evaluate(registry, source, destination, selection)
    if events:
        incidents = explain_failures(
            {source.name: source.events or [], destination.name: destination.events or []},
            source,
            destination,
            registry,
            selection,
            results,
        )
    readiness = None if selection.vms else vm_readiness(registry, source, destination, selection)
    return build_report(
        results,
        source,
        destination,
        selection,
        RunInfo(command=command, run_from=socket.gethostname(), strict=strict),
        incidents,
        readiness,
        list(waivers),
    )


def explain_failures(
    events_by_host: Mapping[str, Iterable[EventRecord]],
    source: HostFacts,
    destination: HostFacts,
    registry: Registry,
    selection: Selection,
    results: list[Result],
) -> IncidentsFound:
    """The failed moves in the events that concern the selected VMs (:func:`concerning`), each
    explained with the checks of the VM it names.

    A failure's cause is as often the VM's (its configuration version, processor, switch,
    storage, devices) as the hosts': a failure that names a VM on the source is judged by that
    VM's checks alone, whether or not --vm named it, so another VM's problem never confirms it.
    One that names no VM is judged by ``results`` (the host checks, and those of the VMs
    selected); each explanation says which."""
    auth = source.migration.authentication_type if source.migration else None
    hosts = (source.full_name, destination.full_name)
    per_vm = VmResults(registry, source, destination, selection, results)
    judged: dict[str, FactsContext] = {}

    def judge(vm_name: str | None) -> FactsContext:
        vm = source.vm(vm_name) if vm_name else None
        if vm is None:
            return FactsContext(results, auth, hosts, (_not_judged(vm_name, source, destination, selection),))
        if vm.name.casefold() not in judged:
            judged[vm.name.casefold()] = FactsContext(per_vm.of(vm.name), auth, hosts, (_judged(vm.name, source),))
        return judged[vm.name.casefold()]

    return find_incidents(events_by_host, judge, concerning(selection.vms))


def concerning(vms: Sequence[str]) -> Callable[[str | None], bool]:
    """Which failed moves, by the VM they name, a move of ``vms`` (--vm) is to hear about: those
    of these VMs, and those that name no VM, which are the host's (an authentication, service or
    network failure stops a move of any VM); every one when no VM is named. Live and exported
    logs alike."""
    wanted = {vm.casefold() for vm in vms}
    return lambda vm: not wanted or vm is None or vm.casefold() in wanted


@dataclass(slots=True)
class VmResults:
    """Each VM's results as :func:`lmpreflight.runner.evaluate` gives them with that VM alone
    selected, without evaluating every check again for each VM a failure names.

    A check is a pure function of its context, and a VM's context differs from the run's only
    in the selected VMs: a check that never reads them says for any VM what it said in
    ``results``. Which checks read them is seen on the first VM (each check run on a context of
    its own that notes the read); for every later VM only those run again. The order is
    evaluate's (worst first, each check's findings in its own order), since the first result
    of a cause's check is the fix an explanation shows."""

    registry: Registry
    source: HostFacts
    destination: HostFacts
    selection: Selection
    results: list[Result]
    """:func:`lmpreflight.runner.evaluate` of the pair and ``selection``."""
    _reading: list[Check] | None = None
    """The checks that read the selected VMs (known after the first VM), in the registry's order."""

    def of(self, vm: str) -> list[Result]:
        alone = dataclasses.replace(self.selection, vms=(vm,))
        if alone.vms == self.selection.vms:
            return self.results
        context = alone.context(self.source, self.destination)
        if self._reading is None:
            checks = [check for check in self.registry.sorted() if check.id not in self.selection.skip]
            found = [(check, *_reading_vms(check, context)) for check in checks]
            own = [(check, findings) for check, findings, vms_read in found if vms_read]
            self._reading = [check for check, _ in own]
        else:
            own = [(check, run_check(check, context)) for check in self._reading]
        again = {check.id for check, _ in own}
        kept = [result for result in self.results if result.check.id not in again]
        return sort_results(kept + [Result(check, finding) for check, findings in own for finding in findings])


def _reading_vms(check: Check, context: Context) -> tuple[list[Finding], bool]:
    """The check's findings, and whether it read the selected VMs to make them: a check that did
    not says for any VM what it said for these (:class:`VmResults`)."""
    read: set[str] = set()
    findings = run_check(check, NotedContext(context, lambda name, value: read.add(name)))
    return findings, "vms" in read


def _judged(vm: str, source: HostFacts) -> str:
    rehearsed = any(r.vm.casefold() == vm.casefold() for r in source.rehearsal or [])
    dry_run = (
        ""
        if rehearsed
        else f"; Hyper-V's own dry run (Compare-VM) is not in these facts: a live diagnose or check with "
        f"--vm {shlex.quote(vm)} runs it"
    )
    return f"{vm}, named in the events, judged by its own VM checks on the hosts' facts{dry_run}"


def _not_judged(vm: str | None, source: HostFacts, destination: HostFacts, selection: Selection) -> str:
    selected = f" and the VM checks of {', '.join(selection.vms)} (--vm)" if selection.vms else " alone"
    if vm is None:
        return f"the events name no VM: judged by the host checks{selected}"
    where = (
        f" (it is on {destination.name}: for a move from there, run diagnose {destination.name} {source.name})"
        if destination.vm(vm) is not None
        else ""
    )
    return f"{vm} is not on {source.name}, so its VM checks were not run{where}; judged by the host checks{selected}"
