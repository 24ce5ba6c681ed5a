"""The pipeline below the command line, used from Python, and the one table of report formats."""

from __future__ import annotations

from pathlib import Path

import pytest

from lmpreflight.commands.analyze import analyze
from lmpreflight.commands.check import check
from lmpreflight.commands.lab import demo
from lmpreflight.pipeline import check_pair
from lmpreflight.registry import load_checks
from lmpreflight.report.formats import FORMATS
from lmpreflight.runner import Selection
from tests.helpers import EXAMPLES, healthy_pair, invoke


def test_a_pair_of_collected_facts_is_checked_from_python_without_the_command_line() -> None:
    source, destination = healthy_pair()
    report = check_pair(source, destination, Selection(vms=("SQL01",)), registry=load_checks(include_plugins=False))
    assert report.verdict == "ready" and report.exit_code == 0
    judged_again = check_pair(destination, source, registry=load_checks(include_plugins=False))
    assert judged_again.hosts[0].name == destination.name, "the same facts judge another pair without collecting"
    assert judged_again.vm_readiness, "without selected VMs, every VM on the source is judged"


def test_every_report_format_is_an_option_of_every_reporting_command() -> None:
    for command in (analyze, check, demo):
        options = {name for parameter in command.params for name in parameter.opts}
        for output in FORMATS:
            assert f"--{output.name}" in options, (command.name, output.name)


def test_every_report_format_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [str(EXAMPLES / "healthy" / "source.json"), str(EXAMPLES / "healthy" / "destination.json")]
    for output in FORMATS:
        files += [f"--{output.name}", str(tmp_path / output.name)]
    code, _, err = invoke(capsys, monkeypatch, "analyze", *files, "--vm", "SQL01")
    assert code == 0, err
    for output in FORMATS:
        assert (tmp_path / output.name).read_text(encoding="utf-8-sig").strip(), output.name
        assert f"wrote {tmp_path / output.name}" in err
