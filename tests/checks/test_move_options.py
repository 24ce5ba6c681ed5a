"""Where the move starts (--move-from), where its storage goes (--storage-path), and inputs
that must never produce a verdict or an AD change: end to end through `analyze`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.helpers import EXAMPLES, invoke

HEALTHY = (str(EXAMPLES / "healthy" / "source.json"), str(EXAMPLES / "healthy" / "destination.json"))
SQL01_AS_JSON = ("--vm", "SQL01", "--format", "json")


def _pair(tmp_path: Path, change: Any) -> tuple[str, str]:
    source = json.loads(Path(HEALTHY[0]).read_text())
    destination = json.loads(Path(HEALTHY[1]).read_text())
    change(source, destination)
    paths = (tmp_path / "source.json", tmp_path / "destination.json")
    paths[0].write_text(json.dumps(source))
    paths[1].write_text(json.dumps(destination))
    return str(paths[0]), str(paths[1])


def _credssp(source: dict[str, Any], destination: dict[str, Any]) -> None:
    source["migration"]["authentication_type"] = "CredSSP"
    destination["migration"]["authentication_type"] = "CredSSP"


def _result(report: dict[str, Any], check_id: str) -> list[dict[str, Any]]:
    return [r for r in report["results"] if r["check_id"] == check_id]


def test_analyze_refuses_one_host_on_both_sides(capsys, monkeypatch) -> None:
    code, _, err = invoke(capsys, monkeypatch, "analyze", HEALTHY[0], HEALTHY[0])
    assert code == 2
    assert "both describe HV01" in err
    assert "Traceback" not in err


def test_credssp_pair_started_on_the_source_is_ready(capsys, monkeypatch, tmp_path) -> None:
    source, destination = _pair(tmp_path, _credssp)
    code, out, _ = invoke(capsys, monkeypatch, "analyze", source, destination, *SQL01_AS_JSON)
    report = json.loads(out)
    assert [r["status"] for r in _result(report, "credssp.start-on-source")] == ["info"]
    code, out, _ = invoke(capsys, monkeypatch, "analyze", source, destination, *SQL01_AS_JSON, "--move-from", "source")
    assert code == 0, out
    assert [r["status"] for r in _result(json.loads(out), "credssp.start-on-source")] == ["pass"]


def test_credssp_pair_started_remotely_fails_with_a_fix_that_runs_on_the_source(capsys, monkeypatch, tmp_path) -> None:
    source, destination = _pair(tmp_path, _credssp)
    code, out, _ = invoke(capsys, monkeypatch, "analyze", source, destination, *SQL01_AS_JSON, "--move-from", "remote")
    assert code == 1
    [result] = _result(json.loads(out), "credssp.start-on-source")
    assert result["status"] == "fail"
    fix = result["remediation"]
    assert "Enter-PSSession" not in (fix["powershell"] or "")
    assert "Move-VM -Name 'SQL01' -DestinationHost 'hv02.corp.example'" in fix["powershell"]


def test_a_destination_typed_by_address_is_moved_to_by_its_account_dns_name(capsys, monkeypatch, tmp_path) -> None:
    """Without identity facts, the fix names the destination by its computer account's DNS name,
    not by the address it was typed as (Windows tries no Kerberos for an address); the address
    only when the facts know the host by nothing else."""

    def typed_by_address(source: dict[str, Any], destination: dict[str, Any]) -> None:
        _credssp(source, destination)
        destination["target"] = "10.0.10.2"
        destination["identity"] = None
        destination["errors"] = [*destination["errors"], {"section": "identity", "message": "access denied"}]

    def unknown_account(source: dict[str, Any], destination: dict[str, Any]) -> None:
        typed_by_address(source, destination)
        destination["directory"] = None

    for change, named in ((typed_by_address, "'hv02.corp.example'"), (unknown_account, "'10.0.10.2'")):
        pair = _pair(tmp_path, change)
        _, out, _ = invoke(capsys, monkeypatch, "analyze", *pair, *SQL01_AS_JSON, "--move-from", "remote")
        [result] = _result(json.loads(out), "credssp.start-on-source")
        assert f"Move-VM -Name 'SQL01' -DestinationHost {named}" in result["remediation"]["powershell"]


def test_storage_path_is_the_one_judged_and_implies_a_storage_move(capsys, monkeypatch) -> None:
    code, out, _ = invoke(
        capsys, monkeypatch, "analyze", *HEALTHY, "--vm", "SQL01", "--storage-path", "E:\\VMs", "--format", "json"
    )
    assert code == 1
    [result] = _result(json.loads(out), "vm.destination-storage")
    assert result["status"] == "fail"
    assert "E:\\VMs" in result["message"]


def test_cross_domain_classic_delegation_gets_no_automated_classic_entries(capsys, monkeypatch, tmp_path) -> None:
    def other_forest(source: dict[str, Any], destination: dict[str, Any]) -> None:
        destination["domain"]["domain"] = "lab.example"
        destination["directory"]["domain_dns_name"] = "lab.example"
        destination["directory"]["forest"] = "lab.example"
        source["directory"]["trusts"] = [
            {"partner": "lab.example", "direction": "Bidirectional", "trust_type": "Forest", "transitive": True}
        ]

    source, destination = _pair(tmp_path, other_forest)
    script = tmp_path / "fix.ps1"
    code, out, _ = invoke(capsys, monkeypatch, "analyze", source, destination, "--fix-script", str(script))
    assert code == 1
    assert "cannot cross domains" in out
    text = script.read_text()
    assert "-Add @{'msDS-AllowedToDelegateTo'" not in text
    assert "PrincipalsAllowedToDelegateToAccount" in text


def test_a_destination_nobody_saw_gets_no_verdict_and_no_ad_change(capsys, monkeypatch, tmp_path) -> None:
    def never_reached(source: dict[str, Any], destination: dict[str, Any]) -> None:
        for section in list(destination):
            if section not in ("schema_version", "collected_at", "collector", "target", "errors"):
                destination[section] = None
        destination["target"] = "hv03.corp.example"
        destination["errors"] = [{"section": "winrm", "message": "cannot resolve hv03.corp.example", "hint": None}]

    source, destination = _pair(tmp_path, never_reached)
    script = tmp_path / "fix.ps1"
    code, out, _ = invoke(capsys, monkeypatch, "analyze", source, destination, "--fix-script", str(script))
    assert code == 3, out
    assert "Verdict: INCOMPLETE" in out
    assert "msDS-AllowedToDelegateTo" not in script.read_text()
