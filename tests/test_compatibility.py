"""Hyper-V's own compatibility verdict: collected as documented, read as documented."""

from __future__ import annotations

from pathlib import Path

from lmpreflight.collect.script import render_collector
from lmpreflight.facts.from_collector import with_reason_messages
from lmpreflight.facts.model import CompatibilityVerdict
from lmpreflight.facts.msvm_error import read_msvm_error
from lmpreflight.lab.environment import Lab
from lmpreflight.lab.hosts import LabHost, LabWorld, compatibility_blob
from lmpreflight.lab.scenario import load_scenario
from tests.lab_helpers import collect_pair

DATA = Path(__file__).parent / "data" / "cim"


def test_an_embedded_msvm_error_gives_its_message_id_and_message() -> None:
    message = read_msvm_error((DATA / "msvm-error-processor.xml").read_text())
    assert message.message_id == "24004"
    assert message.message == (
        "The virtual machine 'SQL01' is using processor-specific features not supported on physical computer 'HV02'."
    )


def test_text_that_is_not_cim_xml_is_kept_as_the_message() -> None:
    assert read_msvm_error("  Msvm_Error  ").message == "Msvm_Error"
    assert read_msvm_error("<INSTANCE><broken").message == "<INSTANCE><broken"


def test_reasons_come_from_the_instances_when_the_host_could_not_format_them() -> None:
    verdict = CompatibilityVerdict(
        vm="SQL01",
        compatible=False,
        return_value=32784,
        reason_instances=[(DATA / "msvm-error-processor.xml").read_text()],
    )
    read = with_reason_messages(verdict)
    assert read.reasons == [read.reason_messages[0].message]
    assert read.reason_messages[0].message_id == "24004"


def test_the_collector_asks_the_migration_service_and_reads_every_return_value() -> None:
    script = render_collector(["SQL01"])
    get_info = script.split("function Get-LmpCompatibilityInfo")[1].split("function ")[0]
    assert "-ClassName Msvm_VirtualSystemMigrationService" in get_info
    assert "Msvm_VirtualSystemManagementService" not in get_info
    check = script.split("function Test-LmpCompatibility")[1]
    assert "if ($code -eq 0) { $verdict = $true } elseif ($code -eq 32784) { $verdict = $false }" in check
    assert "Wait-LmpJob" in check and "FormatError" in check
    assert "catch { return $null }" not in script, "no failure is swallowed without a record"


def test_the_lab_judges_as_hyper_v_does() -> None:
    scenario = load_scenario("processor-model-mismatch")
    host = LabHost(LabWorld(scenario, "CORP\\hvadmin"), "HV02")
    same = compatibility_blob({"manufacturer": "GenuineIntel", "model": "other", "compatibility_mode": True})
    assert host.check_compatibility("SQL01", same)["return_value"] == 0
    garbled = host.check_compatibility("SQL01", "bm90IGEgYmxvYg==")
    assert (garbled["compatible"], garbled["return_value"]) == (None, 32773)
    assert garbled["error"] == "CheckSystemCompatibilityInfo returned 32773"


def test_an_incompatible_vm_arrives_with_hyper_vs_reasons() -> None:
    scenario = load_scenario("processor-model-mismatch")
    with Lab(scenario) as lab:
        _, destination = collect_pair(lab, scenario)
    assert destination.compatibility
    verdict = destination.compatibility[0]
    assert (verdict.compatible, verdict.return_value, verdict.error) == (False, 32784, None)
    assert verdict.reason_messages[0].message_id == "24004"
    assert "processor-specific features" in verdict.reasons[0]


def test_compare_vm_runs_on_the_source_against_the_destination() -> None:
    scenario = load_scenario("switch-missing-on-destination")
    with Lab(scenario) as lab:
        source, destination = collect_pair(lab, scenario)
    assert source.rehearsal is not None and destination.rehearsal is None
    rehearsal = source.rehearsal[0]
    assert rehearsal.destination == lab.fqdn(scenario.role("destination")) and rehearsal.error is None
    assert [i.message_id for i in rehearsal.incompatibilities] == [33012]


def test_compare_vm_started_remotely_with_credssp_fails_to_authenticate_as_a_move_would() -> None:
    scenario = load_scenario("credssp-remote-start")
    with Lab(scenario) as lab:
        source, _ = collect_pair(lab, scenario)
    assert source.rehearsal is not None
    assert source.rehearsal[0].error is not None and "0x8009030E" in source.rehearsal[0].error
    assert not any(e.section == "rehearsal" for e in source.errors)


def test_the_collector_sends_compare_vm_with_storage_options() -> None:
    script = render_collector(["SQL01"])
    rehearsal = script.split("function Invoke-LmpRehearsal")[1].split("\nfunction ")[0]
    assert "-IncludeStorage -DestinationStoragePath" in rehearsal
    assert "incompatibilities = $found" in rehearsal and "[long]$_.MessageId" in rehearsal
