"""The fleet's shortcuts give exactly what judging each pair on its own gives.

A fleet run reuses a check's findings for every destination that answers alike what the check
read of it, with each destination's names put in where the check only quoted them
(:class:`lmpreflight.runner.SourcePairs`), and numbers each such problem once. Here every pair
of hosts collected from lab scenarios over the real transport, of a generated fleet, and of
hand-made hosts whose names are the point (a destination named like the source's FQDN, short
names and FQDNs, names no marker may stand for) is judged both ways, also by checks defined
here that do odd things with the destination: the fleet's results must equal
:func:`lmpreflight.runner.evaluate`'s, and each matrix cell must hold exactly the non-passing
results of ``pipeline.check_pair`` for that VM.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest

from lmpreflight import pipeline
from lmpreflight.checks import _helpers
from lmpreflight.escape import ps_literal
from lmpreflight.facts.model import HostFacts, Identity
from lmpreflight.fleet.collect import collect_inventory
from lmpreflight.fleet.inventory import InventoryHost
from lmpreflight.fleet.placement import CODES, VM_PREFIX, Placement, Problem, build_matrix, place
from lmpreflight.lab.environment import Lab
from lmpreflight.lab.scenario import load_scenario
from lmpreflight.recorded import DestinationReads, Recording
from lmpreflight.registry import Registry, load_checks
from lmpreflight.report.model import ResultOut
from lmpreflight.runner import Selection, SourcePairs, evaluate
from lmpreflight.vocabulary import Context, Finding, Remediation, Result, Status, failed, warned
from tests.helpers import healthy_pair, probe_check
from tests.lab_helpers import _collected

SCENARIOS = (
    "broken-upgrade",
    "healthy",
    "delegation-one-way",
    "delegation-resource-based",
    "credssp-started-on-source",
    "processor-vendor-mismatch",
    "vm-version-too-new",
    "switch-missing-on-destination",
    "storage-move-no-space",
    "shared-vhdx",
    "host-unreachable",
    "vm-files-in-share-root",
)
SHOWN = (Status.FAIL, Status.ERROR, Status.WARN)


@pytest.fixture(scope="module")
def scenario_hosts() -> dict[str, HostFacts]:
    """Both hosts of each scenario, under the scenario's name: pairs across scenarios too."""
    hosts: dict[str, HostFacts] = {}
    for name in SCENARIOS:
        source, destination, _ = _collected(load_scenario(name))
        hosts[f"{name}/source"], hosts[f"{name}/destination"] = source, destination
    return hosts


@pytest.fixture(scope="module")
def generated_fleet() -> Iterator[dict[str, HostFacts]]:
    """The demo's generated fleet (12 hosts, 3 VMs each, every kind of problem), collected."""
    scenario = load_scenario("fleet")
    with Lab(scenario) as lab:
        hosts = [InventoryHost(name, lab.fqdn(name)) for name in scenario.hosts]
        yield collect_inventory(hosts, dataclasses.replace(lab.collect_options(False, ()), concurrency=4))


@probe_check("plugin.quotes-names", quotes_destination=True)
def quotes_names(context: Context):  # type: ignore[no-untyped-def]
    """Puts the destination's names everywhere a finding holds text: each must be its own."""
    destination = context.destination
    yield warned(
        f"{destination.name} ({destination.full_name}, named {destination.target}) " + "is " + destination.name,
        "destination",
        fix=Remediation(
            text="On %s: nothing to do" % destination.name,  # noqa: UP031  # a template the name fills  # noqa: UP031  # a template a name may fill
            powershell=f"Get-VMHost -ComputerName {ps_literal(destination.full_name)}",
            run_on=str(destination.name),
        ),
        evidence={"names": [destination.name, (destination.target,)]},
    )


@probe_check("plugin.branches-on-name")
def branches_on_name(context: Context):  # type: ignore[no-untyped-def]
    """Decides by the destination's name, so its findings hold only for that name."""
    name = context.destination.name
    if name.casefold() == context.source.full_name.casefold() or name.startswith("HV0"):
        yield failed(f"{name} is named like the source or like the lab's hosts")
    else:
        yield warned(f"{name} has {len(name)} characters")


@probe_check("plugin.inspects-a-quoted-name", quotes_destination=True)
def inspects_a_quoted_name(context: Context):  # type: ignore[no-untyped-def]
    """Says it only quotes the destination's name but compares it: run for real for each pair."""
    if context.destination.name in {context.source.name, "HV02"}:
        yield failed(f"{context.destination.name} is HV02 or the source")
    else:
        yield warned(f"{context.destination.name} is another host")


@probe_check("plugin.odd-reads", quotes_destination=True)
def odd_reads(context: Context):  # type: ignore[no-untyped-def]
    """Reads the destination by a method, isinstance, iteration, comparison and absent attributes."""
    destination = context.destination
    vm = destination.vm("FILE03")
    switches = [switch.name for switch in destination.switches or []]
    same_processor = destination.processor == context.source.processor
    kinds = isinstance(destination.identity, Identity), getattr(destination, "no_such_fact", "absent")
    counted = len(destination.vms or []), bool(destination.network), destination.os and destination.os.build
    yield warned(
        f"{destination.name}: FILE03 {'is' if vm else 'is not'} there; switches {switches}; same processor "
        f"{same_processor}; {kinds}; {counted}",
        "destination",
    )


