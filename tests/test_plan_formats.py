"""The plan's JSON and JUnit files: every cell as the matrix placed it, each problem's text once."""

from __future__ import annotations

import itertools
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lmpreflight.fileio import write_atomic
from lmpreflight.fleet.document import PlanInfo, plan_json_chunks
from lmpreflight.fleet.junit import HOSTS_CLASS, plan_junit_chunks
from lmpreflight.fleet.placement import Placement, PlacementMatrix, build_matrix
from lmpreflight.registry import load_checks
from lmpreflight.runner import Selection
from lmpreflight.vocabulary import Status
from tests.helpers import REPO
from tests.test_fleet_placement import fleet

INFO = PlanInfo(command="plan", run_from="admin-pc", generated_at=datetime(2026, 1, 1, tzinfo=UTC))
SCHEMA = json.loads((REPO / "schemas" / "plan.schema.json").read_text())
SCHEMA_V1 = json.loads((REPO / "schemas" / "plan.v1.schema.json").read_text())
FIELDS = {Placement.READY: "ready", Placement.AFTER_FIXES: "after_fixes", Placement.BLOCKED: "blocked"}
FIELDS[Placement.UNKNOWN] = "unknown"


def all_pairs(strict: bool = False, vm_name: str | None = None) -> PlacementMatrix:
    """Every host of the five-host fleet as source and destination: several sources, host,
    pair and VM problems, every placement. ``vm_name``: HV01's first VM is called so."""

    def rename(hosts: dict[str, Any]) -> None:
        hosts["hv01"]["vms"][0]["name"] = vm_name

    facts = fleet({"rename": rename} if vm_name else None)
    names = list(facts)
    return build_matrix(load_checks(include_plugins=False), facts, names, names, Selection(), strict)


@pytest.fixture(scope="module")
def matrix() -> PlacementMatrix:
    return all_pairs()


def json_document(matrix: PlacementMatrix) -> dict[str, Any]:
    document: dict[str, Any] = json.loads("".join(plan_json_chunks(matrix, INFO)))
    jsonschema.Draft202012Validator(SCHEMA).validate(document)
    return document


def test_the_json_cells_are_the_matrix_cells(matrix: PlacementMatrix) -> None:
    """A cell's placement and problems are read back exactly: its destination in one of its
    VM's lists; its problems, its pair's and its VM's own there, with each problem's words."""
    document = json_document(matrix)
    assert document["schema_version"] == 2
    shared = {entry["source"]: entry["problems"] for entry in document["pairs"]}
    problems, remedies, checks = document["problems"], document["remedies"], document["checks"]
    assert len(document["vms"]) == len(matrix.rows) and {
        c.placement for r in matrix.rows for c in matrix.cells(r)
    } == set(Placement)
    for row, vm in zip(matrix.rows, document["vms"], strict=True):
        assert (vm["source"], vm["vm"]) == (row.source, row.vm)
        for cell in matrix.cells(row):
            assert [f for f in FIELDS.values() if cell.destination in vm[f]] == [FIELDS[cell.placement]]
            ids = shared.get(row.source, {}).get(cell.destination, []) + vm["problems"].get(cell.destination, [])
            assert len(ids) == len(set(ids))  # the pair's and the VM's are apart
            assert sorted(ids) == sorted(cell.problems)
            for index in ids:
                problem, out = matrix.problems[index], problems[index]
                remedy = remedies[out["remedy"]] if out["remedy"] is not None else {}
                assert (out["check_id"], out["status"], out["subject"], out["host"], out["message"]) == (
                    problem.check_id,
                    problem.status.value,
                    problem.subject,
                    problem.host,
                    problem.message,
                )
                assert checks[problem.check_id]["title"] == problem.title
                assert (remedy.get("fix"), remedy.get("powershell"), remedy.get("run_on")) == (
                    problem.fix,
                    problem.powershell,
                    problem.run_on,
                )
                assert remedy.get("automated", False) == problem.automated


def test_the_json_writes_each_problem_remedy_and_title_once(matrix: PlacementMatrix) -> None:
    document = json_document(matrix)
    text = "".join(plan_json_chunks(matrix, INFO))
    assert len(document["problems"]) == len(matrix.problems)
    assert len({json.dumps(r, sort_keys=True) for r in document["remedies"]}) == len(document["remedies"])
    for check_id, check in document["checks"].items():
        assert text.count(json.dumps(check["title"])) == 1, check_id
    remedies = Counter((p.fix, p.powershell, p.run_on, p.automated) for p in matrix.problems if p.fix)
    assert max(remedies.values()) > 1  # the fleet has fixes several problems share
    for fix, powershell, run_on, automated in remedies:
        written = {"fix": fix, "powershell": powershell, "run_on": run_on, "automated": automated}
        assert text.count(json.dumps(written, ensure_ascii=False)) == 1


