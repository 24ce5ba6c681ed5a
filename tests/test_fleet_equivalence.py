"""The fleet's shortcuts give exactly what judging each pair on its own gives.

A fleet run concludes once per source what a check found without looking at the destination
(:class:`lmpreflight.runner.SourcePairs`) and numbers each such problem once. Here every pair of
hosts collected from lab scenarios over the real transport, and of a generated fleet, is judged
both ways: the fleet's results must equal :func:`lmpreflight.runner.evaluate`'s, and each matrix
cell must hold exactly the non-passing results of ``pipeline.check_pair`` for that VM.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from lmpreflight import pipeline
from lmpreflight.facts.model import HostFacts
from lmpreflight.fleet.collect import collect_inventory
from lmpreflight.fleet.inventory import InventoryHost
from lmpreflight.fleet.placement import CODES, VM_PREFIX, Placement, Problem, build_matrix, place
from lmpreflight.lab.environment import Lab
from lmpreflight.lab.scenario import load_scenario
from lmpreflight.registry import load_checks
from lmpreflight.report.model import ResultOut
from lmpreflight.runner import Selection, SourcePairs, evaluate
from lmpreflight.vocabulary import Finding, Result, Status
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


def same(results: list[Result]) -> list[tuple[str, Finding]]:
    """What two runs must agree on (the runner's own results carry a fresh check object each time)."""
    return [(result.check.id, result.finding) for result in results]


def every_vm(source: HostFacts) -> Selection:
    return Selection(vms=tuple(vm.name for vm in source.vms or []))


@pytest.mark.parametrize("pool", ["scenario_hosts", "generated_fleet"])
def test_source_pairs_give_what_evaluate_gives(pool: str, request: pytest.FixtureRequest) -> None:
    hosts: dict[str, HostFacts] = request.getfixturevalue(pool)
    registry = load_checks(include_plugins=False)
    kept = 0
    for source_name, source in hosts.items():
        for selection in (every_vm(source), Selection(include_storage=True, skip=frozenset({"vm.gpu-partition"}))):
            pairs = SourcePairs(registry, source, selection)
            for destination_name, destination in hosts.items():
                if destination_name == source_name:
                    continue
                expected = same(evaluate(registry, source, destination, selection))
                assert same(pairs.evaluate(destination)) == expected, (source_name, destination_name)
                assert same(pairs.evaluate(destination, SHOWN)) == [r for r in expected if r[1].status in SHOWN]
            kept += len(pairs._trees)
    assert kept  # the shortcut was taken, so it was tested


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
