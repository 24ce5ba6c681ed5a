"""What every report leads with and how quiet it is: the "Before the move" steps, per-VM
verdicts, collapsed skips, unwrapped PowerShell, waivers and hosts that were not collected."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from rich.console import Console

from lmpreflight.facts import load_host_facts
from lmpreflight.lab.scenario import load_scenario
from lmpreflight.registry import load_checks
from lmpreflight.report.actions import before_the_move, numbered, vm_verdicts
from lmpreflight.report.build import RunInfo, build_report
from lmpreflight.report.model import Report
from lmpreflight.report.text import render_text
from lmpreflight.report.waivers import Waiver
from lmpreflight.runner import Selection, vm_readiness
from tests.helpers import BROKEN_VMS, EXAMPLES, full_run, invoke, validate_report_json
from tests.lab_helpers import scenario_report

BROKEN = [str(EXAMPLES / "broken" / "source.json"), str(EXAMPLES / "broken" / "destination.json")]
HEALTHY = [str(EXAMPLES / "healthy" / "source.json"), str(EXAMPLES / "healthy" / "destination.json")]
NOW = datetime(2026, 11, 20, 10, 5, tzinfo=UTC)


def broken_report(vms: tuple[str, ...] = BROKEN_VMS, waivers: list[Waiver] | None = None) -> Report:
    source = load_host_facts(EXAMPLES / "broken" / "source.json")
    destination = load_host_facts(EXAMPLES / "broken" / "destination.json")
    results = full_run(source, destination, vms)
    run = RunInfo("analyze", "ADMIN-WS01", generated_at=NOW)
    readiness = None if vms else vm_readiness(load_checks(include_plugins=False), source, destination, Selection())
    return build_report(results, source, destination, Selection(vms=vms), run, readiness=readiness, waivers=waivers)


def terminal(report: Report, width: int = 80, verbose: bool = False) -> str:
    console = Console(width=width, force_terminal=True, color_system=None, record=True)
    render_text(report, console, verbose=verbose)
    return console.export_text()


def test_before_the_move_groups_by_place_in_run_order() -> None:
    groups = before_the_move(broken_report())
    order = ["directory", "source", "destination", "network"]
    places = [g.place for g in groups]
    assert places == sorted(places, key=order.index), "directory first, then the hosts, then the network"
    assert places[0] == "directory"
    assert groups[0].label == "Domain Admin (Active Directory)"
    assert any(g.label == "On HV01 (source)" for g in groups)
    directory = {cid for a in groups[0].actions for cid in a.check_ids}
    assert {"delegation.protocol-transition", "delegation.spns-to-destination"} <= directory


def test_one_command_is_one_step_naming_every_check_behind_it() -> None:
    report = broken_report()
    actions = [a for g in before_the_move(report) for a in g.actions]
    commands = [" ".join(a.powershell.split()) for a in actions if a.powershell]
    assert len(commands) == len(set(commands)), "the same command never appears twice"
    # Make two results share one command: they become one step with both checks.
    with_commands = [r for r in report.results if r.status == "fail" and r.remediation and r.remediation.powershell]
    first, second = with_commands[0], with_commands[-1]
    assert first.remediation is not None
    shared = second.model_copy(update={"remediation": first.remediation, "subject": first.subject, "host": first.host})
    merged = report.model_copy(update={"results": [shared if r is second else r for r in report.results]})
    steps = [a for g in before_the_move(merged) for a in g.actions if a.powershell == first.remediation.powershell]
    assert len(steps) == 1 and {first.check_id, second.check_id} <= set(steps[0].check_ids)


def test_steps_are_numbered_across_groups() -> None:
    steps = numbered(before_the_move(broken_report()))
    assert [number for number, _ in steps] == [str(i) for i in range(1, len(steps) + 1)]


def test_vms_are_never_ready_while_host_checks_block_the_move() -> None:
    verdicts = {v.vm: v for v in vm_verdicts(broken_report(vms=()))}
    assert set(verdicts) == {"SQL01", "LEGACY01", "WEB02"}
    for verdict in verdicts.values():
        assert verdict.state == "blocked"
        assert "delegation.spns-to-destination" in verdict.host_blockers
    assert verdicts["LEGACY01"].summary().startswith("blocked by ")
    assert "host" in verdicts["LEGACY01"].summary()


def test_terminal_never_wraps_powershell_at_80_columns() -> None:
    report = broken_report()
    text = terminal(report)
    commands = {
        line for r in report.results if r.remediation and r.remediation.powershell
        for line in r.remediation.powershell.splitlines()
    }  # fmt: skip
    printed = {line.strip().removeprefix("PS> ") for line in text.splitlines() if line.strip().startswith("PS> ")}
    assert commands and commands <= printed, "every PowerShell line is printed whole, on one line"
    assert any(len(line) > 80 for line in text.splitlines() if "PS> " in line)


def test_terminal_leads_with_the_steps_and_is_quiet_about_passes() -> None:
    text = terminal(broken_report())
    assert text.index("Before the move") < text.index("Findings") < text.index("Verdict:")
    assert "PASS  " in text and "passed," in text and "(-v lists them)" in text
    assert not re.search(r"^PASS  [a-z]+\.", text, re.MULTILINE), "no pass is listed by default"
    verbose = terminal(broken_report(), verbose=True)
    assert re.search(r"^PASS  [a-z]+\.", verbose, re.MULTILINE)


def test_messages_wrap_under_their_own_indent() -> None:
    text = terminal(broken_report(), width=60)
    for line in text.splitlines():
        if line and not line.startswith(("FAIL", "WARN", "INFO", "ERROR", "PASS", "SKIP", " ")):
            assert line.startswith(("lmpreflight", "Before", "Findings", "VMs", "Summary", "Verdict")), line


@pytest.fixture(scope="module")
def unreachable() -> Report:
    return scenario_report(load_scenario("host-unreachable"))


def test_an_uncollected_host_is_one_line_of_skips_naming_the_cause(unreachable: Report) -> None:
    text = terminal(unreachable)
    destination = unreachable.host_by_role("destination")
    assert not destination.collected
    assert f"{destination.name}: not collected" in text
    skip_lines = [line for line in text.splitlines() if line.startswith("SKIP")]
    assert len(skip_lines) == 1 and "not evaluated: nothing could be collected from" in skip_lines[0]
    skipped = sum(1 for r in unreachable.results if r.status == "skip" and r.message.startswith("not evaluated"))
    assert f"SKIP  {skipped} checks" in skip_lines[0]
    assert len([line for line in terminal(unreachable, verbose=True).splitlines() if line.startswith("SKIP")]) > 1


WAIVED = ("network.migration-networks-isolated", "network.not-management")


def _waiver_file(tmp_path: Path, **changes: object) -> Path:
    """Waivers for the two warnings of a destination accepting migrations on any network."""
    waivers = [
        {
            "check": check,
            "subject": "HV02",
            "reason": "Dedicated migration VLAN arrives in Q3",
            "expires": (date.today() + timedelta(days=30)).isoformat(),
            "by": "j.smith",
        }
        | changes
        for check in WAIVED
    ]
    path = tmp_path / "waivers.yaml"
    path.write_text(json.dumps({"waivers": waivers}), encoding="utf-8")
    return path


def _warning_destination(tmp_path: Path) -> str:
    doc = json.loads(Path(HEALTHY[1]).read_text())
    doc["migration"]["use_any_network"] = True
    path = tmp_path / "dest.json"
    path.write_text(json.dumps(doc))
    return str(path)


def test_a_waiver_accepts_the_risk_and_keeps_it_visible(tmp_path: Path, capsys, monkeypatch) -> None:
    destination = _warning_destination(tmp_path)
    assert invoke(capsys, monkeypatch, "analyze", HEALTHY[0], destination, "--strict")[0] == 1
    waivers = _waiver_file(tmp_path)
    report_path, junit, markdown, html = (tmp_path / name for name in ("r.json", "r.xml", "r.md", "r.html"))
    code, out, _ = invoke(
        capsys, monkeypatch, "analyze", HEALTHY[0], destination, "--strict", "--waivers", str(waivers),
        "--json", str(report_path), "--junit", str(junit), "--markdown", str(markdown), "--html", str(html),
    )  # fmt: skip
    assert code == 0, out
    assert "ACCEPTED until" in out and "j.smith" in out and "Dedicated migration VLAN" in out
    document = validate_report_json(report_path.read_text())
    accepted = [r for r in document["results"] if r["accepted"]]
    assert sorted(r["check_id"] for r in accepted) == sorted(WAIVED)
    assert {r["status"] for r in accepted} == {"warn"}, "the results keep their status"
    assert document["summary"]["accepted"] == 2
    assert [w["state"] for w in document["waivers"]] == ["applied", "applied"]
    assert "Before the move" not in out, "an accepted risk is not a step to do"
    assert "accepted by j.smith until" in junit.read_text() and "<failure" not in junit.read_text()
    assert "### Accepted risks" in markdown.read_text() and "j.smith" in markdown.read_text()
    assert html.read_text().count('class="badge accepted"') == 2 and 'id="waivers"' in html.read_text()


def test_an_expired_waiver_stops_counting(tmp_path: Path, capsys, monkeypatch) -> None:
    destination = _warning_destination(tmp_path)
    waivers = _waiver_file(tmp_path, expires=(date.today() - timedelta(days=1)).isoformat())
    code, out, _ = invoke(
        capsys, monkeypatch, "analyze", HEALTHY[0], destination, "--strict", "--waivers", str(waivers)
    )
    assert code == 1
    assert "waiver network.migration-networks-isolated for HV02: expired" in out


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"check": "no.such-check"}, "waivers[0].check: no check has the id 'no.such-check'"),
        ({"expires": "next year"}, "waivers[0].expires"),
        ({"reason": ""}, "waivers[0].reason"),
        ({"colour": "red"}, "waivers[0].colour: unknown field"),
    ],
)
def test_a_bad_waiver_file_is_one_line(
    tmp_path: Path, changes: dict[str, object], says: str, capsys, monkeypatch
) -> None:
    waivers = _waiver_file(tmp_path, **changes)
    code, _, err = invoke(capsys, monkeypatch, "analyze", *HEALTHY, "--waivers", str(waivers))
    assert code == 2 and err.count("\n") == 1 and says in err, err


def test_a_waiver_file_that_is_not_yaml(tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "w.yaml"
    path.write_text("waivers: [unclosed", encoding="utf-8")
    code, _, err = invoke(capsys, monkeypatch, "analyze", *HEALTHY, "--waivers", str(path))
    assert code == 2 and "not valid YAML" in err and err.count("\n") == 1
    code, _, err = invoke(capsys, monkeypatch, "analyze", *HEALTHY, "--waivers", str(tmp_path / "none.yaml"))
    assert code == 2 and "cannot read it" in err


def test_waivers_match_by_host_vm_role_or_star() -> None:
    waiver = Waiver(check="vm.processor-compatibility", subject="web02", reason="r", expires=date(2030, 1, 1), by="b")
    assert waiver.covers("vm.processor-compatibility", "vm:WEB02", "HV01")
    assert not waiver.covers("vm.processor-compatibility", "vm:LEGACY01", "HV01")
    assert waiver.model_copy(update={"subject": "*"}).covers("vm.processor-compatibility", "vm:LEGACY01", None)
    assert waiver.model_copy(update={"subject": "HV01"}).covers("vm.processor-compatibility", "source", "HV01")


def test_the_html_report_says_not_collected_and_collapses_its_skips(unreachable: Report) -> None:
    from lmpreflight.report.html import render_html

    html = render_html(unreachable)
    destination = unreachable.host_by_role("destination").name
    assert f"{destination}: not collected." in html and "NOT COLLECTED" in html
    skipped = sum(1 for r in unreachable.results if r.status == "skip" and r.message.startswith("not evaluated"))
    assert f'<p class="skip-group" data-count="{skipped}">' in html
    picture = html[html.index('id="migration-path"') : html.index("</svg>")]
    assert "PASS" not in picture and "any" not in picture.split("Migration networks")[-1][:20]
    assert "UNKNOWN" in picture, "links to an uncollected host are unknown, never green"


def test_one_rejected_password_is_one_step() -> None:
    report = scenario_report(load_scenario("bad-password"))
    steps = [a for g in before_the_move(report) for a in g.actions]
    assert len(steps) == 1, [a.text for a in steps]
    assert "collection.host" in steps[0].check_ids and "password" in steps[0].text


PLACEHOLDERS = ("'VM'", "<VMName>", "<DestinationHost>", "'SWITCH'", "'NIC'", "SOURCE", "DESTINATION")


def _rehearsed(vms: tuple[str, ...], error: str | None, incompatible: bool) -> Report:
    """The broken pair as a live `check --vm` sees it: Compare-VM ran for each named VM."""
    from lmpreflight.facts.model import Incompatibility, Rehearsal

    source = load_host_facts(EXAMPLES / "broken" / "source.json")
    destination = load_host_facts(EXAMPLES / "broken" / "destination.json")
    found = [Incompatibility(message_id=33012, message="Could not find Ethernet switch.")] if incompatible else []
    source = source.model_copy(
        update={
            "rehearsal": [
                Rehearsal(vm=vm, destination="hv02.corp.example", incompatibilities=found, error=error) for vm in vms
            ]
        }
    )
    results = full_run(source, destination, vms)
    return build_report(
        results, source, destination, Selection(vms=vms), RunInfo("check", "ADMIN-WS01", generated_at=NOW)
    )


@pytest.mark.parametrize(
    ("error", "incompatible"),
    [("No credentials are available in the security package (0x8009030E).", False), (None, True), ("RPC", False)],
)
def test_each_vms_compare_vm_step_names_that_vm_and_the_destination(error: str | None, incompatible: bool) -> None:
    report = _rehearsed(BROKEN_VMS, error, incompatible)
    steps = [a for g in before_the_move(report) for a in g.actions if "vm.hyperv-rehearsal" in a.check_ids]
    assert sorted(a.subjects[0] for a in steps) == sorted(BROKEN_VMS) and all(len(a.subjects) == 1 for a in steps)
    for action in steps:
        (vm,) = action.subjects
        assert action.powershell is not None
        assert f"Compare-VM -Name '{vm}' -DestinationHost 'hv02.corp.example'" in action.powershell


def test_a_generic_fix_names_the_vm_its_finding_is_about() -> None:
    """A check's fallback fix writes the VM as <VMName>; a finding about one VM fills it in."""
    from lmpreflight.vocabulary import Result, failed

    check = load_checks(include_plugins=False).checks["vm.processor-compatibility-mode"]
    assert check.remediation.powershell and "<VMName>" in check.remediation.powershell
    fix = Result(check, failed("x", "vm:O'Brien")).remediation
    assert fix.powershell is not None and "-VMName 'O''Brien'" in fix.powershell and "<VMName>" not in fix.powershell
    assert Result(check, failed("x", "source")).remediation == check.remediation


