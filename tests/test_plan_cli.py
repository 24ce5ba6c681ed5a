"""'lmpreflight plan' as a user runs it, over the real transport against a 12-host lab."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lmpreflight.lab.environment import Lab
from lmpreflight.lab.scenario import load_scenario
from tests.helpers import REPO, invoke
from tests.lab_helpers import lab_run_printed

PASSWORD_VARIABLE = "LMPREFLIGHT_TEST_PASSWORD"
PLAN_SCHEMA = json.loads((REPO / "schemas" / "plan.schema.json").read_text())


@pytest.fixture(scope="module")
def fleet_lab() -> Iterator[Lab]:
    with Lab(load_scenario("fleet")) as lab:
        yield lab


@pytest.fixture
def lab(fleet_lab: Lab, monkeypatch: pytest.MonkeyPatch) -> Lab:
    monkeypatch.setenv(PASSWORD_VARIABLE, fleet_lab.scenario.client.password)
    return fleet_lab


def connection(lab: Lab, with_endpoints: bool = True) -> list[str]:
    words = lab.connection_arguments(PASSWORD_VARIABLE)
    if not with_endpoints:
        cut = words.index("--endpoint")
        words = words[:cut]
    return [*words, "-q"]


def plan_json(path: Path) -> dict[str, Any]:
    document = json.loads(path.read_text())
    jsonschema.Draft202012Validator(PLAN_SCHEMA).validate(document)
    return dict(document)


def placed(document: dict[str, Any], vm: str, field: str) -> list[str]:
    row = next(r for r in document["vms"] if r["vm"] == vm)
    return list(row[field])


def blocking(document: dict[str, Any], vm: str, field: str, destination: str) -> set[str]:
    """The blocking checks of a cell: its pair's problems and its VM's own there."""
    row = next(r for r in document["vms"] if r["vm"] == vm)
    assert destination in row[field]
    shared = next((p["problems"] for p in document["pairs"] if p["source"] == row["source"]), {})
    ids = shared.get(destination, []) + row["problems"].get(destination, [])
    problems = document["problems"]
    return {problems[i]["check_id"] for i in ids if problems[i]["status"] != "warn"}


def test_drain_one_host_to_named_destinations(lab: Lab, tmp_path: Path, capsys, monkeypatch) -> None:
    code, out, err = invoke(
        capsys,
        monkeypatch,
        "plan",
        "hv001.corp.example",
        "--to",
        "hv002.corp.example",
        "--to",
        "hv004.corp.example",
        "--to",
        "hv005.corp.example",
        "--json",
        str(tmp_path / "plan.json"),
        "--junit",
        str(tmp_path / "plan.xml"),
        *connection(lab),
    )
    assert code == 0, err  # every VM can go to HV002 now
    assert "HV001-VM01 on hv001.corp.example" in out
    assert "ready now    hv002.corp.example" in out
    assert "after fixes  hv005.corp.example (network.firewall-rule)" in out
    assert "blocked      hv004.corp.example (vm.processor-compatibility)" in out
    assert "run 'lmpreflight check SOURCE DESTINATION' for the move you choose" in out
    document = plan_json(tmp_path / "plan.json")
    assert document["sources"] == ["hv001.corp.example"]
    assert document["summary"]["pairs"] == 3
    for vm in ("HV001-VM01", "HV001-VM02", "HV001-VM03"):
        assert placed(document, vm, "ready") == ["hv002.corp.example"]
        assert blocking(document, vm, "after_fixes", "hv005.corp.example") == {"network.firewall-rule"}
        assert blocking(document, vm, "blocked", "hv004.corp.example") == {"vm.processor-compatibility"}
    suites = ET.parse(tmp_path / "plan.xml").getroot()
    # 3 VMs x 3 destinations, and the 4 hosts, of which HV005 (firewall rule off) fails
    assert suites.get("tests") == "13" and suites.get("failures") == "7" and suites.get("errors") == "0"
    cases = suites.findall("testsuite[@name='hv001.corp.example']/testcase")
    assert len(cases) == 9
    blocked = [c for c in cases if c.get("name") == "to hv004.corp.example"]
    assert all("vm.processor-compatibility" in (c.find("failure").get("message") or "") for c in blocked)
    hv005 = suites.find("testsuite[@name='hosts']/testcase[@name='hv005.corp.example']/failure")
    assert hv005 is not None and "Enable-NetFirewallRule" in (hv005.text or "")


def test_inventory_all_pairs_then_the_saved_facts_judged_again(lab: Lab, tmp_path: Path, capsys, monkeypatch) -> None:
    inventory = tmp_path / "export.csv"
    rows = ["ComputerName,Endpoint,Site"]
    rows += [
        f"{lab.fqdn(name)},{url},{'north' if n % 2 else 'south'}"
        for n, (name, url) in enumerate(lab.endpoints.winrm.items())
    ]
    inventory.write_text("\n".join(rows) + "\n")
    facts = tmp_path / "facts"
    facts.mkdir()
    code, out, err = invoke(
        capsys,
        monkeypatch,
        "plan",
        "--inventory",
        str(inventory),
        "--all-pairs",
        "--save-facts",
        str(facts),
        "--json",
        str(tmp_path / "live.json"),
        "--html",
        str(tmp_path / "plan.html"),
        *connection(lab, with_endpoints=False),
    )
    # HV004's VMs (AMD) and HV011's (live migration off) have no ready destination, and
    # HV012 could not be collected, so for them it is unknown: incomplete.
    assert code == 3, err
    assert "Problems on each host (listed once, not per pair)" in out
    assert out.count("hyperv.migration-enabled: live migration is disabled on HV011") == 1
    live = plan_json(tmp_path / "live.json")
    assert live["summary"]["vms"] == 33 and live["summary"]["pairs"] == 11 * 11
    assert sorted(live["summary"]["vms_without_destination"]) == sorted(
        f"hv0{n}.corp.example/HV0{n}-VM0{v}" for n in ("04", "11") for v in (1, 2, 3)
    )
    hv012 = next(h for h in live["hosts"] if h["name"] == "hv012.corp.example")
    assert hv012["collected"] is False and "cannot connect" in hv012["error"]
    assert len(list(facts.glob("*.json"))) == 12

    code, _, err = invoke(
        capsys, monkeypatch, "plan", "--facts-dir", str(facts), "--all-pairs", "--json", str(tmp_path / "saved.json")
    )
    assert code == 3, err
    saved = plan_json(tmp_path / "saved.json")

    # The same verdicts from the saved files (hosts are named by their computer names there).
    def verdicts(document: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
        short = {name: name.split(".")[0].upper() for name in document["destinations"]}
        return {
            row["vm"]: {
                field: sorted(short.get(name, name) for name in row[field])
                for field in ("ready", "after_fixes", "blocked", "unknown")
            }
            for row in document["vms"]
        }

    assert verdicts(saved) == verdicts(live)


def test_ansible_inventory_gives_hosts_users_and_endpoints(lab: Lab, tmp_path: Path, capsys, monkeypatch) -> None:
    lines = ["[hyperv]"]
    for name in ("HV001", "HV002", "HV007"):
        port = lab.endpoints.winrm[name].split(":")[2].split("/")[0]
        lines.append(f"{lab.fqdn(name)} ansible_host=127.0.0.1 ansible_port={port}")
    lines += ["", "[hyperv:vars]", "ansible_connection=winrm", "ansible_winrm_scheme=http"]
    lines += ["ansible_winrm_server_cert_validation=ignore"]
    lines += ["ansible_winrm_transport=ntlm", f"ansible_user={lab.scenario.client.user}", "", "[web]"]
    lines += ["web01 ansible_connection=ssh"]
    inventory = tmp_path / "hosts.ini"
    inventory.write_text("\n".join(lines) + "\n")
    words = connection(lab, with_endpoints=False)
    words = words[2:]  # no --user: the inventory's ansible_user is used
    code, out, err = invoke(
        capsys, monkeypatch, "plan", "hv001.corp.example", "--inventory", str(inventory), "--limit", "hyperv", *words
    )
    assert code == 0, err
    assert "ready now    hv002.corp.example" in out
    assert "blocked      hv007.corp.example (vm.configuration-version)" in out  # 2019 takes 9.0 at most
    assert "TLS certificates are not verified for 3 host(s)" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "hv002"], "name the SOURCE host to drain, or use --all-pairs"),
        (["hv001"], "no destination: add --to HOST"),
        (["hv001", "--facts-dir", "{tmp}", "--save-facts", "{tmp}"], "--facts-dir judges saved facts"),
        (["hv001", "--facts-dir", "{tmp}"], "no fact files (*.json)"),
        (["hv001", "--to", "hv002", "--skip", "vm.nope"], "--skip vm.nope: no check has this id"),
        (["hv001", "--to", "hv002", "--html", "{tmp}/no/plan.html"], "the folder"),
    ],
)
def test_mistakes_are_one_line(tmp_path: Path, capsys, monkeypatch, args: list[str], message: str) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code, _, err = invoke(capsys, monkeypatch, "plan", *args, "--password-env", PASSWORD_VARIABLE)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1, err


def test_unknown_vm_is_one_line(lab: Lab, capsys, monkeypatch) -> None:
    code, _, err = invoke(
        capsys,
        monkeypatch,
        "plan",
        "hv001.corp.example",
        "--to",
        "hv002.corp.example",
        "--vm",
        "NOPE",
        *connection(lab),
    )
    assert code == 2 and "--vm NOPE: no such VM on hv001.corp.example" in err


def test_demo_fleet_writes_the_matrix(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke(capsys, monkeypatch, "demo", "fleet", "-q")
    assert code == 3, err
    assert "33 VM(s) × 12 destination(s), 121 pair(s) judged" in out
    document = plan_json(tmp_path / "plan.json")
    assert document["run"]["command"] == "demo"
    assert "Open " in err and "plan.html" in err


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Chromium (./scripts/bootstrap)")
def test_html_matrix_in_chromium(lab: Lab, tmp_path: Path, capsys, monkeypatch) -> None:
    from playwright.sync_api import sync_playwright

    html = tmp_path / "plan.html"
    code, _, err = invoke(
        capsys,
        monkeypatch,
        "plan",
        "hv004.corp.example",
        "--to",
        "hv001.corp.example",
        "--to",
        "hv005.corp.example",
        "--to",
        "hv012.corp.example",
        "--html",
        str(html),
        *connection(lab),
    )
    assert code == 3, err  # HV004's VMs: blocked on the Intel hosts, unknown on the unreachable one
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(html.as_uri())
        assert page.locator("#matrix tbody tr").count() == 3
        assert page.locator("#matrix thead th.dest").all_inner_texts() == [
            "hv001.corp.example",
            "hv005.corp.example",
            "hv012.corp.example",
        ]
        page.locator("td.c.b").first.click()
        page.locator("#detail .problem").first.wait_for()  # the problems' words are unpacked on demand
        detail = page.locator("#detail").inner_text()
        assert "HV004-VM01 (hv004.corp.example) → hv001.corp.example: blocked" in detail
        assert "vm.processor-compatibility" in detail
        page.fill("input[name=q]", "vm02")
        assert page.locator("#matrix tbody tr").count() == 1
        page.fill("input[name=dest]", "hv005")
        assert page.locator("#matrix thead th.dest").all_inner_texts() == ["hv005.corp.example"]
        page.locator("details.hostp summary").last.click()
        page.locator("details.hostp[open] .problem").first.wait_for()
        assert "collection.host" in page.locator("#hosts").inner_text()
        browser.close()
        assert errors == []


def test_committed_plan_schema_is_current() -> None:
    from lmpreflight.fleet.document import plan_json_schema

    assert (REPO / "schemas" / "plan.schema.json").read_text() == plan_json_schema()


def test_lab_run_fleet_prints_a_working_plan_command(tmp_path: Path) -> None:
    with lab_run_printed("fleet", "plan") as (command, env):
        assert "--inventory" in command and "--endpoint" not in command
        done = subprocess.run(
            [sys.executable, "-m", "lmpreflight", "plan", *command, "-q", "--json", str(tmp_path / "plan.json")],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
    assert done.returncode == 3, done.stderr  # HV012 cannot be reached
    document = plan_json(tmp_path / "plan.json")
    assert document["destinations"][:2] == ["HV001", "HV002"]
    assert document["summary"]["pairs"] == 121
