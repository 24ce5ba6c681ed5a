"""diagnose: failed moves found in event logs — collected live from the lab, or exported — and explained."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lmpreflight.explain.events import read_event_file
from lmpreflight.explain.incidents import find_incidents
from lmpreflight.facts import save_host_facts
from lmpreflight.facts.model import EventRecord
from lmpreflight.lab.environment import Lab
from lmpreflight.lab.scenario import Scenario, builtin_names, load_scenario
from lmpreflight.pipeline import explain_failures
from lmpreflight.registry import load_checks
from lmpreflight.runner import evaluate
from tests.helpers import (
    EXAMPLES,
    REPO,
    invoke,
    invoke_with_password,
    refused_before_the_password,
    validate_report_json,
)
from tests.lab_helpers import LAB_PAIR, collect_pair, invoke_on_lab, selection_for

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
    ).incidents
    assert [(i.vm, i.hosts, [e.id for e in i.events]) for i in incidents] == [
        ("SQL01", ["HV01"], [21502]),
        ("WEB02", ["HV01", "HV02"], [21125, 21502]),
    ]
    assert [i.explanation.causes[0].id for i in incidents] == ["credssp_remote_start", "virtual_switch_missing"]


def test_real_evtx_without_hyperv_events_reports_nothing_found(capsys, monkeypatch) -> None:
    code, out, _ = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(DATA / "system.evtx"))
    assert code == 0
    assert "No migration failures found (1601 event(s) read)." in out
    events = read_event_file(DATA / "system.evtx")
    assert len(events) == 1601
    assert sum(e.provider == "Service Control Manager" for e in events) == 1402


def test_offline_diagnose_with_facts_confirms_the_cause(capsys, monkeypatch) -> None:
    code, out, err = invoke(
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
    document = validate_report_json(out)
    first = document["incidents"][0]["explanation"]["causes"][0]
    assert first["id"] == "kerberos_delegation_missing" and first["confidence"] == "high"
    # The WEB02 incident's text names a missing switch: facts confirming delegation do not replace it (P4).
    web02 = document["incidents"][1]["explanation"]["causes"]
    assert web02[0]["id"] == "virtual_switch_missing"
    assert "the events come from" not in err, "facts and events are about the same hosts"


def test_offline_diagnose_warns_when_the_facts_are_about_other_hosts(tmp_path: Path, capsys, monkeypatch) -> None:
    other = json.loads((EXAMPLES / "broken" / "destination.json").read_text())
    other["identity"]["computer_name"] = "HV03"
    (tmp_path / "hv03.json").write_text(json.dumps(other))
    events = [str(DATA / "events" / "hv01-vmms-admin.xml"), str(DATA / "events" / "hv02-vmms-admin.json")]
    facts = [str(EXAMPLES / "broken" / "source.json"), str(tmp_path / "hv03.json")]
    code, _, err = invoke(capsys, monkeypatch, "diagnose", "--evtx", events[0], "--evtx", events[1], "--facts", *facts)
    assert code == 1
    assert "the facts are for HV01, HV03 but the events come from HV01, HV02" in err


EVTX_ARGS = [
    "--evtx",
    str(DATA / "events" / "hv01-vmms-admin.xml"),
    "--evtx",
    str(DATA / "events" / "hv02-vmms-admin.json"),
]
FACTS_ARGS = ["--facts", str(EXAMPLES / "broken" / "source.json"), str(EXAMPLES / "broken" / "destination.json")]


def test_evtx_with_facts_writes_every_report(tmp_path: Path, capsys, monkeypatch) -> None:
    outputs = {
        "--html": "d.html",
        "--json": "d.json",
        "--markdown": "d.md",
        "--junit": "d.xml",
        "--fix-script": "d.ps1",
    }
    args = [item for flag, name in outputs.items() for item in (flag, str(tmp_path / name))]
    code, _out, err = invoke(capsys, monkeypatch, "diagnose", *EVTX_ARGS, *FACTS_ARGS, *args)
    assert code == 1, err
    for name in outputs.values():
        assert (tmp_path / name).stat().st_size > 0, name
    assert "Recent migration failures" in (tmp_path / "d.html").read_text()
    assert validate_report_json((tmp_path / "d.json").read_text())["incidents"]


def test_evtx_without_facts_writes_json_and_markdown_and_refuses_the_rest(tmp_path: Path, capsys, monkeypatch) -> None:
    reports = ["--json", str(tmp_path / "d.json"), "--markdown", str(tmp_path / "d.md")]
    code, _, err = invoke(capsys, monkeypatch, "diagnose", *EVTX_ARGS, *reports)
    assert code == 1, err
    document = json.loads((tmp_path / "d.json").read_text())
    assert [i["vm"] for i in document["incidents"]] == ["SQL01", "WEB02"]
    markdown = (tmp_path / "d.md").read_text()
    assert "# Recent migration failures" in markdown and "WEB02" in markdown
    waivers = tmp_path / "w.yaml"
    waivers.write_text("waivers: []\n")
    for flag in (
        ["--html", str(tmp_path / "x.html")],
        ["--junit", str(tmp_path / "x.xml")],
        ["--strict"],
        ["-v"],
        ["--waivers", str(waivers)],
        ["--storage-path", "E:\\VMs"],
    ):
        code, _, err = invoke(capsys, monkeypatch, "diagnose", *EVTX_ARGS, *flag)
        (line,) = err.strip().splitlines()
        assert (
            code == 2
            and line.startswith(f"lmpreflight: error: {flag[0]}: about the hosts' checks")
            and "--facts" in line
        )


def test_evtx_vm_filter(capsys, monkeypatch) -> None:
    code, out, _ = invoke(capsys, monkeypatch, "diagnose", *EVTX_ARGS, "--vm", "web02", "--format", "json")
    assert code == 1 and [i["vm"] for i in json.loads(out)["incidents"]] == ["WEB02"]


HA_EVENT = """<Event xmlns="http://schemas.microsoft.com/win/2004/08/events/event"><System>
<Provider Name="Microsoft-Windows-Hyper-V-High-Availability" Guid="{4A7A8E2B-2B34-4B51-9E1D-6E2E1E5A0A11}"/>
<EventID>21502</EventID><Level>2</Level><TimeCreated SystemTime="2026-11-21T08:14:03.5000000Z"/>
<Channel>Microsoft-Windows-Hyper-V-High-Availability-Admin</Channel><Computer>HV11.corp.example</Computer></System>
<EventData><Data Name="Parameter0">Virtual Machine APP9</Data><Data Name="Parameter1">{0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0}</Data>
<Data Name="Parameter2">Live migration of 'Virtual Machine APP9' failed. 'APP9' failed to live migrate because a virtual switch used by the VM does not exist on the destination node 'HV12'.</Data>
</EventData></Event>"""


def test_positional_parameters_of_real_event_xml_are_read(tmp_path: Path) -> None:
    path = tmp_path / "ha.xml"
    path.write_text(HA_EVENT)
    (event,) = read_event_file(path)
    assert event.message.startswith("Live migration of 'Virtual Machine APP9' failed.")
    (incident,) = find_incidents({"HV11": [event]}).incidents
    assert incident.vm == "APP9" and incident.explanation.causes[0].id == "virtual_switch_missing"


def _high_availability_json(tmp_path: Path, event_id: int, values: list[str]) -> Path:
    """Get-WinEvent | ConvertTo-Json of one High-Availability event without its Message."""
    item = {
        "TimeCreated": "2026-11-21T08:14:03Z",
        "Id": event_id,
        "ProviderName": "Microsoft-Windows-Hyper-V-High-Availability",
        "LogName": "Microsoft-Windows-Hyper-V-High-Availability-Admin",
        "Level": 2,
        "Properties": [{"Value": value} for value in values],
    }
    path = tmp_path / "ha.json"
    path.write_text(json.dumps([item]))
    return path


def test_get_winevent_json_without_message_uses_the_manifest_parameter(tmp_path: Path) -> None:
    path = _high_availability_json(
        tmp_path,
        21502,
        [
            "Virtual Machine APP9",
            "0F1E2D3C-4B5A-6978-8796-A5B4C3D2E1F0",
            "'APP9' failed to live migrate because a virtual switch used by the VM does not exist on 'HV12'.",
        ],
    )
    (event,) = read_event_file(path)
    assert event.message.startswith("'APP9' failed to live migrate")


POSITIONAL = DATA / "events" / "providers-positional.xml"


def test_each_providers_positional_parameters_are_read_in_order() -> None:
    """Without rendered text, a known template is filled (VMMS 20415, High-Availability 21159,
    ComputeLib 1001); otherwise the insertion strings are joined in their numeric order."""
    messages = {(e.provider.rsplit("-", 1)[-1], e.id): e.message for e in read_event_file(POSITIONAL)}
    assert messages[("VMMS", 20415)] == (
        "The Virtual Machine Management service successfully completed the live migration of virtual machine "
        "'FS07' with a blackout time of 0.5 seconds (VMID E0D09432-A320-44CC-8A12-E1300549B99D)."
    )
    assert messages[("Availability", 21159)] == (
        "'Virtual Machine WEB07' failed to live migrate because a virtual switch used by the VM does not exist "
        "on the destination node 'HV22'."
    )
    assert messages[("ComputeLib", 1001)].startswith("Starting compute system 'APP8' failed: The virtual machine")
    assert messages[("VMMS", 21502)].endswith("security package (0x8009030E).")
    worker = messages[("Worker", 12030)]
    assert worker.index("Ran out of memory") < worker.index("0x8007000E") < worker.index("Restore of the virtual")


@pytest.mark.parametrize(
    ("provider", "event_id", "cause"),
    [
        ("VMMS", 21502, "credssp_remote_start"),
        ("High-Availability", 21159, "virtual_switch_missing"),
        ("Worker", 12030, "insufficient_memory"),
        ("ComputeLib", 1001, "hypervisor_not_running"),
    ],
)
def test_each_providers_failure_is_explained_from_its_parameters(provider: str, event_id: int, cause: str) -> None:
    (event,) = [e for e in read_event_file(POSITIONAL) if e.id == event_id and e.provider.endswith(provider)]
    (incident,) = find_incidents({"HV21": [event]}).incidents
    assert cause in [c.id for c in incident.explanation.causes[:2]]


def test_a_successful_move_is_not_an_incident() -> None:
    (event,) = [e for e in read_event_file(POSITIONAL) if e.id == 20415]
    assert find_incidents({"HV21": [event]}).incidents == []


def test_a_template_with_fewer_parameters_than_placeholders_renders_them_empty() -> None:
    from lmpreflight.explain.knowledge import knowledge

    entry = knowledge().event(21126, "Microsoft-Windows-Hyper-V-High-Availability")
    assert entry is not None
    assert entry.render(["HV22"]) == "Failed to get the network address for the destination node 'HV22':  ()."


def test_small_event_ids_other_providers_share_are_not_read_from_pasted_text() -> None:
    from lmpreflight.explain.engine import explain_text
    from lmpreflight.explain.knowledge import knowledge

    assert knowledge().event(1001) is None
    assert knowledge().event(1001, "Microsoft-Windows-Hyper-V-ComputeLib") is not None
    explanation = explain_text("Application Error, Event ID 1000: Faulting application name: app.exe")
    assert not [m for m in explanation.matches if m.kind == "event"]


def test_get_winevent_json_properties_fill_the_manifest_template(tmp_path: Path) -> None:
    (event,) = read_event_file(_high_availability_json(tmp_path, 21145, ["Virtual Machine APP9", "HV12"]))
    assert event.message == (
        "'Virtual Machine APP9' failed to live migrate because a virtual switch used by the VM is disconnected "
        "on the destination node 'HV12'."
    )


def test_truncated_evtx_says_so(tmp_path: Path, capsys, monkeypatch) -> None:
    whole = (DATA / "system.evtx").read_bytes()
    half = tmp_path / "half.evtx"
    half.write_bytes(whole[: len(whole) // 2])
    code, out, err = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(half))
    assert "truncated" in err and "failures in the missing part are not shown" in err
    header_only = tmp_path / "header.evtx"
    header_only.write_bytes(whole[:4096])
    code, out, err = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(header_only))
    assert code == 2 and "no event could be read" in err and "No migration failures" not in out


def test_xml_without_events_is_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "a.xml"
    path.write_text("<a></a>" * 1000)
    code, _out, err = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(path))
    assert code == 2 and "no event could be read" in err


def test_hostile_event_text_is_data(tmp_path: Path, capsys, monkeypatch) -> None:
    hostile = [
        {
            "TimeCreated": "2026-11-20T10:00:00Z",
            "Id": 21502,
            "ProviderName": "Microsoft-Windows-Hyper-V-VMMS",
            "LogName": "Microsoft-Windows-Hyper-V-VMMS-Admin",
            "Level": 2,
            "MachineName": "HV01",
            "Message": "Live migration of 'X' failed \u001b]52;c;U3RvcC1Db21wdXRlcg==\u0007 \u001b[2J (0x8007274D)",
        }
    ]
    path = tmp_path / "hostile.json"
    path.write_text(json.dumps(hostile))
    code, out, _ = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(path))
    assert code == 1 and "\x1b" not in out and "\x07" not in out


def test_many_events_are_grouped_without_comparing_every_pair() -> None:
    from datetime import UTC, datetime, timedelta

    from lmpreflight.facts.model import EventRecord

    start = datetime(2026, 11, 20, tzinfo=UTC)
    events = [
        EventRecord(
            time_created=start + timedelta(seconds=i),
            id=21502,
            provider="Microsoft-Windows-Hyper-V-VMMS",
            channel="Microsoft-Windows-Hyper-V-VMMS-Admin",
            level="Error",
            message=f"Live migration of 'Virtual Machine VM{i % 30}' failed (0x8009030E)",
        )
        for i in range(3000)
    ]
    incidents = find_incidents({"HV01": events}).incidents
    assert len(incidents) == 200, "the latest incidents, capped"
    assert all(len(i.events) <= 50 for i in incidents)
    assert {i.vm for i in incidents} == {f"VM{n}" for n in range(30)}
    assert min(i.started for i in incidents) > start, "the earliest incidents are the ones left out"


@pytest.mark.parametrize("name", ["not-there.evtx", "garbage.evtx"])
def test_bad_event_files_are_one_line(name: str, tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / name
    if name.startswith("garbage"):
        path.write_bytes(b"\x00\x01 not an event log")
    code, _, err = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(path))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert str(path) in err


def test_evtx_copied_under_another_name_is_still_read(tmp_path: Path, capsys, monkeypatch) -> None:
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
    registry, selection = load_checks(include_plugins=False), selection_for(scenario)
    results = evaluate(registry, source, destination, selection)
    events = {source.name: source.events, destination.name: destination.events}
    incidents = explain_failures(events, source, destination, registry, selection, results).incidents
    assert [i.explanation.causes[0].id for i in incidents] == scenario.expect.diagnosis
    assert all(i.explanation.causes[0].confidence == "high" for i in incidents), "confirmed by the hosts' facts"


def test_diagnose_command_writes_the_failures_into_the_reports(tmp_path: Path, capsys, monkeypatch) -> None:
    scenario = load_scenario("delegation-missing")
    reports = ["--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html")]
    with Lab(scenario) as lab:
        code, out, err = invoke_on_lab(
            capsys, monkeypatch, lab, scenario, "diagnose", *LAB_PAIR, "--since", "2h", *reports
        )
    assert code == 1, err
    assert "Recent migration failures: 1" in out
    assert "Kerberos constrained delegation to the destination's migration service is missing" in out
    document = validate_report_json((tmp_path / "r.json").read_text())
    assert document["events_collected"] and document["incidents"][0]["vm"] == "WEB02"
    assert "Recent migration failures" in (tmp_path / "r.html").read_text()


def test_since_is_validated(capsys, monkeypatch) -> None:
    code, _, err = invoke_with_password(capsys, monkeypatch, "diagnose", "a", "b", "--since", "yesterday")
    assert code == 2 and "--since yesterday: expected hours or days, like 24h or 7d" in err


def test_since_is_refused_before_the_password_is_looked_for(capsys, monkeypatch) -> None:
    """No password variable and no terminal: the bad --since is what the admin hears about."""
    monkeypatch.delenv("PW", raising=False)
    since = ["--since", "yesterday"]
    lines = refused_before_the_password(
        capsys, monkeypatch, "diagnose", "HV01", "HV02", *since, "--user", "C\\x", "--password-env", "PW"
    )
    assert lines == ["lmpreflight: error: --since yesterday: expected hours or days, like 24h or 7d"]


def test_check_collects_no_events() -> None:
    scenario = load_scenario("delegation-missing")
    with Lab(scenario) as lab:
        source, _ = collect_pair(lab, scenario)
    assert source.events is None and not any(e.section == "events" for e in source.errors)


def test_live_diagnose_without_failures_exits_0(capsys, monkeypatch) -> None:
    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        code, out, err = invoke_on_lab(capsys, monkeypatch, lab, scenario, "diagnose", *LAB_PAIR)
    assert code == 0, err
    assert "No migration failures found (0 event(s) read)." in out


@pytest.mark.parametrize(
    "content",
    [
        "[1, 2, 3]",
        '["a"]',
        '[{"TimeCreated": "2026-11-20T10:00:00Z", "Id": 21502, "Properties": 5}]',
        '[{"TimeCreated": "/Date(99999999999999999999)/", "Id": 21502}]',
        "[" * 100_000,
    ],
)
def test_hostile_json_exports_are_one_line_errors(content: str, tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "events.json"
    path.write_text(content)
    code, _, err = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(path))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_live_diagnose_fixes_name_the_hosts_by_the_fqdn_the_facts_hold(capsys, monkeypatch) -> None:
    """The event names HV01 and HV02 by their short names; the facts collected in the same run
    know them as hv01/hv02.corp.example: a generic fix needing the FQDN gets the real one."""
    scenario = load_scenario("switch-missing-on-destination")
    with Lab(scenario) as lab:
        code, out, err = invoke_on_lab(
            capsys, monkeypatch, lab, scenario, "diagnose", *LAB_PAIR, "--vm", "WEB02", "--format", "json"
        )
    assert code == 1, err
    (incident,) = json.loads(out)["incidents"]
    fixes = {cause["id"]: cause["fix"]["powershell"] or "" for cause in incident["explanation"]["causes"]}
    assert "'Microsoft Virtual System Migration Service/hv02.corp.example'" in fixes["kerberos_delegation_missing"]
    assert "Set-ADComputer -Identity 'hv01' -Add" in fixes["kerberos_delegation_missing"]
    shown = "\n".join(fixes.values())
    assert incident["explanation"]["notes"] == [
        "WEB02, named in the events, judged by its own VM checks on the hosts' facts"
    ], "--vm WEB02: Compare-VM ran, so no hint to run it"
    assert not any(
        marker in shown for marker in ("<DestinationFQDN>", "<SourceFQDN>", "<SourceHost>", "<DestinationHost>")
    )


def _switch_failure(vm: str, minutes: int) -> dict[str, object]:
    """A Get-WinEvent JSON record of event 21502 for ``vm``'s move failing on a missing switch."""
    return {
        "Message": f"Live migration of 'Virtual Machine {vm}' failed. Virtual machine migration operation for "
        f"'{vm}' failed at migration source 'HV01'. '{vm}' failed to live migrate because a virtual switch used "
        "by the VM doesn't exist on the destination node 'HV02'.",
        "Id": 21502,
        "Level": 2,
        "LevelDisplayName": "Error",
        "ProviderName": "Microsoft-Windows-Hyper-V-VMMS",
        "LogName": "Microsoft-Windows-Hyper-V-VMMS-Admin",
        "MachineName": "HV01.corp.example",
        "TimeCreated": f"/Date({1795169101000 + minutes * 60_000})/",
    }


