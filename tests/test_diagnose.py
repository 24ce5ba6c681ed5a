"""diagnose: failed moves found in event logs — collected live from the lab, or exported — and explained."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lmpreflight.explain.events import find_incidents, read_event_file
from lmpreflight.lab.environment import Lab
from lmpreflight.lab.scenario import builtin_names, load_scenario
from lmpreflight.registry import load_checks
from lmpreflight.runner import Selection, evaluate
from tests.conftest import EXAMPLES, REPO, invoke, validate_report_json
from tests.lab_helpers import cli_connection_args, collect_pair

DATA = REPO / "tests" / "data"
WITH_EVENTS = [name for name in builtin_names() if load_scenario(name).expect and load_scenario(name).expect.diagnosis]


def test_xml_export_is_parsed() -> None:
    events = read_event_file(DATA / "events" / "hv01-vmms-admin.xml")
    assert [(e.id, e.level) for e in events] == [(21502, "Error"), (21502, "Error"), (20417, "Information")]
    assert events[0].computer == "HV01.corp.example"
    assert events[0].channel == "Microsoft-Windows-Hyper-V-VMMS-Admin"
    assert "0x8009030E" in events[0].message
    assert events[0].time_created.isoformat() == "2026-11-20T10:02:11.421875+00:00"


def test_json_export_is_parsed() -> None:
    events = read_event_file(DATA / "events" / "hv02-vmms-admin.json")
    assert [(e.id, e.level) for e in events] == [(21125, "Error"), (14004, "Information")]
    assert events[0].time_created.isoformat() == "2026-11-20T10:05:01+00:00"


def test_failures_are_grouped_across_hosts_into_incidents() -> None:
    incidents = find_incidents(
        {
            "HV01": read_event_file(DATA / "events" / "hv01-vmms-admin.xml"),
            "HV02": read_event_file(DATA / "events" / "hv02-vmms-admin.json"),
        }
    )
    assert [(i.vm, i.hosts, [e.id for e in i.events]) for i in incidents] == [
        ("SQL01", ["HV01"], [21502]),
        ("WEB02", ["HV01", "HV02"], [21125, 21502]),
    ]
    assert [i.explanation.causes[0].id for i in incidents] == ["credssp_remote_start", "virtual_switch_missing"]


def test_real_evtx_without_hyperv_events_reports_nothing_found(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(DATA / "system.evtx"))
    assert code == 0
    assert "No migration failures found (1601 event(s) read)." in out
    events = read_event_file(DATA / "system.evtx")
    assert len(events) == 1601
    assert sum(e.provider == "Service Control Manager" for e in events) == 1402


def test_offline_diagnose_with_facts_confirms_the_cause(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = invoke(
        capsys,
        monkeypatch,
        "diagnose",
        "--format",
        "json",
        "--evtx",
        str(DATA / "events" / "hv01-vmms-admin.xml"),
        "--evtx",
        str(DATA / "events" / "hv02-vmms-admin.json"),
        "--facts",
        str(EXAMPLES / "broken" / "source.json"),
        str(EXAMPLES / "broken" / "destination.json"),
    )
    assert code == 1
    document = json.loads(out)
    assert document["events_read"] == 5
    first = document["incidents"][0]["explanation"]["causes"][0]
    assert first["id"] == "kerberos_delegation_missing" and first["confidence"] == "high"


@pytest.mark.parametrize("name", ["not-there.evtx", "garbage.evtx"])
def test_bad_event_files_are_one_line(name: str, tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / name
    if name.startswith("garbage"):
        path.write_bytes(b"\x00\x01 not an event log")
    code, _, err = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(path))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert str(path) in err


def test_evtx_copied_under_another_name_is_still_read(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    copy = tmp_path / "exported-from-hv01.log"
    shutil.copy(DATA / "system.evtx", copy)
    assert invoke(capsys, monkeypatch, "diagnose", "--evtx", str(copy))[0] == 0


@pytest.mark.parametrize("name", WITH_EVENTS)
def test_live_diagnosis_against_the_lab(name: str) -> None:
    scenario = load_scenario(name)
    assert scenario.expect is not None
    with Lab(scenario) as lab:
        source, destination = collect_pair(lab, scenario, events_hours=24)
    assert source.events is not None and destination.events is not None
    results = evaluate(load_checks(include_plugins=False), source, destination, Selection(vms=tuple(scenario.vms)))
    auth = source.migration.authentication_type if source.migration else None
    incidents = find_incidents({source.name: source.events, destination.name: destination.events}, results, auth)
    assert [i.explanation.causes[0].id for i in incidents] == scenario.expect.diagnosis
    assert all(i.explanation.causes[0].confidence == "high" for i in incidents), "confirmed by the hosts' facts"


def test_diagnose_command_writes_the_failures_into_the_reports(tmp_path: Path, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    scenario = load_scenario("delegation-missing")
    with Lab(scenario) as lab:
        monkeypatch.setenv("LAB_PW", scenario.client.password)
        args = [
            "diagnose",
            "hv01.corp.example",
            "hv02.corp.example",
            "--since",
            "2h",
            "--json",
            str(tmp_path / "r.json"),
            "--html",
            str(tmp_path / "r.html"),
            *cli_connection_args(lab, scenario, "LAB_PW"),
        ]
        code, out, err = invoke(capsys, monkeypatch, *args)
    assert code == 1, err
    assert "Recent migration failures: 1" in out
    assert "Kerberos constrained delegation to the destination's migration service is missing" in out
    document = validate_report_json((tmp_path / "r.json").read_text())
    assert document["events_collected"] and document["incidents"][0]["vm"] == "WEB02"
    assert "Recent migration failures" in (tmp_path / "r.html").read_text()


def test_since_is_validated(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PW", "x")
    code, _, err = invoke(
        capsys, monkeypatch, "diagnose", "a", "b", "--since", "yesterday", "--user", "C\\x", "--password-env", "PW"
    )
    assert code == 2 and "--since yesterday: expected hours or days, like 24h or 7d" in err


def test_check_collects_no_events() -> None:
    scenario = load_scenario("delegation-missing")
    with Lab(scenario) as lab:
        source, _ = collect_pair(lab, scenario)
    assert source.events is None and not any(e.section == "events" for e in source.errors)


def test_live_diagnose_without_failures_exits_0(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        monkeypatch.setenv("LAB_PW", scenario.client.password)
        code, out, err = invoke(
            capsys,
            monkeypatch,
            "diagnose",
            "hv01.corp.example",
            "hv02.corp.example",
            *cli_connection_args(lab, scenario, "LAB_PW"),
        )
    assert code == 0, err
    assert "No migration failures found (0 event(s) read)." in out
