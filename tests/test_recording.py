"""Recording the raw exchange with a host (--record) and replaying it as a lab host."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lmpreflight.collect.recording import MANIFEST, STDERR, STDOUT, recording_folder, redact
from lmpreflight.facts.load import load_host_facts
from lmpreflight.lab.environment import Lab
from lmpreflight.lab.scenario import Scenario, load_scenario
from tests.helpers import invoke
from tests.lab_helpers import invoke_on_lab

TOOL_SIDE = ("collected_at", "collector", "dns", "directory")
"""What the tool itself notes or reads over DNS and LDAP (from each lab's own ports): not the
host's answer, so not part of what a replay reproduces."""


def _comparable(path: Path) -> dict[str, Any]:
    """The facts the host's collector output gave, without the tool's own clock reading."""
    facts = load_host_facts(path).model_dump(mode="json")
    facts["clock"].pop("observer_utc")
    return {key: value for key, value in facts.items() if key not in TOOL_SIDE}


def test_a_recorded_host_replayed_in_the_lab_gives_the_same_facts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = load_scenario("healthy")
    host = scenario.role("source")
    record = tmp_path / "record"
    record.mkdir()
    with Lab(scenario) as lab:
        fqdn = lab.fqdn(host)
        collect = ("collect", fqdn, "--record", str(record), "-o")
        code, _, err = invoke_on_lab(capsys, monkeypatch, lab, scenario, *collect, str(tmp_path / "original.json"))
        assert code == 0, err
        again, _, err = invoke_on_lab(capsys, monkeypatch, lab, scenario, *collect, str(tmp_path / "other.json"))
        assert again == 2 and "already exists" in err and "Traceback" not in err, "a recording is never overwritten"

    folder = recording_folder(record, fqdn)
    assert sorted(p.name for p in record.iterdir()) == [folder.name]
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["host"] == fqdn and manifest["exit_code"] == 0 and manifest["transport"] == "ntlm"
    assert b'{"lmpreflight_collector"' in (folder / STDOUT).read_bytes()
    for name in (STDOUT, STDERR, MANIFEST):
        content = (folder / name).read_bytes()
        assert scenario.client.password.encode() not in content, name

    spec = scenario.model_dump()
    spec["hosts"][host]["replay"] = str(folder)
    spec["hosts"][host]["facts"]["os"]["caption"] = "changed after recording: the replay must not read it"
    replayed = Scenario.model_validate(spec)
    with Lab(replayed) as lab:
        code, _, err = invoke_on_lab(
            capsys, monkeypatch, lab, replayed, "collect", fqdn, "-o", str(tmp_path / "replay.json")
        )
        assert code == 0, err

    assert _comparable(tmp_path / "replay.json") == _comparable(tmp_path / "original.json")


def test_check_records_both_hosts_into_their_own_folders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        source, destination = lab.fqdn(scenario.role("source")), lab.fqdn(scenario.role("destination"))
        code, _, err = invoke_on_lab(
            capsys, monkeypatch, lab, scenario, "check", source, destination, "--record", str(tmp_path)
        )
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        recording_folder(tmp_path, name).name for name in (source, destination)
    )


def test_a_secret_the_host_echoes_back_is_cut_out_in_either_encoding() -> None:
    secret = "S3cret-pässword"
    echoed = b"before " + secret.encode() + b" middle " + secret.encode("utf-16-le") + b" after"
    cleaned = redact(echoed, [secret])
    assert secret.encode() not in cleaned and secret.encode("utf-16-le") not in cleaned
    assert cleaned.startswith(b"before ") and cleaned.endswith(b" after")


def test_recording_folders_stay_inside_the_folder_whatever_the_host_is_called(tmp_path: Path) -> None:
    for typed in ("../../etc", "/abs/path", "..", "HV01.corp.example", "é"):
        folder = recording_folder(tmp_path, typed)
        assert folder.parent == tmp_path and not folder.name.startswith("."), typed


def test_a_missing_record_folder_is_refused_before_the_password_is_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_PW", raising=False)
    missing = tmp_path / "missing"
    code, _, err = invoke(
        capsys,
        monkeypatch,
        "collect",
        "hv01.corp.example",
        "-o",
        str(tmp_path / "f.json"),
        "--record",
        str(missing),
        "--user",
        "CORP\\admin",
        "--password-env",
        "NO_SUCH_PW",
    )
    assert code == 2 and f"--record {missing}: not a folder" in err and "Traceback" not in err
