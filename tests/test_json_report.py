"""The JSON report carries the "Before the move" steps the other formats open with, and stays
readable by the published schema for documents written before it carried them."""

from __future__ import annotations

import json
import re
from datetime import date

from rich.console import Console

from lmpreflight.report.actions import before_the_move, numbered
from lmpreflight.report.build import build_report
from lmpreflight.report.fixscript import plan_fixes
from lmpreflight.report.json_report import render_json
from lmpreflight.report.model import REPORT_SCHEMA_VERSION
from lmpreflight.report.text import render_text
from lmpreflight.report.waivers import Waiver
from lmpreflight.runner import Selection
from tests.helpers import (
    BROKEN_VMS,
    EXAMPLES,
    FIXED,
    broken_report,
    full_run,
    healthy_pair,
    invoke,
    validate_report_json,
)


def test_json_steps_are_the_steps_every_other_format_shows() -> None:
    report = broken_report()
    document = validate_report_json(render_json(report))
    groups = before_the_move(report)
    assert [(g["place"], g["label"]) for g in document["before_the_move"]] == [(g.place, g.label) for g in groups]
    steps = [action for group in document["before_the_move"] for action in group["actions"]]
    assert [(a["step"], a["text"], a["powershell"], a["status"], a["check_ids"], a["subjects"]) for a in steps] == [
        (int(number), a.text, a.powershell, a.status, a.check_ids, a.subjects) for number, a in numbered(groups)
    ]
    # The numbers are the ones the terminal prints in front of each step.
    console = Console(width=200, force_terminal=True, color_system=None, record=True)
    render_text(report, console)
    printed = re.findall(r"^\s+(\d+)\. ", console.export_text(), flags=re.MULTILINE)
    assert [str(a["step"]) for a in steps] == printed[: len(steps)]


def test_json_steps_of_the_broken_example_in_run_order() -> None:
    document = json.loads(render_json(broken_report()))
    places = [group["place"] for group in document["before_the_move"]]
    assert places[0] == "directory" and places == sorted(
        places, key=["directory", "source", "destination", "network"].index
    )
    firewall = [
        a
        for group in document["before_the_move"]
        for a in group["actions"]
        if "network.firewall-rule" in a["check_ids"]
    ]
    assert (
        len(firewall) == 1 and firewall[0]["status"] == "fail" and "Enable-NetFirewallRule" in firewall[0]["powershell"]
    )


def test_a_ready_pair_has_nothing_before_the_move() -> None:
    source, destination = healthy_pair()
    report = build_report(
        full_run(source, destination, ("SQL01",)), source, destination, Selection(vms=("SQL01",)), FIXED
    )
    document = validate_report_json(render_json(report))
    assert document["verdict"] == "ready" and document["before_the_move"] == []


def test_a_waived_risk_is_not_a_step() -> None:
    source, destination = healthy_pair(lambda s, d: d["migration"].update(use_any_network=True))
    results = full_run(source, destination, ("SQL01",))
    warned = {r.check.id for r in results if r.status.value == "warn"}
    assert warned, "the change gives warnings to waive"
    plain = json.loads(render_json(build_report(results, source, destination, Selection(vms=("SQL01",)), FIXED)))
    assert {cid for g in plain["before_the_move"] for a in g["actions"] for cid in a["check_ids"]} >= warned
    waivers = [
        Waiver(check=check_id, subject="*", reason="accepted", expires=date(2099, 1, 1), by="test")
        for check_id in sorted(warned)
    ]
    waived = build_report(results, source, destination, Selection(vms=("SQL01",)), FIXED, waivers=waivers)
    document = validate_report_json(render_json(waived))
    assert document["before_the_move"] == []
    assert all(r["accepted"] for r in document["results"] if r["status"] == "warn")


def test_the_schema_change_is_additive() -> None:
    """Same schema version: a report written before the steps were added still validates."""
    document = json.loads(render_json(broken_report()))
    assert document["schema_version"] == REPORT_SCHEMA_VERSION == 1
    del document["before_the_move"]
    validate_report_json(json.dumps(document))


def test_analyze_json_on_stdout_and_in_a_file_carry_the_steps(tmp_path, capsys, monkeypatch) -> None:
    broken = [str(EXAMPLES / "broken" / name) for name in ("source.json", "destination.json")]
    vms = [word for vm in BROKEN_VMS for word in ("--vm", vm)]
    code, out, _ = invoke(
        capsys, monkeypatch, "analyze", *broken, *vms, "--format", "json", "--json", str(tmp_path / "r.json")
    )
    assert code == 1
    on_stdout = validate_report_json(out)
    in_file = validate_report_json((tmp_path / "r.json").read_text())
    assert on_stdout["before_the_move"] == in_file["before_the_move"] != []


def test_a_vm_fix_that_runs_on_the_destination_is_listed_there() -> None:
    """The missing switch is created on the destination, though the result is about the VM."""
    document = json.loads(render_json(broken_report()))
    places = {
        cid: group["place"] for group in document["before_the_move"] for a in group["actions"] for cid in a["check_ids"]
    }
    assert places["vm.switches-on-destination"] == "destination"
    assert places["vm.configuration-version"] == "source"
    plan = plan_fixes(broken_report())
    assert "vm.switches-on-destination" in [step.check_id for step in plan.steps["destination"]]
    assert "vm.switches-on-destination" not in [step.check_id for step in plan.steps["source"]]