def test_each_failure_is_judged_by_the_checks_of_the_vm_it_names(tmp_path: Path, capsys, monkeypatch) -> None:
    """In the broken example WEB02's switch is missing on HV02 and SQL01's is not: the same
    message about SQL01 is not confirmed by WEB02's problem, and each incident says what judged it."""
    events = tmp_path / "hv01.json"
    records = [_switch_failure("SQL01", 0), _switch_failure("WEB02", 10), _switch_failure("FILE03", 20)]
    records.append(_switch_failure("GHOST01", 30))
    events.write_text(json.dumps(records))
    code, out, err = invoke(capsys, monkeypatch, "diagnose", "--format", "json", "--evtx", str(events), *FACTS_ARGS)
    assert code == 1, err
    by_vm = {i["vm"]: i["explanation"] for i in validate_report_json(out)["incidents"]}
    web02, sql01 = by_vm["WEB02"]["causes"][0], by_vm["SQL01"]["causes"][0]
    assert web02["id"] == sql01["id"] == "virtual_switch_missing", "the text names the cause either way"
    assert web02["confidence"] == "high" and "External-DMZ" in web02["fix"]["powershell"]
    assert sql01["confidence"] != "high" and "the hosts' facts speak against it" in sql01["ranking"]
    assert [c["message"] for c in sql01["checks"]] == ["SQL01: switches External-Prod exist on the destination"]
    assert by_vm["SQL01"]["notes"] == [
        "SQL01, named in the events, judged by its own VM checks on the hosts' facts; Hyper-V's own dry run "
        "(Compare-VM) is not in these facts: a live diagnose or check with --vm SQL01 runs it"
    ]
    assert by_vm["FILE03"]["notes"] == [
        "FILE03 is not on HV01, so its VM checks were not run (it is on HV02: for a move from there, run diagnose "
        "HV02 HV01); judged by the host checks alone"
    ]
    assert by_vm["GHOST01"]["notes"][0].startswith("GHOST01 is not on HV01, so its VM checks were not run;")


