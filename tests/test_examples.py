"""The example fact files are what 'lmpreflight lab facts' collects from the lab scenarios
named in scripts/regenerate-examples: the lab is the one definition of those hosts."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from lmpreflight.facts import load_host_facts
from lmpreflight.lab.fact_files import PINNED_AT, PINNED_RUN_FROM, pinned
from lmpreflight.lab.scenario import load_scenario
from tests.helpers import EXAMPLES, REPO, invoke

SCRIPT = REPO / "scripts" / "regenerate-examples"


def generated_examples() -> list[tuple[str, str]]:
    """(scenario, folder under examples/facts) for each line of the script."""
    return re.findall(r"lab facts (\S+) --out examples/facts/(\S+) ", SCRIPT.read_text())


def test_every_example_folder_is_written_by_the_script() -> None:
    folders = sorted(folder for _, folder in generated_examples())
    assert folders == sorted(path.name for path in EXAMPLES.iterdir() if path.is_dir())


@pytest.mark.parametrize(("scenario", "folder"), generated_examples())
def test_examples_are_what_the_lab_scenario_gives(
    scenario: str, folder: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = invoke(capsys, monkeypatch, "lab", "facts", scenario, "--out", str(tmp_path), "-q")
    assert code == 0, err
    for role in ("source", "destination"):
        same = (tmp_path / f"{role}.json").read_text() == (EXAMPLES / folder / f"{role}.json").read_text()
        assert same, (
            f"examples/facts/{folder}/{role}.json is not what lab scenario '{scenario}' gives: run scripts/regenerate-examples"
        )


def test_pinned_facts_keep_the_scenarios_clock_offsets() -> None:
    """Pinning fixes the moments but keeps what the clock checks judge: each clock's offset."""
    scenario = load_scenario("clock-skew")
    facts = load_host_facts(EXAMPLES / "healthy" / "source.json")
    for name, host in scenario.hosts.items():
        stable = pinned(facts, scenario, name)
        assert stable.collected_at == PINNED_AT and stable.collector.run_from == PINNED_RUN_FROM
        assert stable.clock is not None and stable.clock.observer_utc == PINNED_AT
        assert stable.clock.host_utc - PINNED_AT == timedelta(seconds=host.clock_offset)
    skewed = [host.clock_offset for host in scenario.hosts.values()]
    assert any(offset != 0 for offset in skewed), "clock-skew no longer skews a host clock; pick another scenario"


def test_pinned_facts_drop_the_labs_loopback_ports() -> None:
    facts = load_host_facts(EXAMPLES / "healthy" / "source.json")
    assert facts.dns is not None
    lab_port = facts.dns.model_copy(
        update={"server": "127.0.0.1:45602", "dc_srv": [t.model_copy(update={"port": 38459}) for t in facts.dns.dc_srv]}
    )
    stable = pinned(facts.model_copy(update={"dns": lab_port}), load_scenario("healthy"), "HV01")
    assert stable.dns is not None
    assert stable.dns.server == "127.0.0.1" and {t.port for t in stable.dns.dc_srv} == {389}


def test_lab_facts_refuses_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch) -> None:
    code, out, err = invoke(capsys, monkeypatch, "lab", "facts", "healthy", "--out", str(tmp_path / "nowhere"))
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [f"lmpreflight: error: --out {tmp_path / 'nowhere'}: not a folder"]


def test_lab_facts_refuses_a_vm_the_source_lacks_before_the_lab_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = invoke(capsys, monkeypatch, "lab", "facts", "healthy", "--out", str(tmp_path), "--vm", "NOPE")
    assert code == 2 and out == ""
    [line] = err.strip().splitlines()
    assert line.startswith("lmpreflight: error: --vm NOPE: not a VM of HV01 in scenario 'healthy' (it has: ")
    assert "SQL01" in line
    assert list(tmp_path.iterdir()) == []


def test_lab_facts_with_a_vm_gathers_hyperv_verdicts_on_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = invoke(capsys, monkeypatch, "lab", "facts", "healthy", "--out", str(tmp_path), "--vm", "SQL01", "-q")
    assert code == 0, err
    source = load_host_facts(tmp_path / "source.json")
    destination = load_host_facts(tmp_path / "destination.json")
    assert [r.vm for r in source.rehearsal or []] == ["SQL01"]
    assert [(c.vm, c.compatible) for c in destination.compatibility or []] == [("SQL01", True)]
