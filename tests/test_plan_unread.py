"""'lmpreflight plan' when a source's VMs cannot be read: unknown (exit 3) and said why, never
"nothing to place" with exit 0. Its own lab: a rejected password counts against the account."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from lmpreflight.lab.environment import Lab
from lmpreflight.lab.scenario import load_scenario
from tests.helpers import EXAMPLES, invoke

PASSWORD_VARIABLE = "LMPREFLIGHT_TEST_PASSWORD"


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    with Lab(load_scenario("fleet")) as lab:
        yield lab


def test_a_rejected_password_is_unknown_and_said(lab: Lab, tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setenv(PASSWORD_VARIABLE, "not-the-password")
    json_path, junit_path = tmp_path / "plan.json", tmp_path / "plan.xml"
    drain = ["plan", "hv001.corp.example", "--to", "hv002.corp.example"]
    reports = ["--json", str(json_path), "--junit", str(junit_path)]
    connection = [*lab.connection_arguments(PASSWORD_VARIABLE), "-q"]
    code, out, err = invoke(capsys, monkeypatch, *drain, *reports, *connection)
    assert code == 3, (out, err)
    assert "Sources whose VMs could not be read" in out
    assert "hv001.corp.example: " in out and "rejected the password" in out
    assert "Where the VMs of hv001.corp.example can go is unknown" in out
    assert "No VM to place" not in out
    assert json.loads(json_path.read_text())["exit_code"] == 3
    suites = ET.parse(junit_path).getroot()
    error = suites.find("testsuite[@name='hosts']/testcase[@name='hv001.corp.example']/error")
    assert error is not None and "rejected the password" in (error.text or "")
    assert int(suites.get("errors") or 0) >= 1


def test_hosts_typed_as_addresses_and_never_read_keep_their_addresses(tmp_path: Path, capsys, monkeypatch) -> None:
    """Saved facts of two hosts typed as addresses whose collection failed (no identity): each is
    named by its address, so two hosts of one network are two hosts, not both "10" (the
    first octet, taken for a short name) refused as one host given twice."""
    facts_dir = tmp_path / "facts"
    facts_dir.mkdir()
    for role, address in (("source", "10.0.0.1"), ("destination", "10.0.0.2")):
        data = json.loads((EXAMPLES / "healthy" / f"{role}.json").read_text())
        data.update(target=address, identity=None)
        (facts_dir / f"{address}.json").write_text(json.dumps(data))
    json_path = tmp_path / "plan.json"
    code, _out, err = invoke(
        capsys, monkeypatch, "plan", "--facts-dir", str(facts_dir), "--all-pairs", "--json", str(json_path)
    )
    assert "both describe" not in err and code in (0, 1, 3), err
    hosts = {host["name"] for host in json.loads(json_path.read_text())["hosts"]}
    assert hosts == {"10.0.0.1", "10.0.0.2"}, hosts
