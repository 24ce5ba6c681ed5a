"""The placement matrix: every pair judged by the same checks, each VM × destination placed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from lmpreflight.facts.model import WHOLE_HOST, CollectionError, CollectorInfo, HostFacts
from lmpreflight.fleet.placement import Placement, PlacementMatrix, build_matrix
from lmpreflight.registry import load_checks
from lmpreflight.runner import Selection
from tests.helpers import example_docs

Doc = dict[str, Any]


def renamed(doc: Doc, old: str, new: str) -> Doc:
    """The same host under another name (account, SPNs, DNS) and its own addresses, as a
    second healthy host would be: HV0n at 10.0.10.1n and 10.0.50.1n."""
    text = json.dumps(doc).replace(old.upper(), new.upper()).replace(old.lower(), new.lower())
    for network in ("10.0.10.", "10.0.50."):
        text = text.replace(f'"{network}{old[-2:].lstrip("0")}', f'"{network}1{new[-1]}').replace(
            f"{network}1{old[-1]}", f"{network}1{new[-1]}"
        )
    return dict(json.loads(text))


def fleet(changes: dict[str, Any] | None = None) -> dict[str, HostFacts]:
    """HV01 (source, SQL01 and WEB02) delegating to HV02..HV04; HV03's firewall rule is off,
    HV04 runs AMD processors; HV05 could not be reached."""
    source, destination = example_docs("healthy")
    delegation = source["directory"]["computer"]["allowed_to_delegate_to"]
    for name in ("HV03", "HV04", "HV05"):
        delegation += [f"Microsoft Virtual System Migration Service/{name}", f"cifs/{name}"]
        delegation += [f"Microsoft Virtual System Migration Service/{name.lower()}.corp.example"]
        delegation += [f"cifs/{name.lower()}.corp.example"]
    hosts = {"hv01": source, "hv02": destination}
    hosts["hv03"] = renamed(destination, "HV02", "HV03")
    hosts["hv03"]["network"]["migration_firewall_rule"]["enabled"] = False
    hosts["hv04"] = renamed(destination, "HV02", "HV04")
    hosts["hv04"]["processor"] = {**hosts["hv04"]["processor"], "manufacturer": "AuthenticAMD", "name": "AMD EPYC 7543"}
    hosts["hv04"]["compatibility"] = None
    for change in (changes or {}).values():
        change(hosts)
    facts = {name: HostFacts.model_validate(doc) for name, doc in hosts.items()}
    facts["hv05"] = HostFacts(
        collected_at=datetime.now(UTC),
        collector=CollectorInfo(method="winrm", tool_version="test", run_from="test"),
        target="hv05.corp.example",
        errors=[CollectionError(section=WHOLE_HOST, message="connection refused", hint="is WinRM listening?")],
    )
    return facts


def matrix_for(facts: dict[str, HostFacts], **selection: Any) -> PlacementMatrix:
    strict = selection.pop("strict", False)
    destinations = [name for name in facts if name != "hv01"]
    return build_matrix(
        load_checks(include_plugins=False), facts, ["hv01"], destinations, Selection(**selection), strict
    )


def blockers(matrix: PlacementMatrix, vm: str, destination: str) -> set[str]:
    row = next(r for r in matrix.rows if r.vm == vm)
    cell = next(c for c in matrix.cells(row) if c.destination == destination)
    return {matrix.problems[i].check_id for i in cell.problems if matrix.problems[i].blocks}


def where(matrix: PlacementMatrix, row_index: int, placement: Placement) -> list[str]:
    return matrix.destinations_for(matrix.rows[row_index], placement)


def test_each_vm_placed_on_every_destination() -> None:
    matrix = matrix_for(fleet())
    assert [(row.source, row.vm) for row in matrix.rows] == [("hv01", "SQL01"), ("hv01", "WEB02")]
    for index, row in enumerate(matrix.rows):
        assert row.placements == "rfbu"
        assert where(matrix, index, Placement.READY) == ["hv02"]
        assert where(matrix, index, Placement.AFTER_FIXES) == ["hv03"]
        assert where(matrix, index, Placement.BLOCKED) == ["hv04"]
        assert where(matrix, index, Placement.UNKNOWN) == ["hv05"]
    assert matrix.count(Placement.READY) == 2
    assert blockers(matrix, "SQL01", "hv03") == {"network.firewall-rule"}
    assert blockers(matrix, "WEB02", "hv04") == {"vm.processor-compatibility"}
    assert "collection.host" in blockers(matrix, "SQL01", "hv05")
    assert matrix.pairs == 4
    assert matrix.exit_code == 0  # every VM has somewhere to go now


def test_host_problems_are_listed_once_per_host() -> None:
    matrix = matrix_for(fleet())
    firewall = [i for i, p in enumerate(matrix.problems) if p.check_id == "network.firewall-rule"]
    assert len(firewall) == 1  # one problem, shared by both VMs' cells
    assert firewall[0] in matrix.host_problems["hv03"]
    assert all(matrix.problems[i].host == "HV03" for i in matrix.host_problems["hv03"])
    unreachable = [matrix.problems[i] for i in matrix.host_problems["hv05"]]
    assert [p.check_id for p in unreachable].count("collection.host") == 1
    # A VM's own problem belongs to its cell, not to a host's list.
    assert not any(matrix.problems[i].subject.startswith("vm:") for ids in matrix.host_problems.values() for i in ids)


def test_same_host_is_never_a_pair() -> None:
    facts = fleet()
    facts["HV01-again"] = facts["hv01"]
    matrix = build_matrix(load_checks(include_plugins=False), facts, list(facts), list(facts), Selection())
    for row in matrix.rows:
        destinations = [cell.destination for cell in matrix.cells(row)]
        assert row.source not in destinations
        if row.source in ("hv01", "HV01-again"):
            assert {"hv01", "HV01-again"}.isdisjoint(destinations)
            assert row.placements[0] == row.placements[-1] == "-"
    # Sources with VMs: hv01 (twice, by two names: 4 other hosts each) and hv02..hv04
    # (FILE03: 5 other hosts each); hv05's VMs are unknown.
    assert matrix.pairs == 2 * 4 + 3 * 5


def test_named_vms_only_and_strict() -> None:
    matrix = matrix_for(fleet(), vms=("web02",))
    assert [row.vm for row in matrix.rows] == ["WEB02"]

    # Migrations accepted on any network are warnings; strict makes them block, and one of
    # them (the management network carries migrations) needs a decision: blocked.
    def one_way(hosts: dict[str, Doc]) -> None:
        hosts["hv02"]["migration"]["use_any_network"] = True

    relaxed = matrix_for(fleet({"x": one_way}), vms=("SQL01",))
    strict = matrix_for(fleet({"x": one_way}), vms=("SQL01",), strict=True)
    assert "hv02" in where(relaxed, 0, Placement.READY)
    assert "hv02" in where(strict, 0, Placement.BLOCKED)


def test_exit_codes() -> None:
    def all_amd(hosts: dict[str, Doc]) -> None:
        for name in ("hv02", "hv03"):
            hosts[name]["processor"] = hosts["hv04"]["processor"]
            hosts[name]["compatibility"] = None

    assert matrix_for(fleet({"x": all_amd})).exit_code == 3  # blocked or unknown everywhere; hv05 unknown
    facts = fleet({"x": all_amd})
    del facts["hv05"]
    assert matrix_for(facts).exit_code == 1


@pytest.mark.parametrize("missing", ["hv01"])
def test_unreachable_source_gives_unknown_rows_for_named_vms(missing: str) -> None:
    facts = fleet()
    facts["hv01"] = facts["hv05"]
    matrix = matrix_for(facts, vms=("SQL01",))
    assert [c.placement for c in matrix.cells(matrix.rows[0])] == [Placement.UNKNOWN] * 4
    assert matrix.exit_code == 3


def test_judged_in_worker_processes_the_same_as_in_one() -> None:
    facts = fleet()
    names = list(facts)
    registry = load_checks(include_plugins=False)
    one = build_matrix(registry, facts, names, names, Selection())
    seen: list[str] = []
    many = build_matrix(registry, facts, names, names, Selection(), judged=seen.append, workers=2)
    assert seen == names
    assert many.pairs == one.pairs
    for a, b in zip(one.rows, many.rows, strict=True):
        assert (a.source, a.vm, a.placements) == (b.source, b.vm, b.placements)
        assert [[one.problems[i] for i in c.problems] for c in one.cells(a)] == [
            [many.problems[i] for i in c.problems] for c in many.cells(b)
        ]
    assert {h: [one.problems[i] for i in ids] for h, ids in one.host_problems.items()} == {
        h: [many.problems[i] for i in ids] for h, ids in many.host_problems.items()
    }


def test_the_json_plan_is_written_one_problem_and_one_vm_at_a_time() -> None:
    """A fleet's plan has a hundred thousand problems: the document never holds them in one
    piece, and the pieces join into the same document as the whole."""
    from lmpreflight.fleet.document import PlanInfo, plan_json_chunks

    matrix = matrix_for(fleet())
    info = PlanInfo(command="plan", run_from="admin-pc", generated_at=datetime(2026, 1, 1, tzinfo=UTC))
    pieces = list(plan_json_chunks(matrix, info))
    document = json.loads("".join(pieces))
    assert matrix.problems and len(document["problems"]) == len(matrix.problems)
    assert len(document["vms"]) == len(matrix.rows)
    assert len(pieces) >= len(matrix.problems) + len(matrix.rows)
    assert all(piece.count('"check_id"') <= 1 for piece in pieces)


def test_a_source_with_hundreds_of_vms_is_judged() -> None:
    """What a check reads chains VM after VM: 200 VMs against 30 destinations go deeper than
    Python's stack allowed a recursive walk (plan stopped with RecursionError at about 150)."""

    def crowded(hosts: dict[str, Any]) -> None:
        template = hosts["hv01"]["vms"][0]
        hosts["hv01"]["vms"] = [{**json.loads(json.dumps(template)), "name": f"APP{n:03d}"} for n in range(200)]
        for n in range(6, 32):
            hosts[f"hv{n:02d}"] = renamed(hosts["hv02"], "HV02", f"HV{n:02d}")

    matrix = matrix_for(fleet({"crowded": crowded}))
    assert len(matrix.rows) == 200
    assert {row.placements[:3] + row.placements[-1] for row in matrix.rows} == {"rfbu"}