def test_the_json_is_written_a_problem_and_a_vm_at_a_time(matrix: PlacementMatrix) -> None:
    pieces = list(plan_json_chunks(matrix, INFO))
    assert len(pieces) >= len(matrix.problems) + len(matrix.rows)
    assert all(piece.count('"check_id"') <= 1 and piece.count('"vm"') <= 1 for piece in pieces)


def test_a_version_1_plan_still_validates_against_its_schema() -> None:
    """Version 1 documents keep their frozen schema; the current schema says they are not version 2."""
    old = json.loads((REPO / "tests" / "data" / "plan" / "plan-v1.json").read_text())
    jsonschema.Draft202012Validator(SCHEMA_V1).validate(old)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(SCHEMA).validate(old)


def junit(matrix: PlacementMatrix) -> tuple[str, ET.Element]:
    text = "".join(plan_junit_chunks(matrix, INFO))
    return text, ET.fromstring(text)


def outcome(case: ET.Element) -> ET.Element | None:
    return case.find("failure") if case.find("failure") is not None else case.find("error")


def test_junit_has_a_testcase_per_cell_and_per_host_with_consistent_counts(matrix: PlacementMatrix) -> None:
    _, root = junit(matrix)
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["hosts", *dict.fromkeys(r.source for r in matrix.rows)]
    cells = {(r.source, r.vm, c.destination): c.placement for r in matrix.rows for c in matrix.cells(r)}
    found = {}
    for suite in suites[1:]:
        for case in suite.findall("testcase"):
            source, vm = case.get("classname", "").removeprefix("lmpreflight.plan.").split(".", 1)
            found[(source, vm, case.get("name", "").removeprefix("to "))] = case
    assert found.keys() == cells.keys()
    for key, case in found.items():
        element = {Placement.READY: None, Placement.UNKNOWN: "error"}.get(cells[key], "failure")
        assert (outcome(case).tag if outcome(case) is not None else None) == element
        if cells[key] == Placement.READY:
            assert len(case) == 0  # a ready testcase carries no text
    hosts = suites[0].findall("testcase")
    assert [c.get("name") for c in hosts] == [h.name for h in matrix.hosts]
    for attribute, tag in (("failures", "failure"), ("errors", "error")):
        per_suite = [int(s.get(attribute, "")) for s in suites]
        assert per_suite == [len(s.findall(f"testcase/{tag}")) for s in suites]
        assert int(root.get(attribute, "")) == sum(per_suite)
    assert int(root.get("tests", "")) == len(cells) + len(matrix.hosts) == sum(int(s.get("tests", "")) for s in suites)


def host_testcase(matrix: PlacementMatrix, computer: str | None) -> str:
    """The run's name of the host a problem is about (its testcase's name)."""
    return next(h for h, ids in matrix.host_problems.items() if any(matrix.problems[i].host == computer for i in ids))


def test_a_failing_testcase_names_its_blockers_and_where_their_full_text_is(matrix: PlacementMatrix) -> None:
    text, root = junit(matrix)
    checked = 0
    for row in matrix.rows:
        for cell in matrix.cells(row):
            if cell.placement == Placement.READY:
                continue
            case = root.find(
                f"testsuite/testcase[@classname='lmpreflight.plan.{row.source}.{row.vm}'][@name='to {cell.destination}']"
            )
            assert case is not None
            result = outcome(case)
            assert result is not None
            blockers = [matrix.problems[i] for i in cell.problems if matrix.problems[i].blocks]
            message = result.get("message", "")
            assert f"{row.vm} to {cell.destination}" in message
            assert all(p.check_id in message for p in blockers)
            lines = (result.text or "").splitlines()
            assert len(lines) == len(blockers)
            for line, problem in zip(lines, blockers, strict=True):
                shown = re.match(r"#(\d+) (\w+) (\S+): (.*) \(details: (.*)\)$", line)
                assert shown is not None, line
                assert shown.group(2, 3, 4) == (problem.status.value.upper(), problem.check_id, problem.message)
                host = host_testcase(matrix, problem.host) if not problem.subject.startswith("vm:") else None
                assert shown.group(5) == (f"hosts/{host}" if host else "testsuite output")
                # the id it names has its full text once, where the line says
                full = f"#{shown.group(1)} {problem.status.value.upper()} {problem.check_id} ("
                assert text.count(full) == 1
                place = root.find(f"testsuite[@name='hosts']/testcase[@name='{host}']") if host else None
                holder = (
                    outcome(place) if place is not None else root.find(f"testsuite[@name='{row.source}']/system-out")
                )
                assert holder is not None and full in (holder.text or "")
                checked += 1
    assert checked