@probe_check("plugin.destination-names-and-options")
def destination_names_and_options(context: Context):  # type: ignore[no-untyped-def]
    """Compares each destination's own name, so runs for every pair; of the source it reads only
    its migration protocol and the options: shared across sources that answer alike."""
    target = context.destination.target
    migration = context.source.migration
    said = f"({migration.authentication_type if migration else 'unknown'}; VMs {', '.join(context.vms)})"
    if target.casefold().startswith("hv0"):
        yield failed(f"{target} is named like the lab's hosts {said}")
    else:
        yield warned(f"{target} has {len(target)} characters {said}; storage {context.include_storage}")


PLUGIN_CHECKS = (quotes_names, branches_on_name, inspects_a_quoted_name, odd_reads, destination_names_and_options)


def with_plugins() -> Registry:
    registry = load_checks(include_plugins=False)
    registry.checks.update({plugin.id: plugin for plugin in PLUGIN_CHECKS})
    return registry


def renamed(host: HostFacts, computer_name: str | None, fqdn: str, target: str) -> HostFacts:
    """The host under other names (no identity facts: its name comes from the name it was given)."""
    identity = None if computer_name is None else Identity(computer_name=computer_name, fqdn=fqdn, addresses=[])
    return host.model_copy(update={"identity": identity, "target": target})


@pytest.fixture(scope="module")
def named_hosts() -> dict[str, HostFacts]:
    """Hosts alike but for their names: plain names (shared, each put in), a destination named
    like the source's FQDN, short names and FQDNs, and names no marker may stand for."""
    source, destination = healthy_pair()
    hosts = {"source": source}
    for number in range(3, 7):
        hosts[f"plain{number}"] = renamed(destination, f"HV0{number}", f"hv0{number}.corp.example", f"hv0{number}")
    hosts["like-source-fqdn"] = renamed(destination, "hv01.corp.example", "hv01.corp.example", "hv01.corp.example")
    hosts["short"] = renamed(destination, None, "", "hv07")
    hosts["fqdn"] = renamed(destination, None, "", "hv07.corp.example")
    hosts["address"] = renamed(destination, None, "", "10.0.10.99")
    hosts["quote"] = renamed(destination, "HV'08", "hv'08.corp.example", "hv'08")
    hosts["unicode"] = renamed(destination, "HVÄ09", "hvä09.corp.example", "HVÄ09")
    hosts["spaced"] = renamed(destination, "HV10", "hv10.corp.example", " hv10 ")
    hosts["healthy-destination"] = destination
    return hosts


def same(results: list[Result]) -> list[tuple[str, Finding]]:
    """What two runs must agree on (the runner's own results carry a fresh check object each time)."""
    return [(result.check.id, result.finding) for result in results]


def every_vm(source: HostFacts) -> Selection:
    return Selection(vms=tuple(vm.name for vm in source.vms or []))


@pytest.mark.parametrize("pool", ["scenario_hosts", "generated_fleet", "named_hosts"])
def test_source_pairs_give_what_evaluate_gives(pool: str, request: pytest.FixtureRequest) -> None:
    hosts: dict[str, HostFacts] = request.getfixturevalue(pool)
    registry = with_plugins()
    reads = DestinationReads()
    reused = 0
    for source_name, source in hosts.items():
        for selection in (every_vm(source), Selection(include_storage=True, skip=frozenset({"vm.gpu-partition"}))):
            pairs = SourcePairs(registry, source, selection, reads)
            for destination_name, destination in hosts.items():
                if destination_name == source_name:
                    continue
                expected = same(evaluate(registry, source, destination, selection))
                assert same(pairs.evaluate(destination)) == expected, (source_name, destination_name)
                assert same(pairs.evaluate(destination, SHOWN)) == [r for r in expected if r[1].status in SHOWN]
            reused += sum(leaves > 1 for leaves in pairs._leaves.values()) < len(pairs._trees)
            assert "plugin.inspects-a-quoted-name" in pairs._real
    assert reused  # findings were reused for other destinations, so that was tested


def mismatches(hosts: dict[str, HostFacts]) -> list[tuple[str, str]]:
    """The pairs whose fleet results differ from :func:`evaluate`'s, judged as a fleet does:
    every source against every destination, one ``DestinationReads`` for all of them."""
    registry = with_plugins()
    reads = DestinationReads()
    wrong = []
    for source_name, source in hosts.items():
        for selection in (every_vm(source), Selection(include_storage=True)):
            pairs = SourcePairs(registry, source, selection, reads)
            for destination_name, destination in hosts.items():
                if destination_name != source_name:
                    expected = same(evaluate(registry, source, destination, selection))
                    if same(pairs.evaluate(destination, SHOWN)) != [r for r in expected if r[1].status in SHOWN]:
                        wrong.append((source_name, destination_name))
    assert reads.source_hits["plugin.destination-names-and-options"]  # shared across sources, so that was tested
    assert "plugin.destination-names-and-options" not in reads.per_source
    return wrong


