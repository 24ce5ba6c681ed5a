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
from tests.helpers import FIXED, broken_report, full_run, healthy_pair
from tests.lab_helpers import scenario_report

POWERSHELL = tree_sitter.Language(tree_sitter_powershell.language())


def parse_errors(script: str) -> bool:
    return tree_sitter.Parser(POWERSHELL).parse(script.encode("utf-8")).root_node.has_error


def test_golden_fix_script_for_the_broken_example(golden) -> None:
    script = render_fix_script(broken_report())
    assert not parse_errors(script)
    golden("broken.fix.ps1", re.sub(r"lmpreflight \S+; verdict", "lmpreflight <version>; verdict", script))


def test_the_script_asks_before_each_change_and_stops_on_errors() -> None:
    script = render_fix_script(broken_report())
    assert "[CmdletBinding(SupportsShouldProcess = $true, ConfirmImpact = 'High')]" in script
    assert "$PSCmdlet.ShouldProcess(" in script and "$ErrorActionPreference = 'Stop'" in script
    assert "[switch]$Apply" not in script, "PowerShell's own -WhatIf and -Confirm, not a custom switch"
    assert "if (-not (& $Needed))" in script, "every step checks its precondition first"
    for part, host in (("Source", "HV01"), ("Destination", "HV02")):
        assert f"if ($Part -eq '{part}') {{\n    Assert-LmpHost '{host}'" in script
    assert "Import-Module ActiveDirectory" in script


def test_the_script_keeps_a_transcript_and_the_values_before_each_change() -> None:
    script = render_fix_script(broken_report())
    assert "Start-Transcript -Path $LmpTranscript -WhatIf:$false -Confirm:$false" in script
    assert script.count("Stop-Transcript") >= 2, "each part and the error trap stop the transcript"
    directory = script.split("# Part Directory")[1].split("# Part Source")[0]
    assert directory.index("Save-LmpBefore 'HV01'") < directory.index("Invoke-LmpStep"), "read before changing"
    assert "'msDS-AllowedToDelegateTo'" in directory and "if (-not $WhatIfPreference) { Write-LmpBefore }" in directory
    destination = script.split("# Part Destination")[1]
    assert destination.index("Save-LmpBefore 'FirewallRule'") < destination.index("Invoke-LmpStep")


def test_parts_run_in_order_directory_first() -> None:
    script = render_fix_script(broken_report())
    assert "1. -Part Directory" in script and "2. -Part Source" in script and "3. -Part Destination" in script
    assert script.index("# Part Directory (1 of 3)") < script.index("# Part Source (2 of 3)")
    assert script.index("# Part Source (2 of 3)") < script.index("# Part Destination (3 of 3)")
    assert "[ValidateSet('Directory', 'Source', 'Destination')]" in script


def test_nothing_to_fix_changes_nothing() -> None:
    source, destination = healthy_pair()
    vms = ("SQL01", "WEB02")
    report = build_report(full_run(source, destination, vms), source, destination, Selection(vms=vms), FIXED)
    script = render_fix_script(report)
    assert not parse_errors(script)
    assert "Write-Host 'lmpreflight: nothing to fix; nothing was changed.'" in script
    code = [line for line in script.splitlines() if line.strip() and not line.startswith("#")]
    assert code == ["Write-Host 'lmpreflight: nothing to fix; nothing was changed.'"], "no part, no change"


def test_steps_are_grouped_by_where_they_run() -> None:
    script = render_fix_script(broken_report())
    directory, rest = script.split("# Part Directory")[1].split("# Part Source")
    source, destination = rest.split("# Part Destination")
    destination, _, network = destination.partition("# For the network team")
    assert "Invoke-LmpStep 'network.firewall-rule'" in destination
    assert "Invoke-LmpStep 'delegation.spns-to-destination'" in directory
    assert "Invoke-LmpStep 'delegation.protocol-transition'" in directory
    assert "# vm.configuration-version:" in source and "Update-VMVersion" in source
    assert "Invoke-LmpStep" not in source, "VM changes need a decision: explained, not automated"
    assert "# network.port-6600: " in destination, "the disabled host rule blocks the port: fixed on the destination"
    assert not network, "nothing here needs the network team"


def test_suggested_commands_stay_one_per_line() -> None:
    script = render_fix_script(broken_report())
    suggested = [line.strip() for line in script.splitlines() if line.strip().startswith("#") and "PS> " in line]
    assert suggested and all(line.count("PS> ") == 1 for line in suggested)


def test_hostile_names_stay_inside_comments_and_literals() -> None:
    """A quote in a name closes nothing: every use is a doubled-quote literal or a comment. (Names with line
    breaks never get this far: they are refused when the facts load.)"""
    hostile = "evil'; Remove-Item C:\\ -Recurse #"

    def mutate(source, destination):
        source["vms"][0]["name"] = hostile
        destination["switches"] = []
        destination["session"]["user"] = "CORP\\o'brien"
        destination["session"]["is_administrator"] = destination["session"]["is_hyperv_administrator"] = False

    source, destination = healthy_pair(mutate)
    vms = (hostile,)
    report = build_report(full_run(source, destination, vms), source, destination, Selection(vms=vms), FIXED)
    script = render_fix_script(report)
    assert not parse_errors(script)
    mentions = [line.lstrip() for line in script.splitlines() if "Remove-Item" in line]
    assert mentions and all(line.startswith("#") or "'evil''; Remove-Item" in line for line in mentions)
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
    assert "### Before the move" in text and "**Domain Admin (Active Directory)**" in text
    assert text.index("**Domain Admin (Active Directory)**") < text.index("**On HV01 (source)**")
    assert "(vm.configuration-version · LEGACY01)" in text and "```powershell\n    Stop-VM -Name 'LEGACY01'" in text
    assert "- LEGACY01: blocked by " in text
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
