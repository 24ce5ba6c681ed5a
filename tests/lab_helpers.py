"""Running the real collection path against the lab, for tests."""

from __future__ import annotations

import dataclasses
import functools
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from lmpreflight import pipeline
from lmpreflight.collect.parallel import CollectOptions
from lmpreflight.facts.model import HostFacts
from lmpreflight.lab.environment import Lab, LabTuning
from lmpreflight.lab.scenario import Scenario, builtin_names, load_scenario
from lmpreflight.registry import load_checks
from lmpreflight.report.model import Report
from lmpreflight.runner import Selection, evaluate
from lmpreflight.vocabulary import Result
from tests.helpers import invoke

LAB_PAIR = ("hv01.corp.example", "hv02.corp.example")
"""SOURCE and DESTINATION as typed for the two-host scenarios whose source is HV01 and destination HV02."""


def options_for(lab: Lab, scenario: Scenario, **changes: Any) -> CollectOptions:
    options = lab.collect_options(scenario.include_storage, tuple(scenario.vms))
    return dataclasses.replace(options, timeout=5, **changes)


def pywinrm_session(lab: Lab, scenario: Scenario, host: str = "HV01") -> Any:
    """pywinrm's own Session against a lab host, as a plain pywinrm script would open it (NTLM,
    no proxy): for what pywinrm does, not what lmpreflight's transport does."""
    import winrm

    return winrm.Session(
        lab.endpoints.winrm[host],
        auth=(scenario.client.user, scenario.client.password),
        transport="ntlm",
        proxy=None,
        ca_trust_path=None,
    )


def collect_pair(lab: Lab, scenario: Scenario, **changes: Any) -> tuple[HostFacts, HostFacts]:
    return pipeline.collect_pair(
        lab.fqdn(scenario.role("source")), lab.fqdn(scenario.role("destination")), options_for(lab, scenario, **changes)
    )


@functools.cache
def _collected_builtin(name: str) -> tuple[HostFacts, HostFacts, Lab]:
    """A built-in scenario collected once per test run: its facts and the stopped lab (for its counters)."""
    scenario = load_scenario(name)
    with Lab(scenario) as lab:
        source, destination = collect_pair(lab, scenario)
    return source, destination, lab


def _collected(scenario: Scenario, tuning: LabTuning | None = None, **changes: Any) -> tuple[HostFacts, HostFacts, Lab]:
    """The scenario's facts over the real transport; an unchanged built-in scenario is collected only once."""
    if tuning is None and not changes and scenario.name in builtin_names() and scenario == load_scenario(scenario.name):
        return _collected_builtin(scenario.name)
    with Lab(scenario, tuning) as lab:
        source, destination = collect_pair(lab, scenario, **changes)
    return source, destination, lab


def check_scenario(scenario: Scenario, tuning: LabTuning | None = None, **changes: Any) -> tuple[list[Result], Lab]:
    source, destination, lab = _collected(scenario, tuning, **changes)
    results = evaluate(
        load_checks(include_plugins=False),
        source,
        destination,
        selection_for(scenario),
    )
    return results, lab


def selection_for(scenario: Scenario) -> Selection:
    """What `lmpreflight demo SCENARIO` selects: the scenario's VMs and move options."""
    return Selection(
        vms=tuple(scenario.vms),
        include_storage=scenario.include_storage,
        move_from=scenario.move_from,
        storage_path=scenario.storage_path,
    )


def non_passing(results: list[Result]) -> set[str]:
    return {r.check.id for r in results if r.status.value in ("warn", "fail", "error")}


def scenario_report(scenario: Scenario) -> Report:
    """The full report of a `check` of the scenario over the real transport."""
    source, destination, _ = _collected(scenario)
    return pipeline.check_pair(
        source, destination, selection_for(scenario), registry=load_checks(include_plugins=False), command="check"
    )


def cli_connection_args(lab: Lab, scenario: Scenario, password_variable: str) -> list[str]:
    """The connection options that point the real CLI at a running lab, without progress display."""
    assert lab.scenario is scenario
    return [*lab.connection_arguments(password_variable), "-q"]


@contextmanager
def lab_run_printed(scenario: str, command: str) -> Iterator[tuple[list[str], dict[str, str]]]:
    """Start 'lmpreflight lab run SCENARIO' and yield the options of the ``command`` line it
    prints, with the environment that holds the password it exports; the lab stops after."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "lmpreflight", "lab", "run", scenario],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = []
        assert process.stdout is not None
        while True:
            line = process.stdout.readline()
            lines.append(line)
            if len(lines) > 1 and lines[-2].strip().startswith("export "):
                break  # the command follows the line exporting the password
            assert line, "".join(lines) + (process.stderr.read() if process.stderr else "")
        export = next(text for text in lines if text.strip().startswith("export"))
        password = shlex.split(export)[1].split("=", 1)[1]
        words = shlex.split(line)
        assert Path(words[0]).is_absolute(), f"the printed command works from any folder: {line}"
        yield words[words.index(command) + 1 :], {**env, "LMPREFLIGHT_LAB_PASSWORD": password}
    finally:
        process.terminate()
        process.wait(10)


def invoke_on_lab(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, lab: Lab, scenario: Scenario, *args: str
) -> tuple[int, str, str]:
    """Run the real CLI in-process against a running lab: its password in the environment, its connection options
    after ``args``."""
    monkeypatch.setenv("LAB_PW", scenario.client.password)
    return invoke(capsys, monkeypatch, *args, *cli_connection_args(lab, scenario, "LAB_PW"))


def comparable(facts: HostFacts) -> dict[str, object]:
    """A host's facts without what differs between two reads by nature: the clocks."""
    data = facts.model_dump(mode="json", exclude={"collected_at"})
    if data.get("clock"):
        data["clock"] = None
    if data.get("directory"):
        data["directory"] |= {"dc_utc": None, "observer_utc": None}
    return data