def test_a_step_still_holding_a_placeholder_is_one_per_subject() -> None:
    """WEB02's and another VM's missing switch need an adapter chosen on the destination: two steps."""
    report = broken_report()
    for action in (a for g in before_the_move(report) for a in g.actions):
        if action.powershell and "<" in action.powershell:
            assert len(action.subjects) == 1, action


@pytest.mark.parametrize("report", [pytest.param(broken_report, id="broken"), pytest.param(None, id="demo")])
def test_no_step_shows_a_placeholder_for_a_name_the_facts_know(report: object) -> None:
    """The demo (a live check of both VMs, Compare-VM included) and the broken example: every step
    names its VMs and hosts; only what no fact says (the destination's adapter for a new switch)
    stays a marked placeholder."""
    built = broken_report() if report is not None else scenario_report(load_scenario("broken-upgrade"))
    for action in (a for g in before_the_move(built) for a in g.actions):
        shown = action.powershell or ""
        assert not any(p in shown for p in PLACEHOLDERS), shown
        assert re.findall(r"<[A-Za-z ]+>", shown) in ([], ["<NetAdapterName>"]), shown


def test_a_missing_switch_is_created_as_the_type_the_source_has() -> None:
    """An internal or private switch needs no adapter; an external one names the destination's
    candidate adapters and keeps the adapter a marked placeholder (no fact says which carries it)."""
    source = load_host_facts(EXAMPLES / "broken" / "source.json")
    destination = load_host_facts(EXAMPLES / "broken" / "destination.json")

    def switch_step(source_facts: object) -> tuple[str, str]:
        results = full_run(source_facts, destination, BROKEN_VMS)  # type: ignore[arg-type]
        report = build_report(results, source_facts, destination, Selection(vms=BROKEN_VMS), RunInfo("analyze", "A"))  # type: ignore[arg-type]
        (step,) = [a for g in before_the_move(report) for a in g.actions if "vm.switches-on-destination" in a.check_ids]
        return step.text, step.powershell or ""

    text, command = switch_step(source)
    assert command == "New-VMSwitch -Name 'External-DMZ' -NetAdapterName <NetAdapterName> -AllowManagementOS $false"
    assert "HV02's adapters other than the management one: 'LiveMigration'" in text
    assert source.switches is not None
    internal = source.model_copy(
        update={
            "switches": [
                s.model_copy(update={"switch_type": "Internal"}) if s.name == "External-DMZ" else s
                for s in source.switches
            ]
        }
    )
    assert switch_step(internal)[1] == "New-VMSwitch -Name 'External-DMZ' -SwitchType Internal"