def test_a_check_run_for_every_pair_is_shared_across_sources_that_answer_alike(
    named_hosts: dict[str, HostFacts],
) -> None:
    assert mismatches(named_hosts) == []


def test_sharing_across_sources_that_ignored_the_options_would_be_caught(
    named_hosts: dict[str, HostFacts], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The comparison above can fail: with the options read but not recorded, a source that
    selected other VMs gets another source's findings, and the pairs differ."""
    monkeypatch.setattr(Recording, "option", lambda recording, name, value: value)
    assert mismatches(named_hosts)


def test_own_findings_kept_by_the_work_alone_would_be_caught(
    named_hosts: dict[str, HostFacts], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The checks' findings about one host alone are kept per host, work and arguments
    (:func:`lmpreflight.checks._helpers.own_view`); kept by the work alone, without the role it
    was asked for, a host's findings as a destination would answer for it as a source, and the
    pairs would differ."""
    keep = _helpers.own_view
    first_asked: dict[tuple[int, object], tuple[object, ...]] = {}

    def by_the_work_alone(host: HostFacts, work: Callable[..., object], *args: object) -> object:
        """``own_view`` with the arguments a host was first asked for with this work (the
        recording stand-in still through the work with its own)."""
        if type(host) is not HostFacts:
            return work(host, *args)
        return keep(host, work, *first_asked.setdefault((id(host), work), args))

    monkeypatch.setattr(_helpers, "own_view", by_the_work_alone)
    assert mismatches(named_hosts)


def test_quoted_names_are_shared_and_put_in_per_destination(named_hosts: dict[str, HostFacts]) -> None:
    """The plain-named destinations share one run of a quoting check; the others do not."""
    source = named_hosts["source"]
    registry = with_plugins()
    pairs = SourcePairs(registry, source, every_vm(source))
    shown = {}
    for name, destination in named_hosts.items():
        if name != "source":
            shown[name] = [r.finding for r in pairs.evaluate(destination) if r.check.id == "plugin.quotes-names"]
    assert pairs._leaves["plugin.quotes-names"] < len(shown)
    assert "plugin.quotes-names" not in pairs._real  # full_name reached the check as a marker
    assert shown["plain3"][0].message == "HV03 (hv03.corp.example, named hv03) is HV03"
    for name in ("short", "fqdn", "address"):  # no identity facts: the account's DNS name
        assert f"({named_hosts[name].full_name}, named {named_hosts[name].target})" in shown[name][0].message
    assert shown["plain4"][0].remediation == Remediation(
        "On HV04: nothing to do", "Get-VMHost -ComputerName 'hv04.corp.example'", "HV04"
    )
    assert shown["plain5"][0].evidence == {"names": ["HV05", ("hv05",)]}
    assert shown["quote"][0].remediation.powershell == "Get-VMHost -ComputerName 'hv''08.corp.example'"  # type: ignore[union-attr]


def expected_cell(results: list[ResultOut], vm: str) -> list[tuple[str, Status, str]]:
    mine = f"{VM_PREFIX}{vm}".casefold()
    return [
        (r.check_id, r.status, r.message)
        for r in results
        if r.status in SHOWN and (not r.subject.startswith(VM_PREFIX) or r.subject.casefold() == mine)
    ]


def test_matrix_cells_hold_what_check_pair_reports(generated_fleet: dict[str, HostFacts]) -> None:
    hosts = generated_fleet
    registry = load_checks(include_plugins=False)
    names = list(hosts)
    matrix = build_matrix(registry, hosts, names, names, Selection())
    rows = {(row.source, row.vm): row for row in matrix.rows}
    cells = 0
    for source_name, source in hosts.items():
        for index, destination_name in enumerate(names):
            if destination_name == source_name or not source.vms:
                continue
            report = pipeline.check_pair(source, hosts[destination_name], every_vm(source), registry=registry)
            for vm in source.vms:
                row = rows[(source_name, vm.name)]
                ids = matrix.cell_problems(row, index)
                got = [
                    (matrix.problems[i].check_id, matrix.problems[i].status, matrix.problems[i].message) for i in ids
                ]
                expected = expected_cell(report.results, vm.name)
                assert sorted(got) == sorted(expected), (source_name, vm.name, destination_name)
                reference = [
                    Problem(
                        r.check_id,
                        "",
                        r.status,
                        r.subject,
                        None,
                        r.message,
                        None,
                        None,
                        None,
                        automated=r.fix_step is not None and r.fix_step.change is not None,
                    )
                    for r in report.results
                    if (r.check_id, r.status, r.message) in expected
                ]
                assert row.placements[index] == CODES[place(reference, matrix.strict)]
                cells += 1
    assert cells == sum(len(row.placements) - row.placements.count("-") for row in matrix.rows)
    assert all(matrix.count(p) for p in Placement)  # every kind of cell was compared