def test_live_diagnose_without_vm_judges_the_vm_the_failure_names(tmp_path: Path, capsys, monkeypatch) -> None:
    """No --vm: the failed move of WEB02 in HV01's log is still confirmed by WEB02's own checks
    over the real transport, and every report says WEB02 was judged."""
    scenario = load_scenario("switch-missing-on-destination")
    reports = ["--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html")]
    with Lab(scenario) as lab:
        code, out, err = invoke_on_lab(capsys, monkeypatch, lab, scenario, "diagnose", *LAB_PAIR, *reports)
    assert code == 1, err
    assert "[high confidence]" in out and "check vm.switches-on-destination: FAIL WEB02 uses switch(es)" in out
    assert "note: WEB02, named in the events, judged by its own VM checks on the hosts' facts" in out
    assert "Verdict: READY\n" in out and "(exit code 0)" not in out, "diagnose exits 1: no contradicting exit code"
    (incident,) = validate_report_json((tmp_path / "r.json").read_text())["incidents"]
    first = incident["explanation"]["causes"][0]
    assert first["id"] == "virtual_switch_missing" and first["confidence"] == "high"
    assert "New-VMSwitch -Name 'External-Prod'" in first["fix"]["powershell"]
    assert "WEB02, named in the events, judged by its own VM checks" in (tmp_path / "r.html").read_text()


