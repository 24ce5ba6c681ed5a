"""The remediation script and the Markdown summary, rendered from the report model."""

from __future__ import annotations

import re

import pytest
import tree_sitter
import tree_sitter_powershell

from lmpreflight.lab.scenario import builtin_names, load_scenario
from lmpreflight.report.build import build_report
from lmpreflight.report.fixscript import render_fix_script
from lmpreflight.report.markdown import render_markdown
from lmpreflight.runner import Selection
from tests.conftest import full_run, healthy_pair
from tests.lab_helpers import scenario_report
from tests.test_reports import FIXED, broken_report

POWERSHELL = tree_sitter.Language(tree_sitter_powershell.language())


def parse_errors(script: str) -> bool:
    return tree_sitter.Parser(POWERSHELL).parse(script.encode("utf-8")).root_node.has_error


def test_golden_fix_script_for_the_broken_example(golden) -> None:  # type: ignore[no-untyped-def]
    script = render_fix_script(broken_report())
    assert not parse_errors(script)
    golden("broken.fix.ps1", re.sub(r"lmpreflight \S+; verdict", "lmpreflight <version>; verdict", script))


def test_the_script_is_safe_by_default_and_stops_on_errors() -> None:
    script = render_fix_script(broken_report())
    assert "[switch]$Apply" in script and "$ErrorActionPreference = 'Stop'" in script
    assert 'if (-not $Apply) { Write-Host "[plan]' in script
    assert "if (-not (& $Needed))" in script, "every step checks its precondition first"
    for part, host in (("Source", "HV01"), ("Destination", "HV03")):
        assert f"if ($Part -eq '{part}') {{\n    Assert-LmpHost '{host}'" in script
    assert "Import-Module ActiveDirectory" in script


def test_steps_are_grouped_by_where_they_run() -> None:
    script = render_fix_script(broken_report())
    source, rest = script.split("# Part Source")[1].split("# Part Destination")
    destination, directory = rest.split("# Part Directory")
    assert "Invoke-LmpStep 'network.firewall-rule'" in destination
    assert "Invoke-LmpStep 'delegation.spns-to-destination'" in directory
    assert "Invoke-LmpStep 'delegation.protocol-transition'" in directory
    assert "# vm.configuration-version:" in source and "Update-VMVersion" in source
    assert "Invoke-LmpStep" not in source, "VM changes need a decision: explained, not automated"


def test_hostile_names_stay_inside_comments_and_literals() -> None:
    def mutate(source, destination):  # type: ignore[no-untyped-def]
        source["vms"][0]["name"] = "evil'\nRemove-Item C:\\ -Recurse #"
        destination["switches"] = []
        destination["session"]["user"] = "CORP\\o'brien"
        destination["session"]["is_administrator"] = destination["session"]["is_hyperv_administrator"] = False

    source, destination = healthy_pair(mutate)
    vms = ("evil'\nRemove-Item C:\\ -Recurse #",)
    report = build_report(full_run(source, destination, vms), source, destination, Selection(vms=vms), FIXED)
    script = render_fix_script(report)
    assert not parse_errors(script)
    assert not any(line.lstrip().startswith("Remove-Item") for line in script.splitlines())
    assert "-Member 'CORP\\o''brien'" in script


@pytest.mark.parametrize("name", builtin_names())
def test_fix_script_for_every_scenario_parses_and_addresses_its_failures(name: str) -> None:
    report = scenario_report(load_scenario(name))
    script = render_fix_script(report)
    assert not parse_errors(script)
    for result in report.results:
        if result.status in ("fail", "warn"):
            assert f"# {result.check_id}: " in script, result.check_id
    markdown = render_markdown(report)
    assert {"ready": "READY", "not-ready": "NOT READY", "incomplete": "INCOMPLETE"}[report.verdict] in markdown


def test_markdown_summary() -> None:
    text = render_markdown(broken_report())
    assert text.startswith("## Live migration preflight: NOT READY\n")
    assert "- **VM configuration version runs on the destination** (`vm.configuration-version`)" in text
    assert "### Warnings" in text
    assert text.endswith("\n") and not text.endswith("\n\n")


def test_every_check_with_a_fix_contributes_its_step_to_the_script() -> None:
    from lmpreflight.registry import load_checks

    checks = load_checks(include_plugins=False).checks
    report = broken_report()
    script = render_fix_script(report)
    automated = [r for r in report.results if r.status in ("fail", "warn") and checks[r.check_id].fix]
    assert automated, "the broken example has automated fixes"
    for result in automated:
        assert result.fix_step is not None, result.check_id
        assert f"# {result.check_id}: " in script
        if result.fix_step.change:
            assert f"Invoke-LmpStep '{result.check_id}'" in script
