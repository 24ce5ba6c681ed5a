"""The pipeline below the command line, used from Python, and the one table of report formats."""

from __future__ import annotations

import dataclasses
from collections import Counter
from pathlib import Path

import pytest

from lmpreflight.commands.analyze import analyze
from lmpreflight.commands.check import check
from lmpreflight.commands.lab import demo
from lmpreflight.facts.model import HostFacts
from lmpreflight.pipeline import VmResults, check_pair
from lmpreflight.registry import load_checks
from lmpreflight.report.formats import FORMATS
from lmpreflight.runner import Selection, evaluate
from lmpreflight.vocabulary import Category, Context, failed, warned
from tests.helpers import EXAMPLES, example_docs, healthy_pair, invoke, probe_check


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


def _broken_pair(auth: str) -> tuple[HostFacts, HostFacts]:
    source, destination = (HostFacts.model_validate(doc) for doc in example_docs("broken"))
    if auth == "Kerberos":
        return source, destination
    with_auth = source.migration.model_copy(update={"authentication_type": auth})  # type: ignore[union-attr]
    return source.model_copy(update={"migration": with_auth}), destination


@pytest.mark.parametrize("auth", ["Kerberos", "CredSSP"])
@pytest.mark.parametrize("selected", [(), ("WEB02",)])
def test_each_vm_is_judged_as_evaluate_judges_it_alone_in_the_same_order(auth: str, selected: tuple[str, ...]) -> None:
    """An explanation shows the fix of the first result of its cause's check, so each VM's
    results must be evaluate's with that VM alone selected, in evaluate's order: host and VM
    problems interleaved by status and severity, and the checks that are not VM checks but
    name the VMs (the Move-VM line of credssp.start-on-source) said for that VM."""
    source, destination = _broken_pair(auth)
    registry = load_checks(include_plugins=False)
    selection = Selection(vms=selected, skip=frozenset({"vm.gpu-partition"}))
    per_vm = VmResults(registry, source, destination, selection, evaluate(registry, source, destination, selection))
    for vm in ("LEGACY01", "SQL01", "WEB02", "LEGACY01"):
        expected = evaluate(registry, source, destination, dataclasses.replace(selection, vms=(vm,)))
        got = per_vm.of(vm)
        assert [(r.check.id, r.finding) for r in got] == [(r.check.id, r.finding) for r in expected], vm
        assert {r.check.category for r in got[: len(got) // 2]} - {Category.VM}, "host and VM results interleave"


def test_only_the_checks_that_read_the_selected_vms_run_again_for_each_vm() -> None:
    runs: Counter[str] = Counter()

    @probe_check("test.host-only")
    def host_only(context: Context):  # type: ignore[no-untyped-def]
        """Reads the hosts alone: what it says holds for every VM."""
        runs["host-only"] += 1
        yield failed(f"{context.source.name} has a host problem")

    @probe_check("test.names-vms")
    def names_vms(context: Context):  # type: ignore[no-untyped-def]
        """Names the selected VMs, as a Move-VM line does: said again for each VM."""
        runs["names-vms"] += 1
        yield warned(f"Move-VM -Name {', '.join(context.vms)}")

    source, destination = _broken_pair("Kerberos")
    registry = load_checks(include_plugins=False)
    registry.checks.update({check.id: check for check in (host_only, names_vms)})
    selection = Selection()
    per_vm = VmResults(registry, source, destination, selection, evaluate(registry, source, destination, selection))
    runs.clear()
    shown = {vm: per_vm.of(vm) for vm in ("SQL01", "WEB02", "LEGACY01")}
    assert runs == {"host-only": 1, "names-vms": 3}
    assert [r.finding.message for r in shown["WEB02"] if r.check.id == "test.names-vms"] == ["Move-VM -Name WEB02"]