def _events_denied(name: str, host: str) -> Scenario:
    """The scenario with ``host``'s event logs unreadable, as Get-WinEvent answers without the right."""
    scenario = load_scenario(name)
    denied = scenario.hosts[host].model_copy(
        update={"section_errors": {"events": "Attempted to perform an unauthorized operation."}}
    )
    return scenario.model_copy(update={"hosts": {**scenario.hosts, host: denied}})


def test_logs_not_read_are_never_reported_as_no_failures(capsys, monkeypatch) -> None:
    """healthy logs nothing; with HV02's logs unreadable "no failures" is not known: exit 3, said in one line."""
    scenario = _events_denied("healthy", "HV02")
    with Lab(scenario) as lab:
        code, _, err = invoke_on_lab(capsys, monkeypatch, lab, scenario, "diagnose", *LAB_PAIR)
    assert code == 3, err
    assert err.strip().splitlines() == [
        "lmpreflight: warning: HV02's event logs could not be read (Attempted to perform an unauthorized operation.): "
        "failed moves logged there are not shown"
    ]


def test_failures_found_on_one_host_are_reported_while_the_other_is_unread(capsys, monkeypatch) -> None:
    scenario = _events_denied("delegation-missing", "HV02")
    with Lab(scenario) as lab:
        code, out, err = invoke_on_lab(capsys, monkeypatch, lab, scenario, "diagnose", *LAB_PAIR)
    assert code == 1, err
    assert "Recent migration failures: 1" in out and "HV02's event logs could not be read" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xcd\x00\xff" * 1000, "not text (neither UTF-8 nor UTF-16) and not an .evtx file"),
        (b"[" * 200_000, "nested too deeply to be an event export"),
        (b"{}", "not a readable event export (an event without TimeCreated)"),
    ],
)
def test_an_unreadable_export_says_why_in_the_admins_words(
    content: bytes, message: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    """No Python internals ('utf-8' codec …, Invalid isoformat string: 'None') in what the admin reads."""
    path = tmp_path / "events.json"
    path.write_bytes(content)
    code, out, err = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(path))
    assert (code, out) == (2, "")
    assert err.startswith(f"lmpreflight: error: {path}: {message}") and len(err.splitlines()) == 1