def test_junit_writes_each_problems_fix_once(matrix: PlacementMatrix) -> None:
    """Every problem a testcase or host names has its full text (fix, where, PowerShell) once,
    though a host's blocker concerns every pair with that host."""
    text, _ = junit(matrix)
    listed = {i for ids in matrix.host_problems.values() for i in ids}
    concerned = {i for r in matrix.rows for c in matrix.cells(r) for i in c.problems}
    host_variants = {
        i for i in concerned - listed if matrix.problems[i].host and not matrix.problems[i].subject.startswith("vm:")
    }
    for index, problem in enumerate(matrix.problems):
        if index not in listed | concerned:
            continue
        heading = (
            f"#{index} {problem.status.value.upper()} {problem.check_id} ({problem.subject.removeprefix('vm:')}): "
        )
        assert text.count(heading) == (0 if index in host_variants else 1), heading
    firewall = [p for p in matrix.problems if p.check_id == "network.firewall-rule" and p.blocks]
    assert firewall and all(text.count(f"PowerShell: {p.powershell}") == 1 for p in firewall)
    affected = sum(
        1 for r in matrix.rows for c in matrix.cells(r) if any(matrix.problems[i] in firewall for i in c.problems)
    )
    assert affected > 1


def test_junit_hosts_fail_as_their_blockers_would_fail_a_move(matrix: PlacementMatrix) -> None:
    _, root = junit(matrix)
    hosts = {c.get("name"): c for c in root.findall("testsuite[@name='hosts']/testcase")}
    for host in matrix.hosts:
        problems = [matrix.problems[i] for i in matrix.host_problems.get(host.name, [])]
        result = outcome(hosts[host.name])
        if any(p.blocks for p in problems):
            assert result is not None
            assert all(p.check_id in result.get("message", "") for p in problems if p.blocks)
        else:
            assert result is None
    unreachable = outcome(hosts["hv05"])
    assert (
        unreachable is not None and unreachable.tag == "error" and "collection.host" in unreachable.get("message", "")
    )


def test_junit_names_warnings_only_in_a_strict_run() -> None:
    loose, strict = all_pairs(), all_pairs(strict=True)
    warned = [
        c
        for r in strict.rows
        for c in strict.cells(r)
        if any(strict.problems[i].status == Status.WARN for i in c.problems)
    ]
    assert warned
    _, loose_root = junit(loose)
    _, root = junit(strict)
    cells = "testsuite[@name!='hosts']"
    assert " WARN " not in "".join(e.text or "" for e in loose_root.findall(f"{cells}/testcase/failure"))
    assert " WARN " in "".join(e.text or "" for e in root.findall(f"{cells}/testcase/failure"))


def test_junit_stays_well_formed_whatever_a_vm_is_called() -> None:
    """XML's own characters are escaped, and a right-to-left override (which could make a
    testcase read as another VM's) is shown as an escape."""
    matrix = all_pairs(vm_name='SQL "01" <&> \u202e10LQS')
    text, root = junit(matrix)
    classes = {c.get("classname") for c in root.iter("testcase")}
    assert 'lmpreflight.plan.hv01.SQL "01" <&> \\u202e10LQS' in classes
    assert "\u202e" not in text


def test_junit_is_written_a_host_and_a_source_at_a_time(matrix: PlacementMatrix) -> None:
    """A host's list can hold a problem per pair it is in, a source's testsuite a testcase per
    VM and destination: no piece holds more than one of either."""
    pieces = list(plan_junit_chunks(matrix, INFO))
    sources = list(dict.fromkeys(r.source for r in matrix.rows))
    hosts = len(matrix.hosts)
    assert len(pieces) == 4 + hosts + len(sources)
    assert all(piece.count(HOSTS_CLASS) == 1 for piece in pieces[2 : 2 + hosts])
    for piece, source in zip(pieces[3 + hosts : -1], sources, strict=True):
        classes = set(re.findall(r'classname="lmpreflight\.plan\.([^."]+)\.', piece))
        assert classes == {source}


def test_a_plan_file_that_fails_midway_leaves_the_previous_one(matrix: PlacementMatrix, tmp_path: Path) -> None:
    """Pieces are written as they come, through a temporary file: a failure after the first
    testsuites leaves the last complete file and nothing beside it."""
    path = tmp_path / "plan.xml"
    path.write_text("previous")

    def failing() -> Iterator[str]:
        pieces = plan_junit_chunks(matrix, INFO)
        yield from itertools.islice(pieces, 3)
        raise RuntimeError("the renderer broke")

    with pytest.raises(RuntimeError, match="the renderer broke"):
        write_atomic(path, failing())
    assert path.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["plan.xml"]
