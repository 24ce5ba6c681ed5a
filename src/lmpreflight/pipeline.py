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

import socket
from collections.abc import Sequence

from lmpreflight.collect.directory import DirectorySessions
from lmpreflight.collect.parallel import CollectOptions, CredentialGate, Progress, collect_hosts
from lmpreflight.errors import UserError
from lmpreflight.explain.incidents import find_incidents
from lmpreflight.explain.model import Incident
from lmpreflight.explain.names import host_name
from lmpreflight.facts.model import HostFacts
from lmpreflight.registry import Registry, load_checks
from lmpreflight.report.build import RunInfo, build_report
from lmpreflight.report.model import Report
from lmpreflight.report.waivers import Waiver
from lmpreflight.runner import Selection, evaluate, vm_readiness


def _silent(host: str, stage: str) -> None:
    """No progress display."""


def collect_host(
    target: str,
    options: CollectOptions,
    progress: Progress | None = None,
    gate: CredentialGate | None = None,
    directory: DirectorySessions | None = None,
) -> HostFacts:
    """One host's facts over WinRM, LDAP and DNS; what could not be read is recorded in ``errors``.
    ``gate`` and ``directory``: the password's fate and the LDAP connections shared with other
    hosts collected one by one (``plan``)."""
    (facts,) = collect_hosts([target], options, progress or _silent, gate=gate, directory=directory)
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
    incidents: list[Incident] | None = None,
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
        auth = source.migration.authentication_type if source.migration else None
        incidents = find_incidents(
            {source.name: source.events or [], destination.name: destination.events or []},
            results,
            auth,
            (host_name(source), host_name(destination)),
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
