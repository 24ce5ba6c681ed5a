"""The command line as a user meets it: exit codes, messages, files written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lmpreflight import __version__
from tests.helpers import EXAMPLES, invoke, validate_report_json

HEALTHY = [str(EXAMPLES / "healthy" / "source.json"), str(EXAMPLES / "healthy" / "destination.json")]
BROKEN = [str(EXAMPLES / "broken" / "source.json"), str(EXAMPLES / "broken" / "destination.json")]


def test_version(capsys, monkeypatch) -> None:
    code, out, _ = invoke(capsys, monkeypatch, "--version")
    assert code == 0 and __version__ in out


def test_python_dash_m_is_the_same_cli() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lmpreflight", "--version"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and __version__ in done.stdout


def test_checks_listing(capsys, monkeypatch) -> None:
    code, out, _ = invoke(capsys, monkeypatch, "checks")
    assert code == 0
    assert "vm.configuration-version" in out and "critical" in out
    code, out, _ = invoke(capsys, monkeypatch, "checks", "--format", "json")
    rows = json.loads(out)
    assert {"id", "title", "category", "severity"} <= set(rows[0])


def test_healthy_pair_is_ready(capsys, monkeypatch) -> None:
    code, out, _ = invoke(capsys, monkeypatch, "analyze", *HEALTHY, "--vm", "SQL01", "--vm", "WEB02")
    assert code == 0
    assert "Verdict: READY" in out


def test_broken_pair_writes_all_formats(tmp_path: Path, capsys, monkeypatch) -> None:
    paths = {k: tmp_path / f"r.{k}" for k in ("json", "html", "xml")}
    code, out, err = invoke(
        capsys,
        monkeypatch,
        "analyze",
        *BROKEN,
        "--vm",
        "LEGACY01",
        "--vm",
        "WEB02",
        "--json",
        str(paths["json"]),
        "--html",
        str(paths["html"]),
        "--junit",
        str(paths["xml"]),
    )
    assert code == 1
    assert "Verdict: NOT READY" in out
    assert "FAIL  vm.configuration-version" in out
    assert "PS> Stop-VM -Name 'LEGACY01'" in out
    assert all(p.exists() for p in paths.values())
    assert validate_report_json(paths["json"].read_text())["verdict"] == "not-ready"
    assert f"wrote {paths['html']}" in err
    assert not list(tmp_path.glob(".*.tmp")), "no temporary files left behind"


def test_format_json_prints_only_json(capsys, monkeypatch) -> None:
    code, out, _ = invoke(capsys, monkeypatch, "analyze", *BROKEN, "--format", "json")
    assert code == 1
    assert validate_report_json(out)["run"]["vms"] == []


def test_no_vm_lists_the_source_vms(capsys, monkeypatch) -> None:
    code, out, _ = invoke(capsys, monkeypatch, "analyze", *HEALTHY)
    assert code == 0
    assert "2 VM(s) on HV01: SQL01, WEB02; name them with --vm" in out


def test_unknown_vm_is_named_with_what_exists(capsys, monkeypatch) -> None:
    code, out, _ = invoke(capsys, monkeypatch, "analyze", *HEALTHY, "--vm", "SQL1")
    assert code == 1
    assert "no VM named 'SQL1' on HV01 (VMs there: SQL01, WEB02)" in out


def test_analyze_accepts_quiet_like_check(capsys, monkeypatch) -> None:
    assert invoke(capsys, monkeypatch, "analyze", *HEALTHY, "-q")[0] == 0


def test_swapped_fact_files_are_suggested(capsys, monkeypatch) -> None:
    code, out, _ = invoke(capsys, monkeypatch, "analyze", *reversed(HEALTHY), "--vm", "SQL01", "--format", "json")
    (finding,) = [r for r in json.loads(out)["results"] if r["check_id"] == "vm.exists-on-source"]
    assert code == 1
    assert finding["message"] == (
        "no VM named 'SQL01' on HV02 (VMs there: FILE03); SQL01 is on HV01; did you swap SOURCE and DESTINATION?"
    )


def test_unknown_skip_is_a_usage_error_with_a_suggestion(capsys, monkeypatch) -> None:
    code, out, err = invoke(capsys, monkeypatch, "analyze", *HEALTHY, "--skip", "network.port-660")
    assert code == 2 and out == ""
    assert err.strip() == (
        "lmpreflight: error: --skip network.port-660: no check has this id; did you mean 'network.port-6600'?"
    )


def test_skip_removes_a_failure(capsys, monkeypatch) -> None:
    code, out, _ = invoke(capsys, monkeypatch, "analyze", *HEALTHY, "--vm", "SQL1", "--skip", "vm.exists-on-source")
    assert code == 0
    assert "skipped by the user" in out


def test_strict_exit_code(capsys, monkeypatch, tmp_path: Path) -> None:
    doc = json.loads(Path(HEALTHY[1]).read_text())
    doc["migration"]["use_any_network"] = True
    dest = tmp_path / "dest.json"
    dest.write_text(json.dumps(doc))
    assert invoke(capsys, monkeypatch, "analyze", HEALTHY[0], str(dest))[0] == 0
    assert invoke(capsys, monkeypatch, "analyze", HEALTHY[0], str(dest), "--strict")[0] == 1


def test_incomplete_exit_code(capsys, monkeypatch, tmp_path: Path) -> None:
    doc = json.loads(Path(HEALTHY[1]).read_text())
    doc["migration"] = None
    doc["errors"] = [
        {
            "section": "migration",
            "message": "Get-VMHost: access denied",
            "hint": "add the user to Hyper-V Administrators",
        }
    ]
    dest = tmp_path / "dest.json"
    dest.write_text(json.dumps(doc))
    code, out, _ = invoke(capsys, monkeypatch, "analyze", HEALTHY[0], str(dest))
    assert code == 3
    assert "destination.migration could not be collected from HV02: Get-VMHost: access denied" in out
    assert "Verdict: INCOMPLETE" in out


def test_unwritable_output_is_a_clear_error(capsys, monkeypatch, tmp_path: Path) -> None:
    code, _, err = invoke(capsys, monkeypatch, "analyze", *HEALTHY, "--json", str(tmp_path / "no" / "such" / "r.json"))
    assert code == 2
    assert "cannot write" in err and "Traceback" not in err


def test_unknown_option_is_a_usage_error(capsys, monkeypatch) -> None:
    code, _, err = invoke(capsys, monkeypatch, "analyze", *HEALTHY, "--frobnicate")
    assert code == 2
    assert "No such option" in err


def test_docs_catalogue_is_current(capsys, monkeypatch) -> None:
    from tests.helpers import REPO

    code, out, _ = invoke(capsys, monkeypatch, "checks", "--format", "markdown")
    assert code == 0
    assert out == (REPO / "docs" / "checks.md").read_text(), (
        "regenerate: lmpreflight checks --format markdown > docs/checks.md"
    )


def test_without_vms_every_source_vm_gets_a_readiness_line(capsys, monkeypatch, tmp_path) -> None:
    code, out, _ = invoke(capsys, monkeypatch, "analyze", *BROKEN, "--json", str(tmp_path / "r.json"))
    assert code == 1
    assert "VMs on HV01 (name them with --vm for the full check):" in out
    assert "LEGACY01: blocked by " in out and "vm.configuration-version" in out
    readiness = validate_report_json((tmp_path / "r.json").read_text())["vm_readiness"]
    assert [(v["vm"], v["status"]) for v in readiness] == [("SQL01", "warn"), ("WEB02", "fail"), ("LEGACY01", "fail")]
    code, out, _ = invoke(capsys, monkeypatch, "analyze", *HEALTHY)
    assert "SQL01: ready" in out and "WEB02: ready" in out


def test_undecodable_vm_name_is_a_usage_error(capsys, monkeypatch) -> None:
    code, _, err = invoke(capsys, monkeypatch, "analyze", *HEALTHY, "--vm", "SQL\udcff")
    assert code == 2 and "not valid text" in err
    code, out, err = invoke(capsys, monkeypatch, "collector-script", "--vm", "SQL\udcff")
    assert code == 2 and "not valid text" in err and not out