HOST_WIDE = (
    "The Virtual Machine Management Service failed to authenticate the connection for a Virtual Machine migration "
    "at the source host: no suitable credentials available. (0x8009030E)"
)


def _three_failures() -> Scenario:
    """The switch scenario with failed moves of WEB02 and SQL01 and one that names no VM (the
    host's authentication), each far from the others in time: three incidents."""
    scenario = load_scenario("switch-missing-on-destination")
    host = scenario.hosts["HV01"]
    sql01 = host.events[0].message.replace("WEB02", "SQL01")
    events = [
        host.events[0],
        host.events[0].model_copy(update={"minutes_ago": 50.0, "message": sql01}),
        host.events[0].model_copy(update={"id": 20306, "minutes_ago": 20.0, "message": HOST_WIDE}),
    ]
    return scenario.model_copy(update={"hosts": {**scenario.hosts, "HV01": host.model_copy(update={"events": events})}})


def _exported(events: list[EventRecord]) -> list[dict[str, object]]:
    """Events as Get-WinEvent | ConvertTo-Json writes them."""
    return [
        {
            "Message": e.message,
            "Id": e.id,
            "Level": 2,
            "LevelDisplayName": e.level,
            "ProviderName": e.provider,
            "LogName": e.channel,
            "MachineName": e.computer,
            "TimeCreated": f"/Date({int(e.time_created.timestamp() * 1000)})/",
        }
        for e in events
    ]


