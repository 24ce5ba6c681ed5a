"""explain: every documented failure gets its cause near the top; facts put the right one first."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from lmpreflight.explain.decode import decode, parse_number
from lmpreflight.explain.engine import MAX_TEXT, explain_text
from lmpreflight.explain.knowledge import knowledge
from lmpreflight.registry import load_checks
from lmpreflight.runner import Selection, evaluate
from tests.helpers import REPO, full_run, healthy_pair, invoke

CASES = [json.loads(line) for line in (REPO / "tests" / "data" / "lm-error-cases.jsonl").read_text().splitlines()]
# The article files kb-017 under "other"; the knowledge base names that cause.
CAUSE_NAMES = {"other": "computer_name_not_upper_case"}


def expected(case: dict[str, Any]) -> str:
    return CAUSE_NAMES.get(case["cause"], case["cause"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_documented_cause_is_ranked_first_or_second(case: dict[str, Any]) -> None:
    ranked = [c.id for c in explain_text(case["error_text"]).causes]
    assert expected(case) in ranked[:2], ranked[:3]


def _set(role: str, path: str, value: Any) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def mutate(source: dict[str, Any], destination: dict[str, Any]) -> None:
        doc = source if role == "source" else destination
        *parents, last = path.split(".")
        for part in parents:
            doc = doc[int(part)] if part.isdigit() else doc[part]
        doc[last] = value

    return mutate


FACTS_THAT_CONFIRM = {
    "kb-001": _set("destination", "switches", [{"name": "Other", "switch_type": "External"}]),
    "kb-016": _set("destination", "switches", [{"name": "Other", "switch_type": "External"}]),
    "kb-002": _set("source", "network.port_tests", [{"address": "10.0.50.12", "port": 6600, "succeeded": False}]),
    "kb-005": _set("source", "network.port_tests", [{"address": "10.0.50.12", "port": 6600, "succeeded": False}]),
    "kb-003": _set("destination", "memory.available_bytes", 1024**3),
    "kb-009": _set("destination", "memory.available_bytes", 1024**3),
    "kb-004": _set("source", "vms.0.dvd_drives", [{"path": "C:\\ISO\\x.iso", "kind": "iso"}]),
    "kb-006": _set("destination", "processor.manufacturer", "AuthenticAMD"),
    "kb-007": _set("destination", "processor.manufacturer", "AuthenticAMD"),
    "kb-010": _set("source", "directory.computer.allowed_to_delegate_to", []),
    "kb-011": _set("source", "directory.computer.allowed_to_delegate_to", []),
    "kb-012": _set("destination", "session.is_administrator", False),
    "kb-014": _set("destination", "migration.networks", [{"subnet": "10.0.10.0/24", "priority": 0}]),
}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c["id"])
def test_with_facts_the_documented_cause_ranks_first(case: dict[str, Any]) -> None:
    mutate = FACTS_THAT_CONFIRM.get(case["id"])

    def change(source: dict[str, Any], destination: dict[str, Any]) -> None:
        destination["session"]["is_hyperv_administrator"] = case["id"] != "kb-012"
        if case["id"] == "kb-014":  # the routable network is not a migration network of the destination
            source["network"]["adapters"] = source["network"]["adapters"][:1]
        if mutate:
            mutate(source, destination)

    source, destination = healthy_pair(change)
    results = full_run(source, destination, ("SQL01", "WEB02"))
    ranked = explain_text(case["error_text"], results, "Kerberos").causes
    assert ranked[0].id == expected(case), [(c.id, c.score) for c in ranked[:3]]


def test_0x8009030e_is_ranked_by_what_the_hosts_say() -> None:
    text = "Virtual machine migration operation for 'SQL01' failed at migration source 'HV01'. (0x8009030E)"

    def credssp(source: dict[str, Any], destination: dict[str, Any]) -> None:
        source["migration"]["authentication_type"] = destination["migration"]["authentication_type"] = "CredSSP"

    for mutate, auth, first in (
        (credssp, "CredSSP", "credssp_remote_start"),
        (_set("source", "directory.computer.allowed_to_delegate_to", []), "Kerberos", "kerberos_delegation_missing"),
        (_set("source", "directory.computer.user_account_control", 4096), "Kerberos", "kerberos_only_delegation"),
        (None, "Kerberos", "stale_kerberos_tickets"),
    ):
        source, destination = healthy_pair(mutate)
        # The move that failed was started from another machine (--move-from remote).
        selection = Selection(vms=("SQL01",), move_from="remote")
        results = evaluate(load_checks(include_plugins=False), source, destination, selection)
        ranked = explain_text(text, results, auth).causes
        assert ranked[0].id == first
        assert ranked[0].confidence == "high"
    assert "klist purge -li 0x3e7" in (ranked[0].fix.powershell or "")


@pytest.mark.parametrize(
    "text",
    [
        "Fehler bei der Livemigration des virtuellen Computers 'SQL01' auf dem Migrationsquellcomputer 'HV01'. (0x8009030E)",
        "仮想マシン 'SQL01' のライブ マイグレーションは移行元 'HV01' で失敗しました。(0x8009030E)",
        "イベント ID 21502: 操作が失敗しました。エラー 0x8009030E",
    ],
)
def test_other_languages_match_by_code(text: str) -> None:
    explanation = explain_text(text)
    assert [m.value for m in explanation.matches if m.kind == "code"] == ["0x8009030E"]
    assert explanation.causes[0].id == "credssp_remote_start"


@pytest.mark.parametrize(
    ("text", "note"),
    [
        ("", "nothing recognised"),
        ("\x00\x01\x02garbage\x00" * 1000, "not text"),
        ("the quick brown fox " * 262_144, "nothing recognised"),
    ],
)
def test_odd_input_gets_a_clear_answer(text: str, note: str) -> None:
    explanation = explain_text(text)
    assert explanation.causes == [] and any(note in n for n in explanation.notes)


def test_a_5mb_paste_of_real_errors_is_explained() -> None:
    text = ("Event ID 21502: Live migration of 'SQL01' failed. (0x8007274C)\r\n" * 90_000)[: 5 * 1024 * 1024]
    explanation = explain_text(text)
    assert explanation.causes[0].id == "migration_network_unreachable_or_firewall"


def test_twenty_different_codes() -> None:
    codes = [f"0x8007{n:04X}" for n in (5, 14, 87, 1326, 1385, 1450, 10013, 10054, 10060, 10061)] + [
        "0x8009030E",
        "0x8009030D",
        "0x80090322",
        "0x80090311",
        "0xC03A0014",
        "0x80041024",
        "0x80004005",
        "0xC0000022",
        "0x80042001",
        "0xDEADBEEF",
    ]
    explanation = explain_text(" ".join(codes))
    assert [m.value for m in explanation.matches] == codes
    assert all(m.meaning for m in explanation.matches)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0x8009030E", 0x8009030E),
        ("8009030E", 0x8009030E),
        ("2148074254", 0x8009030E),
        ("-2146893042", 0x8009030E),
        ("10060", 10060),
        ("(0x80070005).", 0x80070005),
        ("nonsense", None),
    ],
)
def test_number_forms(text: str, value: int | None) -> None:
    assert parse_number(text) == value


def test_decoding_names_win32_and_ntstatus_and_never_says_unknown() -> None:
    access = decode(0x80070005)
    assert (access.kind, access.facility_name, access.win32_code, access.name) == (
        "HRESULT",
        "WIN32",
        5,
        "ERROR_ACCESS_DENIED",
    )
    vhd = decode(0xC03A0014)
    assert (vhd.kind, vhd.facility, vhd.name) == ("NTSTATUS", 0x3A, "STATUS_VIRTDISK_PROVIDER_NOT_FOUND")
    odd = decode(0x80AB1234)
    assert odd.kind == "HRESULT" and odd.facility == 0xAB and odd.code == 0x1234 and "unknown" not in odd.structure()


def test_knowledge_base_is_complete_and_cited() -> None:
    kb = knowledge()
    checks = load_checks(include_plugins=False).checks
    for cause_id, cause in kb.causes.items():
        assert set(cause.checks) <= set(checks), cause_id
        assert set(cause.likely_when_passing) <= set(checks), cause_id
        assert kb.reference(cause.source).startswith("https://"), cause_id
    for entry in kb.codes:
        assert kb.reference(entry.source).startswith("https://")
    assert {c["cause"] for c in CASES} - {"other"} <= set(kb.causes)


def test_cli_explain_text_json_and_stdin(capsys, monkeypatch, tmp_path: Path) -> None:
    code, out, _ = invoke(capsys, monkeypatch, "explain", "0x8009030E")
    assert code == 0 and "SEC_E_NO_CREDENTIALS" in out and "Most likely causes:" in out
    code, out, _ = invoke(capsys, monkeypatch, "explain", "--json", "Event ID 21125: Configuration setup failed")
    document = json.loads(out)
    jsonschema.validate(document, json.loads((REPO / "schemas" / "explanation.schema.json").read_text()))
    assert document["causes"][0]["id"] == "virtual_switch_missing"
    code, out, _ = invoke(capsys, monkeypatch, "explain", "-2146893042")
    assert code == 0 and "0x8009030E" in out


def test_cli_explain_unknown_code_exits_1_and_all_shows_every_cause(capsys, monkeypatch) -> None:
    code, out, _ = invoke(capsys, monkeypatch, "explain", "0x12345678")
    assert code == 1 and "nothing recognised" in out and "facility 564" in out
    code, out, _ = invoke(capsys, monkeypatch, "explain", "0x8009030E")
    assert "less likely cause(s) not shown" in out
    shown = out.count("confidence]")
    code, out, _ = invoke(capsys, monkeypatch, "explain", "--all", "0x8009030E")
    document = json.loads(invoke(capsys, monkeypatch, "explain", "--json", "0x8009030E")[1])
    assert code == 0 and "not shown" not in out
    assert out.count("confidence]") == len(document["causes"]) > shown


def test_cli_explain_usage_errors(capsys, monkeypatch) -> None:
    import io
    import sys

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    code, _, err = invoke(capsys, monkeypatch, "explain", "-")
    assert code == 2 and "no error text" in err
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("Fehler (0x8009030E)".encode("utf-16"))))
    code, out, _ = invoke(capsys, monkeypatch, "explain", "-")
    assert code == 0 and "SEC_E_NO_CREDENTIALS" in out


def test_committed_explanation_schema_is_current() -> None:
    from lmpreflight.explain.engine import explanation_json_schema

    assert (REPO / "schemas" / "explanation.schema.json").read_text() == explanation_json_schema()


def test_facts_checks_run_for_the_vm_the_error_names(capsys, monkeypatch) -> None:
    from tests.helpers import EXAMPLES

    text = (
        "Live migration of 'Virtual Machine WEB02' failed. 'WEB02' failed to live migrate because a virtual switch "
        "used by the VM doesn't exist on the destination node 'HV03'."
    )
    code, out, _ = invoke(
        capsys,
        monkeypatch,
        "explain",
        "--json",
        "--facts",
        str(EXAMPLES / "broken" / "source.json"),
        str(EXAMPLES / "broken" / "destination.json"),
        text,
    )
    first = json.loads(out)["causes"][0]
    assert code == 0 and first["id"] == "virtual_switch_missing" and first["confidence"] == "high"
    assert "New-VMSwitch -Name 'External-DMZ'" in first["fix"]["powershell"], "the check's own fix, with the real name"


# --- Knowledge as data: every entry is sourced, has causes with fixes, and its examples match it. ---

MESSAGES = knowledge().messages


def test_every_cause_has_a_source_and_a_fix() -> None:
    kb = knowledge()
    for cause_id, cause in kb.causes.items():
        assert cause.fix.text and cause.title and cause.why, cause_id
        assert kb.reference(cause.source).startswith("https://"), cause_id
    for entry in [*kb.events, *kb.tool_codes, *kb.messages]:
        reference = kb.reference(entry.source)
        assert reference.startswith(("https://", "text: ")), entry


@pytest.mark.parametrize("entry", MESSAGES, ids=lambda e: e.id)
def test_every_message_has_an_example_per_language_and_each_example_ranks_its_cause(entry: Any) -> None:
    assert entry.causes, entry.id
    assert set(entry.match) == set(entry.examples), f"{entry.id}: a language without examples, or the reverse"
    assert set(entry.translated) <= set(entry.match)
    for language, examples in entry.examples.items():
        assert examples, (entry.id, language)
        for example in examples:
            explanation = explain_text(example)
            hits = [m for m in explanation.matches if m.kind == "message" and m.meaning == entry.meaning]
            assert hits, (entry.id, language, example)
            assert entry.causes[0] in [c.id for c in explanation.causes[:2]], (entry.id, language)


def test_every_windows_server_ui_language_is_covered() -> None:
    from lmpreflight.explain.knowledge import LANGUAGES

    covered = {language for entry in MESSAGES for language in entry.match}
    assert covered == set(LANGUAGES)
    for language in LANGUAGES:
        assert sum(language in entry.match for entry in MESSAGES) >= 12, language


# --- Text as admins paste it: wrong code page, quotes, names, GUIDs and paths. ---


def test_utf8_read_as_windows_1252_is_repaired_before_matching() -> None:
    german = (
        "Der virtuelle Switch „Prod-Ä“ für „SQL01“ wurde auf dem Zielhost nicht gefunden. Überprüfen Sie den Namen."
    )
    mangled = german.encode("utf-8").decode("cp1252")
    assert "Ã" in mangled
    assert explain_text(mangled).causes[0].id == "virtual_switch_missing"
    import ftfy.bad_codecs  # noqa: F401 - registers the code page Windows consoles really use

    japanese = "仮想マシン 'W11-01' のキー保護機能をラップ解除できませんでした。"
    shown = japanese.encode("utf-8").decode("sloppy-windows-1252")
    assert explain_text(shown).causes[0].id == "vtpm_key_protector"


def test_names_guids_and_paths_do_not_disturb_a_pattern() -> None:
    text = (
        "Move-VM : Virtual machine migration operation for “Finance DB (prod) #2” failed at migration destination "
        "“HV-EAST-07.corp.example”. (Virtual machine ID {8F14E45F-CEEA-467A-9575-6B5F1C0E2B11}) "
        "The Virtual Machine Management Service failed to register the configuration for the virtual machine "
        "at 'E:\\Hyper-V\\Finance DB (prod) #2\\Virtual Machines': The system cannot find the path specified."
    )
    assert explain_text(text).causes[0].id == "destination_path_missing"


# --- Groups written for these tests (not the knowledge base's own examples). ---

GROUPS = [
    # Cmdlet and VMMS messages without a code, matched by meaning.
    (
        "Move-VM : Migration did not succeed. The source host 'HVA' is not configured for live migration.",
        "migration_disabled_or_vmms_down",
    ),
    (
        "Move-VM: live migrations have been disabled on HV-B2; run Enable-VMMigration and retry.",
        "migration_disabled_or_vmms_down",
    ),
    (
        "Compare-VM -Path D:\\exp\\x.vmcx -DestinationHost HV7 reports: Could not find Ethernet switch 'Trunk-LACP'.",
        "virtual_switch_missing",
    ),
    (
        "Import-VM : Unable to import the virtual machine: Could not find Ethernet switch 'External'.",
        "virtual_switch_missing",
    ),
    ("Set-VMHost : The Virtual Machine Management Service on HV9 is not running.", "migration_disabled_or_vmms_down"),
    # Other languages, with and without codes.
    ("Move-VM : La migración en vivo no está habilitada en el host «HVX».", "migration_disabled_or_vmms_down"),
    ("Move-VM : Виртуальный коммутатор «LAN» не найден на узле HV2.", "virtual_switch_missing"),
    ("Move-VM : 가상 스위치 'Uplink'을(를) 찾을 수 없습니다.", "virtual_switch_missing"),
    ("Move-VM : 虛擬機器 'APP' 的移轉失敗: 找不到虛擬交換器 'vs1'。", "virtual_switch_missing"),
    ("Move-VM : 由于目标计算机积极拒绝，无法连接。", "migration_network_unreachable_or_firewall"),
    (
        "Move-VM : La connessione è stata chiusa. Connessione in corso interrotta forzatamente dall'host remoto.",
        "migration_network_unreachable_or_firewall",
    ),
    # Other tools' wrappers.
    (
        "Error (12700) VMM cannot complete the host operation on the hv02.corp.example server because of the error: "
        "Virtual machine migration operation for 'SQL01' failed at migration source 'HV01'. No connection could be made "
        "because the target machine actively refused it. (0x8007274D)",
        "migration_network_unreachable_or_firewall",
    ),
    (
        "Error (10698) The virtual machine (W11-VDI-04) could not be live migrated to the virtual machine host (HV03.corp.example) "
        "using this cluster configuration.",
        "vtpm_key_protector",
    ),
    (
        "Error (12711) VMM cannot complete the WMI operation on the server (hv05) because of an error: "
        "[Msvm_VirtualSystemMigrationService] The key protector for the virtual machine could not be unwrapped.",
        "vtpm_key_protector",
    ),
    ("Invoke-CimMethod MigrateVirtualSystemToHost ... ReturnValue : 32784", "processor_incompatible"),
    ("Msvm_ConcreteJob: JobState 10, ErrorCode = 32769, ErrorDescription: Access denied", "insufficient_permissions"),
    (
        "System.Net.Sockets.SocketException (10060): connect to 10.0.50.12:6600",
        "migration_network_unreachable_or_firewall",
    ),
    ("socket connect failed: WSAECONNREFUSED", "migration_network_unreachable_or_firewall"),
    ("recv() failed with error 10054", "migration_network_unreachable_or_firewall"),
    (
        "[HV02] Connecting to remote server HV02 failed with the following error message : The client cannot connect to the "
        "destination specified in the request. For more information, see the about_Remote_Troubleshooting Help topic.",
        "winrm_unreachable",
    ),
    (
        "The WinRM client cannot process the request. Default authentication may be used with an IP address under the "
        "following conditions: ... or the destination is in the TrustedHosts list.",
        "winrm_unreachable",
    ),
    # The causes that were missing.
    ("The key protector for the virtual machine 'DC-LAB' could not be unwrapped.", "vtpm_key_protector"),
    (
        "'APP2' could not start: Cannot restore this virtual machine because the saved state data cannot be read (0xC0370027).",
        "saved_state_unreadable",
    ),
    ("Event ID 20413 at 97 %: failed to register the configuration for 'FS02'.", "destination_path_missing"),
    ("Move-VM : No matching virtual switch found on the destination.", "virtual_switch_missing"),
    (
        "'SQL03' Failed to get last write time of file '\\\\filer\\hv$\\SQL03.vhdx'. Error: 59. HRESULT = 0x80048054",
        "nas_smb_oplock",
    ),
    (
        "Move-VM failed with 0x8009030E; our admin account is in the Protected Users group.",
        "protected_users_or_sensitive",
    ),
    (
        "Failed to establish a connection with host 'HV02': The requested address is not valid in its context. (0x80072741)",
        "vmms_listener_not_bound",
    ),
    # Reports in the words admins use on forums (written for these tests).
    (
        "After the upgrade to Server 2025 CredSSP live migration fails even from the console of the source host (0x8009030E).",
        "credential_guard_blocks_credssp",
    ),
    (
        "Move-VM : Failed to create Planned Virtual Machine at migration destination: The object already exists.",
        "vm_already_on_destination",
    ),
    (
        "Storage move fails: The requested operation could not be completed due to a virtual disk system limitation.",
        "vhd_compressed_or_encrypted",
    ),
    (
        "Move-VM : The operation cannot be performed while the object is in its current state. (VM 'FS' is Backing up)",
        "vm_state_blocks_migration",
    ),
    (
        'Error (12711) VMM cannot complete the WMI operation on the server (hv01) because of an error: [MSCluster_Resource.Name="SCVMM VM01"] The cluster resource could not be found.',
        "cluster_only_error",
    ),
    (
        "Hyper-V Manager: The operation on computer 'HV03' failed: The WinRM client cannot process the request. If the authentication "
        "scheme is different from Kerberos, or if the client computer is not joined to a domain, then HTTPS transport must be used "
        "or the destination machine must be added to the TrustedHosts configuration setting.",
        "winrm_unreachable",
    ),
    (
        "虚拟机“APP01”的实时迁移失败。无法与主机“HV02”建立连接: 由于连接方在一段时间后没有正确答复或连接的主机没有反应，连接尝试失败。",
        "migration_network_unreachable_or_firewall",
    ),
    (
        "Falha na migração ao vivo de 'APP': Nenhuma conexão pôde ser feita porque a máquina de destino as recusou ativamente.",
        "migration_network_unreachable_or_firewall",
    ),
    (
        'Get-VMHostSupportedVersion lists 8.0-10.0 and Move-VM says "The virtual machine version is not supported on this host".',
        "vm_version_unsupported",
    ),
    (
        "Move-VM : You do not have the required permission to complete this task. Contact the administrator of the authorization policy for the computer 'HV2'.",
        "insufficient_permissions",
    ),
]


@pytest.mark.parametrize(("text", "cause"), GROUPS, ids=[g[1] + f"-{i}" for i, g in enumerate(GROUPS)])
def test_each_group_ranks_its_cause_in_the_top_two(text: str, cause: str) -> None:
    ranked = [c.id for c in explain_text(text).causes]
    assert cause in ranked[:2], ranked[:3]


@pytest.mark.parametrize(
    "text",
    [
        "CheckSystemCompatibilityInfo ReturnValue : 32784",
        "MigrateVirtualSystemToHost returned 32784",
        "Msvm_ConcreteJob failed: not compatible (32784)",
    ],
)
def test_wmi_return_values_are_decoded_as_documented(text: str) -> None:
    explanation = explain_text(text)
    (match,) = [m for m in explanation.matches if m.kind == "wmi"]
    assert match.value == "32784" and match.meaning.startswith("Not compatible")


# --- Ranking: what the text names comes first; facts confirm, rule out, and say when they are about other hosts. ---


def test_facts_never_promote_an_unnamed_cause_above_the_one_the_text_names() -> None:
    text = (
        "Event ID 21502: Live migration of 'Virtual Machine SQL01' failed. 'SQL01' failed to live migrate because a "
        "virtual switch used by the VM does not exist on the destination node 'HV02'."
    )
    source, destination = healthy_pair(_set("source", "directory.computer.allowed_to_delegate_to", []))
    ranked = explain_text(text, full_run(source, destination, ("SQL01",)), "Kerberos").causes
    assert ranked[0].id == "virtual_switch_missing"
    assert ranked[0].ranking.startswith("#1: the text names it")
    delegation = next(c for c in ranked if c.id == "kerberos_delegation_missing")
    assert delegation.confidence != "high" and "below the causes the text names" in delegation.ranking


def test_facts_about_other_hosts_are_flagged() -> None:
    source, destination = healthy_pair()
    text = "Failed to establish a connection with host 'HV77': No credentials are available in the security package."
    explanation = explain_text(text, full_run(source, destination, ("SQL01",)), "Kerberos", ("HV01", "HV02"))
    assert any("the error names HV77" in note for note in explanation.notes)
    same = explain_text(
        text.replace("HV77", "HV02"), full_run(source, destination, ("SQL01",)), "Kerberos", ("HV01", "HV02")
    )
    assert not any("error names" in note for note in same.notes)


def test_nothing_recognised_says_what_was_tried_and_what_to_paste() -> None:
    (note,) = explain_text("it just did not work, please help").notes
    assert "Tried:" in note and "languages" in note and "Get-WinEvent" in note


# --- Linear time: long whitespace runs and repeated keywords (hostile pastes). ---


@pytest.mark.parametrize("size", [500, 20_000, 2_000_000])
@pytest.mark.parametrize(
    "shape",
    ["error{ws}x", "event{ws}id{ws}:{ws}21502{ws}x", "0x{ws}8009030e", "error{ws}({ws}12700", "host{ws}'hv02'{ws}" * 3],
)
def test_long_whitespace_runs_are_handled_in_linear_time(shape: str, size: int) -> None:
    text = shape.format(ws=" \t\r\n" * (size // 4))
    explanation = explain_text(text)
    assert explanation.characters == min(len(text), MAX_TEXT)


@pytest.mark.parametrize(
    "text",
    [
        "Ereignis-ID: 21125",
        "ID de l'événement : 21125",
        "Id. del evento: 21125",
        "ID evento: 21125",
        "ID do Evento: 21125",
        "Код события: 21125",
        "イベント ID: 21125",
        "이벤트 ID: 21125",
        "事件 ID: 21125",
        "事件識別碼: 21125",
    ],
)
def test_event_ids_as_event_viewer_shows_them_in_each_language(text: str) -> None:
    explanation = explain_text(text)
    assert [m.value for m in explanation.matches if m.kind == "event"] == ["21125"]
    assert explanation.causes[0].id == "virtual_switch_missing"