def test_vm_shows_its_own_and_the_hosts_failures_live_and_from_exported_logs(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """--vm WEB02: WEB02's failed move and the host-wide one, not SQL01's, whether the logs are
    read live from the lab or exported from it (with and without the hosts' facts)."""
    scenario = _three_failures()
    with Lab(scenario) as lab:
        shown = {}
        for vms in ((), ("--vm", "WEB02")):
            code, out, err = invoke_on_lab(
                capsys, monkeypatch, lab, scenario, "diagnose", *LAB_PAIR, *vms, "--format", "json"
            )
            assert code == 1, err
            shown[vms] = [i["vm"] for i in json.loads(out)["incidents"]]
        source, destination = collect_pair(lab, scenario, events_hours=24)
    assert shown[()] == ["WEB02", "SQL01", None]
    assert shown[("--vm", "WEB02")] == ["WEB02", None]
    assert source.events is not None
    export = tmp_path / "hv01.json"
    export.write_text(json.dumps(_exported(source.events)))
    facts = [tmp_path / "hv01-facts.json", tmp_path / "hv02-facts.json"]
    save_host_facts(source, facts[0])
    save_host_facts(destination, facts[1])
    for with_facts in ((), ("--facts", *map(str, facts))):
        args = ("--evtx", str(export), *with_facts, "--vm", "web02", "--format", "json")
        code, out, err = invoke(capsys, monkeypatch, "diagnose", *args)
        assert code == 1, err
        assert [i["vm"] for i in json.loads(out)["incidents"]] == shown[("--vm", "WEB02")], with_facts


def test_newer_failures_of_other_vms_never_push_out_the_vms_asked_for(tmp_path: Path, capsys, monkeypatch) -> None:
    """Only the latest 200 incidents are kept: with --vm, they are the latest of that VM (and of
    none), so 250 later failed moves of other VMs leave WEB02's in the answer."""
    records = [_switch_failure("WEB02", 0)] + [_switch_failure(f"VM{n:03}", 10 + 3 * n) for n in range(250)]
    events = tmp_path / "hv01.json"
    events.write_text(json.dumps(records))
    code, out, err = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(events), "--vm", "WEB02", "--format", "json")
    assert code == 1, err
    assert [i["vm"] for i in json.loads(out)["incidents"]] == ["WEB02"]
    assert json.loads(out)["incidents_of_other_vms"] == 250 and json.loads(out)["incidents_older"] == 0
    _, out, _ = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(events), "--format", "json")
    assert len(json.loads(out)["incidents"]) == 200 and "WEB02" not in {i["vm"] for i in json.loads(out)["incidents"]}
    assert json.loads(out)["incidents_older"] == 51 and json.loads(out)["incidents_of_other_vms"] == 0


def test_the_failures_left_out_are_counted_under_those_shown(tmp_path: Path, capsys, monkeypatch) -> None:
    """Failures found but not shown are counted on the terminal and in Markdown: other VMs'
    with --vm, and the oldest past the latest 200 (each failure below is its own move)."""
    records = [_switch_failure("WEB02", 0), _switch_failure("SQL01", 5), _switch_failure("APP01", 10)]
    events = tmp_path / "hv01.json"
    events.write_text(json.dumps(records))
    code, out, err = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(events), "--vm", "WEB02")
    assert code == 1, err
    assert "(2 failed move(s) of other VMs not shown with --vm)" in out
    markdown = tmp_path / "failures.md"
    invoke(capsys, monkeypatch, "diagnose", "--evtx", str(events), "--vm", "WEB02", "--markdown", str(markdown))
    assert "2 failed move(s) of other VMs not shown with --vm" in markdown.read_text()
    _, out, _ = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(events))
    assert "not shown" not in out
    many = [_switch_failure(f"VM{n:03}", 3 * n) for n in range(203)]
    events.write_text(json.dumps(many))
    _, out, _ = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(events))
    assert "(3 older failed move(s) not shown: only the latest 200 are)" in out


def test_a_vm_without_failures_is_not_shown_as_a_clean_log(tmp_path: Path, capsys, monkeypatch) -> None:
    """--vm NOPE (a VM without failures, or a name typed wrong) while other VMs failed: the
    answer says that their failures were left out, on the terminal and in Markdown, instead of
    "No migration failures found" as for a clean log."""
    events = tmp_path / "hv01.json"
    events.write_text(json.dumps([_switch_failure("WEB02", 0)]))
    code, out, err = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(events), "--vm", "NOPE")
    assert code == 0, err
    assert "No migration failures of NOPE or of the hosts found" in out
    assert "other VMs' failures are not shown with --vm: 1 failed move(s)" in out
    markdown = tmp_path / "failures.md"
    code, _, err = invoke(
        capsys, monkeypatch, "diagnose", "--evtx", str(events), "--vm", "NOPE", "--markdown", str(markdown)
    )
    assert code == 0, err
    assert "other VMs" in markdown.read_text() and "NOPE" in markdown.read_text()
    code, out, _ = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(events))
    assert code == 1 and "No migration failures" not in out, "without --vm WEB02's failure is shown"
    code, out, _ = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(events), "--vm", "WEB02", "--vm", "NOPE")
    assert code == 1 and "not shown" not in out, "no other VM failed"
    moved = {**_switch_failure("WEB02", 0), "Id": 20415, "Level": 4, "LevelDisplayName": "Information"}
    events.write_text(json.dumps([moved]))
    code, out, _ = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(events), "--vm", "NOPE")
    assert code == 0 and "(1 event(s) read; no other VM's move failed either)" in out, "a clean log reads as one"


def test_live_vm_without_failures_says_other_vms_failures_were_left_out(tmp_path: Path, capsys, monkeypatch) -> None:
    """The same live (the lab's HV01 logged a failed move of WEB02): the terminal, the HTML
    report and the Markdown summary say how many of other VMs' failures are not shown."""
    scenario = load_scenario("switch-missing-on-destination")
    html, markdown = tmp_path / "report.html", tmp_path / "summary.md"
    with Lab(scenario) as lab:
        _, out, err = invoke_on_lab(
            capsys,
            monkeypatch,
            lab,
            scenario,
            "diagnose",
            *LAB_PAIR,
            "--vm",
            "NOPE",
            "--html",
            str(html),
            "--markdown",
            str(markdown),
        )
    assert "No migration failures of NOPE or of the hosts found" in out, err
    assert "of NOPE or of the hosts found" in html.read_text()
    assert "other VMs&#39;" in html.read_text() and "not shown with --vm: 1 failed move(s)" in html.read_text()
    assert "### Recent migration failures" in markdown.read_text()
    assert "not shown with --vm: 1 failed move(s)" in markdown.read_text(), markdown.read_text()
