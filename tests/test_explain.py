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


# --- What admins paste: PowerShell error records, Hyper-V Manager dialogs, VMM job output, Event
# Viewer exports, forum prose, mixed languages, wrapped lines and mojibake (written for these tests).

PASTES = [
    # 1 delegation, PowerShell error record, wrapped
    (
        """Move-VM : Virtual machine migration operation for 'FILE01' failed at migration source 'HYPERV-A'. (Virtual machine ID
4B1E0F62-3C9D-4E7A-8F21-6A0B5C4D3E2F)
The Virtual Machine Management Service failed to establish a connection for a Virtual Machine migration with host
'HYPERV-B': No credentials are available in the security package (0x8009030E).
At line:1 char:1
+ Move-VM -Name FILE01 -DestinationHost HYPERV-B -IncludeStorage -DestinationStoragePath D:\\VMs\\FILE01
+ ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    + CategoryInfo          : NotSpecified: (:) [Move-VM], VirtualizationException
    + FullyQualifiedErrorId : OperationFailed,Microsoft.HyperV.PowerShell.Commands.MoveVM""",
        "kerberos_delegation_missing",
    ),
    # 2 CredSSP from workstation: explicit CredSSP mention
    (
        """PS C:\\Users\\admin> Move-VM -ComputerName hv1 -Name web3 -DestinationHost hv2
Move-VM : Virtual machine migration operation for 'web3' failed at migration source 'hv1'.
Failed to establish a connection with host 'hv2': No credentials are available in the security package (0x8009030E).
  (both hosts are set to CredSSP, I run this from my admin workstation)
    + CategoryInfo          : NotSpecified: (:) [Move-VM], VirtualizationException
    + FullyQualifiedErrorId : Unspecified,Microsoft.HyperV.PowerShell.Commands.MoveVM""",
        "credssp_remote_start",
    ),
    # 3 0x8009030D, Hyper-V Manager dialog
    (
        """Move Wizard
The operation failed.
Virtual machine migration operation for 'DC02' failed at migration source 'HV-NODE1'.
The Virtual Machine Management Service failed to authenticate the connection for a Virtual Machine migration at the source host: The credentials supplied to the package were not recognized (0x8009030D).
[OK]""",
        "kerberos_delegation_missing",
    ),
    # 4 live migration disabled - Hyper-V manager
    (
        """Hyper-V Manager
An error occurred while attempting to move 'PRINT01'.
The operation cannot be performed because the destination host 'HV-03' does not allow incoming live migrations.
Verify that live migrations are enabled in Hyper-V Settings on the destination.""",
        "migration_disabled_or_vmms_down",
    ),
    # 5 migration disabled with PowerShell record, Compare-VM
    (
        """Compare-VM : The Virtual Machine Management Service on host 'HV04' is not configured to accept incoming virtual machine migrations.
At line:1 char:8
+ $rep = Compare-VM -Name APP5 -DestinationHost HV04
+        ~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~
    + CategoryInfo          : InvalidOperation: (:) [Compare-VM], VirtualizationException
    + FullyQualifiedErrorId : InvalidState,Microsoft.HyperV.PowerShell.Commands.CompareVM""",
        "migration_disabled_or_vmms_down",
    ),
    # 6 version incompatible: 2012R2 VM to 2022
    (
        """Move-VM : The virtual machine 'LEGACY01' is using a configuration version (5.0) that this host does not support.
The supported versions on 'HV2022-01' are 8.0, 9.0, 9.1, 9.2, 9.3, 10.0.
    + CategoryInfo          : InvalidArgument: (LEGACY01:VirtualMachine) [Move-VM], VirtualizationException
    + FullyQualifiedErrorId : InvalidParameter,Microsoft.HyperV.PowerShell.Commands.MoveVM""",
        "vm_version_unsupported",
    ),
    # 7 version incompatible: Compare-VM incompatibility report
    (
        """PS> (Compare-VM -Name OLDSQL -DestinationHost HV25).Incompatibilities | Format-Table Message, MessageId
Message                                                                                      MessageId
-------                                                                                      ---------
The virtual machine's configuration version is not supported by the destination host.        24007
Virtual machine version 7.1 is not supported on this version of Windows.                       24007""",
        "vm_version_unsupported",
    ),
    # 8 processor: VMM job output
    (
        """Error (23801)
VM OLAP02 is not compatible with host hv07.contoso.local. The processor on the destination is not compatible with
the processor features of the virtual machine (processor compatibility mode is off).

Recommended Action
Shut down the VM, enable processor compatibility and retry the migration.""",
        "processor_incompatible",
    ),
    # 9 processor: Event Viewer export
    (
        """Log Name:      Microsoft-Windows-Hyper-V-VMMS-Admin
Source:        Microsoft-Windows-Hyper-V-VMMS
Date:          3/14/2026 2:41:07 AM
Event ID:      21502
Task Category: None
Level:         Error
Keywords:
User:          SYSTEM
Computer:      HV-EDGE2.corp.local
Description:
'ERP-APP' could not be moved: The virtual machine is using processor-specific features not supported on host 'HV-EDGE3'. To allow for migration of this virtual machine to a physical computer with a different processor, modify the virtual machine settings to limit the processor features used by the virtual machine.""",
        "processor_incompatible",
    ),
    # 10 switch missing with German UI and mojibake
    (
        """Move-VM : Fehler beim Migrationsvorgang fÃ¼r den virtuellen Computer "WEB05" am Migrationsziel "HV-B".
Der virtuelle Switch "LAN-Trunk" ist auf dem Zielhost nicht vorhanden.
    + CategoryInfo          : NotSpecified: (:) [Move-VM], VirtualizationException
    + FullyQualifiedErrorId : OperationFailed,Microsoft.HyperV.PowerShell.Commands.MoveVM""",
        "virtual_switch_missing",
    ),
    # 11 switch: Compare-VM incompatibility text
    (
        """Incompatibilities:
Could not find Ethernet switch 'vSwitch-External'.
Message: The network adapter 'Network Adapter' is connected to a switch that does not exist on the destination. (Source: EthernetPortAllocationSettingData)""",
        "virtual_switch_missing",
    ),
    # 12 storage path missing
    (
        """Move-VM : Virtual machine migration operation for 'BI01' failed at migration destination 'HV9'.
Virtual machine migration destination for 'BI01' could not create storage path 'F:\\Hyper-V\\BI01\\Virtual Hard Disks':
The system cannot find the path specified. (0x80070003)""",
        "destination_path_missing",
    ),
    # 13 storage permission: access denied on destination folder
    (
        """Move-VMStorage / Move-VM -IncludeStorage:
Virtual machine migration destination for 'HR-DB' could not create storage path 'E:\\VMs\\HR-DB': General access denied error (0x80070005).
'HR-DB' failed to create folder E:\\VMs\\HR-DB\\Virtual Machines: Access is denied.""",
        "storage_access_denied",
    ),
    # 14 TCP 6600 blocked / 10060
    (
        """Move-VM : Virtual machine migration operation for 'CRM1' failed at migration source 'HV10'.
Failed to establish a connection with host 'hv11.lab.local': A connection attempt failed because the connected party did
not properly respond after a period of time, or established connection failed because connected host has failed to respond. (0x8007274C)
Test-NetConnection hv11 -Port 6600 => TcpTestSucceeded : False""",
        "migration_network_unreachable_or_firewall",
    ),
    # 15 10061 refused, socket in .NET
    (
        """[hv12] The live migration failed. System.Net.Sockets.SocketException (10061): No connection could be made because the target machine actively refused it 10.20.0.12:6600""",
        "migration_network_unreachable_or_firewall",
    ),
    # 16 6600 firewall in forum words
    (
        """Live migration to the new 2025 host stops at 0% and then fails with error 10060. Both hosts can ping each other, but port 6600 seems to be blocked by the firewall between the migration VLANs.""",
        "migration_network_unreachable_or_firewall",
    ),
    # 17 authentication type mismatch
    (
        """Move-VM : Virtual machine migration operation for 'APP7' failed at migration source 'HVA'.
The Virtual Machine Management Service failed to authenticate the connection for a Virtual Machine migration at the source host: the destination host 'HVB' uses CredSSP authentication for live migration while the source uses Kerberos.
(VirtualMachineMigrationAuthenticationType differs between the hosts)""",
        "auth_type_mismatch",
    ),
    # 18 Kerberos clock skew
    (
        """Failed to establish a connection with host 'HV-DR1': The clocks on the client and server machines are skewed. (0x80090324)
w32tm /stripchart shows the DR host 7 minutes ahead.""",
        "clock_skew",
    ),
    # 19 clock skew, KRB_AP_ERR_SKEW from System log
    (
        """Event ID 4 Security-Kerberos: The Kerberos client received a KRB_AP_ERR_SKEW error from the server hv02$. This indicates that the time on the client and server differs by more than the maximum allowed.""",
        "clock_skew",
    ),
    # 20 SMB share permission
    (
        """Move-VM : Virtual machine migration operation for 'VDI-07' failed at migration destination 'HV14'.
'VDI-07' failed to open '\\\\sofs01\\VMStore\\VDI-07\\Virtual Hard Disks\\VDI-07.vhdx': General access denied error (0x80070005). The computer account HV14$ has no Full Control on the share VMStore.""",
        "storage_access_denied",
    ),
    # 21 SMB share from remote: access denied on \\fs\share, Kerberos delegation cifs
    (
        """Hyper-V Manager: 'SQL22' could not read the configuration file \\\\fs01\\hyperv\\SQL22\\Virtual Machines\\1A2B.vmcx: Access is denied. ('SQL22' was moved with the storage on the SMB 3.0 share \\\\fs01\\hyperv, the file server's share permissions grant only Domain Admins)""",
        "storage_access_denied",
    ),
    # 22 mixed language: French + English code
    (
        """Move-VM : Échec de l'opération de migration de l'ordinateur virtuel « COMPTA » sur la source de migration « HV-PARIS ».
Impossible d'établir une connexion avec l'hôte « HV-LYON » : Aucune information d'identification n'est disponible dans le package de sécurité (0x8009030E).
    + CategoryInfo          : NotSpecified: (:) [Move-VM], VirtualizationException
    + FullyQualifiedErrorId : OperationFailed,Microsoft.HyperV.PowerShell.Commands.MoveVM""",
        "credssp_remote_start",
    ),
    # 23 Japanese 10061 (ASCII mojibake through cp1252?)
    (
        """Move-VM : 仮想マシン 'ファイル01' の移行操作は移行元 'HV-TKY1' で失敗しました。
ホスト 'HV-TKY2' との接続を確立できませんでした: 対象のコンピューターによって拒否されたため、接続できませんでした。 (0x8007274D)""",
        "migration_network_unreachable_or_firewall",
    ),
    # 24 Spanish switch missing with wrapped line mid-word
    (
        """Move-VM : Error en la operación de migración de la máquina virtual 'WEB9' en el destino 'HV-MAD2'.
No se encontró el conmutador virtual 'Externo' en el host
 de destino.""",
        "virtual_switch_missing",
    ),
    # 25 delegation: kerberos only checkbox forum text
    (
        """We configured constrained delegation for cifs and Microsoft Virtual System Migration Service on both computer objects (Trust this computer for delegation to specified services only - Use Kerberos only), but Move-VM started from the management server still fails with 0x8009030E.""",
        "kerberos_only_delegation",
    ),
    # 26 VMM job: 0x8009030E wrapped by 12700
    (
        """Error (12700)
VMM cannot complete the host operation on the hv31.fabrikam.com server because of the error: Virtual machine migration operation for 'SP-WFE1' failed at migration source 'HV30'. (Virtual machine ID 5E7F...)
Failed to establish a connection with host 'HV31': No credentials are available in the security package (0x8009030E).
Unknown error (0x8009030e)

Recommended Action
Resolve the host issue and then try the operation again.""",
        "kerberos_delegation_missing",
    ),
    # 27 vFC
    (
        """Move-VM : Virtual machine migration operation for 'ORA-RAC1' failed at migration destination 'HV40'.
Synthetic Fibre Channel Port: Failed to finish reserving resources: virtual SAN 'FabricB' does not exist on this host.""",
        "vfc_san_missing",
    ),
    # 28 cancelled by user in VMM
    (
        """Error (12711) VMM cannot complete the WMI operation on the server (hv05.corp.example) because of an error: [MSCluster...] The operation was canceled by the user. (0x800704C7)""",
        "migration_cancelled",
    ),
    # 29 timeout
    (
        """Move-VM : Virtual machine migration operation for 'BIGSQL' failed at migration source 'HV1'. This operation returned because the timeout period expired. (0x800705B4)""",
        "slow_migration_network",
    ),
    # 30 vm stopped
    (
        """Live migration of 'Virtual Machine TERM3' failed. Virtual machine migration operation for 'TERM3' was cancelled because the virtual machine 'TERM3' was turned off.""",
        "vm_stopped_during_migration",
    ),
]


# One-line statements of the same causes in other words: a group is recognised by its meaning,
# whatever the wording.
RESTATED = [
    ("Hyper-V could not find a virtual switch named 'Prod-LAN' on 'HV2'.", "virtual_switch_missing"),
    (
        "The virtual network adapter 'NIC1' is connected to switch 'Corp', which is not present on the destination host.",
        "virtual_switch_missing",
    ),
    (
        "Live migration is turned off on the destination server HV5. Enable incoming and outgoing live migrations first.",
        "migration_disabled_or_vmms_down",
    ),
    ("Set-VMHost: live migration is currently disabled for this host.", "migration_disabled_or_vmms_down"),
    (
        "The virtual machine cannot be moved because its version 5.0 is older than the minimum version supported by Windows Server 2025.",
        "vm_version_unsupported",
    ),
    (
        "Cannot migrate 'X': VM configuration version 8.0 is not compatible with the destination host running Windows Server 2016.",
        "vm_version_unsupported",
    ),
    (
        "Migration fails: the processors on source and destination are from different vendors (Intel to AMD).",
        "processor_incompatible",
    ),
    (
        "Move-VM: The virtual machine 'SQL' cannot be moved because the destination processor does not support features in use (AVX-512).",
        "processor_incompatible",
    ),
    (
        "Move-VM : Failed to establish a connection with host 'HV2': The connection was refused. Port 6600.",
        "migration_network_unreachable_or_firewall",
    ),
    ("Hyper-V migration error 0x8007274C connection timed out to hv-b", "migration_network_unreachable_or_firewall"),
    (
        "Delegation is configured only on HV1, not on HV2, so moving back from HV2 fails with 0x8009030E.",
        "kerberos_delegation_missing",
    ),
    (
        "Move-VM fails with 'No credentials are available in the security package' when run from a jump host; works when run locally on the source.",
        "credssp_remote_start",
    ),
    (
        "The Kerberos constrained delegation for 'Microsoft Virtual System Migration Service' is missing on the computer object of HV3.",
        "kerberos_delegation_missing",
    ),
    (
        "Access to the path '\\\\nas\\vms\\x.vhdx' is denied. The share permissions only allow the admin group, not the Hyper-V computer accounts.",
        "storage_access_denied",
    ),
    (
        "The destination path D:\\Hyper-V does not exist on HV7; the VM's configuration uses D: and HV7 only has C:.",
        "destination_path_missing",
    ),
    (
        "Failed to create the virtual hard disk at the destination: Access denied (0x80070005) on \\\\fs2\\vmstore.",
        "storage_access_denied",
    ),
    (
        "Kerberos error: KRB_AP_ERR_TKT_NYV, the ticket is not yet valid; the clock on hv3 is 10 minutes behind the DC.",
        "clock_skew",
    ),
    (
        "Live migration authentication failed: source uses Kerberos, destination is set to CredSSP.",
        "auth_type_mismatch",
    ),
    (
        'Virtueller Computer "SQL" konnte nicht verschoben werden: Livemigration ist auf dem Zielhost deaktiviert.',
        "migration_disabled_or_vmms_down",
    ),
    ("Le commutateur virtuel « Externe » est introuvable sur l’hôte « HV2 ».", "virtual_switch_missing"),
    (
        "Migração ao vivo falhou: o comutador virtual 'LAN' não foi encontrado no host de destino.",
        "virtual_switch_missing",
    ),
    ("Move-VM : 仮想スイッチ 'Ext' が見つかりませんでした。", "virtual_switch_missing"),
    (
        "Не удалось выполнить динамическую миграцию: версия конфигурации 5.0 не поддерживается на узле HV3.",
        "vm_version_unsupported",
    ),
    ("실시간 마이그레이션 실패: 대상 호스트의 프로세서가 호환되지 않습니다.", "processor_incompatible"),
    ("虚拟机迁移失败：目标主机上的实时迁移已禁用。", "migration_disabled_or_vmms_down"),
    ("Move-VM : The operation on computer 'HV2' failed: WinRM cannot complete the operation.", "winrm_unreachable"),
    # The same groups in the other UI languages, without a code.
    (
        "La migrazione non riesce: la delega vincolata Kerberos per il servizio di migrazione non è configurata sull'account computer di HV1.",
        "kerberos_delegation_missing",
    ),
    (
        "A migração falha: a delegação restrita do Kerberos não está configurada na conta de computador do HV1.",
        "kerberos_delegation_missing",
    ),
    (
        "La migración falla: la delegación restringida de Kerberos no está configurada en la cuenta de equipo de HV1.",
        "kerberos_delegation_missing",
    ),
    (
        "Миграция не выполняется: ограниченное делегирование Kerberos не настроено для учетной записи компьютера HV1.",
        "kerberos_delegation_missing",
    ),
    ("HV1 컴퓨터 계정에 Kerberos 제한된 위임이 구성되지 않았습니다.", "kerberos_delegation_missing"),
    ("HV1 的计算机帐户上未配置 Kerberos 约束委派。", "kerberos_delegation_missing"),
    ("Gli orologi dei computer client e server non sono sincronizzati. (0x80090324)", "clock_skew"),
    (
        "O relógio do HV3 está 7 minutos adiantado em relação ao controlador de domínio; a autenticação Kerberos falha.",
        "clock_skew",
    ),
    ("Hyper-V 관리자: 라이브 마이그레이션 실패. 클라이언트와 서버 컴퓨터의 시계가 맞지 않습니다.", "clock_skew"),
    (
        "Move-VM : 仮想マシン 'SQL01' の構成バージョン 5.0 は、このホストではサポートされていません。",
        "vm_version_unsupported",
    ),
    ("Move-VM : La versione 5.0 della macchina virtuale non è supportata da questo host.", "vm_version_unsupported"),
    (
        'Move-VM : Der Zielhost unterstützt die Konfigurationsversion 5.0 des virtuellen Computers "ALT01" nicht.',
        "vm_version_unsupported",
    ),
    (
        "Die Livemigration schlägt fehl: Port 6600 ist auf HV2 nicht erreichbar (Test-NetConnection: TcpTestSucceeded : False).",
        "migration_network_unreachable_or_firewall",
    ),
    (
        "Move-VM : Le processeur de l'ordinateur de destination ne prend pas en charge les fonctionnalités utilisées par l'ordinateur virtuel.",
        "processor_incompatible",
    ),
    (
        "Move-VM : The Hyper-V Virtual Machine Management service on 'HV2' is not accepting migration connections.",
        "migration_disabled_or_vmms_down",
    ),
    (
        'Move-VM : Die Livemigration ist auf dem Host "HV2" nicht aktiviert. Aktivieren Sie eingehende und ausgehende Livemigrationen.',
        "migration_disabled_or_vmms_down",
    ),
    # Start failures, VMM wrappers and RPC errors as they appear around a failed move.
    (
        "'APP1' could not be started because one of the Hyper-V components is not running. (Virtual machine ID 1A2B3C4D-0000-1111-2222-333344445555)",
        "hypervisor_not_running",
    ),
    (
        "Error (23008) The VM SQL5 cannot be migrated to Host hv9.corp.local because the VM is not compatible with the host's processor.",
        "processor_incompatible",
    ),
    (
        "Error (2912) An internal error has occurred trying to contact the hv3.corp.local server: : WinRM: URL: [http://hv3.corp.local:5985], Verb: [INVOKE], Method: [GetVersion]. Unknown error (0x80338012)",
        "winrm_unreachable",
    ),
    (
        "Move-VM: the destination host runs an older version of Hyper-V (Windows Server 2016) than the VM's configuration version 10.0 requires.",
        "vm_version_unsupported",
    ),
    (
        "Live migration from Windows Server 2012 R2 to Windows Server 2022 is not supported for VM version 5.0.",
        "vm_version_unsupported",
    ),
    (
        "Hyper-V Manager: There was an error during move operation. Migration operation on 'VM1' failed. The Virtual Machine Management Service failed to establish a connection for a Virtual Machine migration with host 'HV2': The remote procedure call failed and did not execute (0x800706BF).",
        "migration_network_unreachable_or_firewall",
    ),
    (
        "Move-VM : Failed to verify collection registry for virtual machine 'X': The system cannot find the file specified. (0x80070002). (Virtual Machine ID ...)",
        "destination_path_missing",
    ),
    (
        "Start-VM : 'X' failed to start. Microsoft Emulated IDE Controller: Failed to power on with Error 'The system cannot find the file specified.'",
        "destination_path_missing",
    ),
    (
        "Error (2912) An internal error has occurred trying to contact the 'hv3.corp.local' server: : NO_PARAM: NO_PARAM",
        "winrm_unreachable",
    ),
    # Event 21024 is named by its text: a lost network after the move, or a creating account AD cannot resolve.
    ("Event ID 21024", "vm_lost_network_after_move"),
    (
        "Log Name: Microsoft-Windows-Hyper-V-VMMS-Admin  Event ID: 21024  Level: Error  Description: Virtual machine "
        "migration operation for 'RDS07' failed at migration source 'NODE2'. No mapping between account names and "
        "security IDs was done. (0x80070534)",
        "vm_owner_sid_unresolved",
    ),
    # Names that do not resolve and domains that cannot be reached, with and without a code.
    (
        "Move-VM : Failed to establish a connection with host 'hv2-lm': No such host is known. (0x80072AF9)",
        "spn_or_name_mismatch",
    ),
    (
        "Live migration fails because HV1 cannot resolve the migration name hv2-lm.corp.local in DNS.",
        "spn_or_name_mismatch",
    ),
    (
        "Move-VM : The specified domain either does not exist or could not be contacted. (0x8007054B)",
        "dc_unreachable",
    ),
    ("Hyper-V Manager: The system detected a possible attempt to compromise security (0x80090350).", "dc_unreachable"),
]


@pytest.mark.parametrize(
    ("text", "cause"), PASTES + RESTATED, ids=[f"{p[1]}-{i}" for i, p in enumerate(PASTES + RESTATED)]
)
def test_pasted_and_restated_errors_rank_their_cause_in_the_top_two(text: str, cause: str) -> None:
    ranked = [c.id for c in explain_text(text).causes]
    assert cause in ranked[:2], ranked[:3]


def test_a_cancelled_move_is_told_apart_only_as_far_as_the_text_allows() -> None:
    def ranked(text: str) -> list[str]:
        return [c.id for c in explain_text(text).causes]

    by_user = ranked("Move-VM : The operation was canceled by the user. (0x800704C7)")
    assert by_user[0] == "migration_cancelled" and "vm_stopped_during_migration" not in by_user
    timed_out = ranked("Move-VM : This operation returned because the timeout period expired. (0x800705B4)")
    assert timed_out[0] == "slow_migration_network" and "vm_stopped_during_migration" not in timed_out
    stopped = ranked(
        "Virtual machine migration operation for 'TERM3' was cancelled because the virtual machine 'TERM3' was shut down."
    )
    assert stopped[0] == "vm_stopped_during_migration"
    unexplained = ranked("Move-VM : Virtual machine migration operation for 'TERM3' was cancelled.")
    assert set(unexplained[:2]) == {"migration_cancelled", "vm_stopped_during_migration"}


def test_a_missing_virtual_san_is_not_mistaken_for_a_missing_switch() -> None:
    ranked = [
        c.id
        for c in explain_text(
            "Compare-VM: Could not find virtual SAN 'Production' on host 'HV04'. "
            "(Fibre Channel adapter 'Fibre Channel Adapter', WWPN set A C003FF0000FFFF00)"
        ).causes
    ]
    assert ranked[0] == "vfc_san_missing" and "virtual_switch_missing" not in ranked


def test_a_number_at_the_end_of_a_sentence_is_still_an_error_code_and_a_version_is_not() -> None:
    codes = [m.value for m in explain_text("The move fails with error 10060.").matches if m.kind == "code"]
    assert codes == ["0x8007274C"]
    assert not [m for m in explain_text("Fehler 5.0 ist die Version").matches if m.kind == "code"]


def test_text_a_console_cut_at_its_width_is_joined_before_matching() -> None:
    message = (
        "Move-VM : Virtual machine migration operation for 'FILE01' failed at migration source 'HYPERV-A'. The "
        "Virtual Machine Management Service failed to establish a connection for a Virtual Machine migration with "
        "host 'HYPERV-B': The credentials supplied to the package were not recognized. Make sure the operation is "
        "initiated on the source host."
    )
    cut = "\n".join(message[i : i + 80] for i in range(0, len(message), 80))
    assert "recogn\nized" in cut or "initiate\nd" in cut or any(len(line) == 80 for line in cut.splitlines())
    phrases = [m.value for m in explain_text(cut).matches if m.kind == "message"]
    assert "credentials supplied to the package were not recognized" in phrases


def test_lines_without_a_repeated_console_width_keep_their_breaks() -> None:
    from lmpreflight.explain.normalize import unwrap_console

    prose = "\n".join(["a line of a forum post that is long enough to be looked at here, but alone", "next line"])
    assert unwrap_console(prose) == prose
    assert unwrap_console("short line\nanother\n") == "short line\nanother\n"
    lengths = "\n".join(["x" * 70, "second", "y" * 75, "third"])
    assert unwrap_console(lengths) == lengths
    log = "\n".join(
        f"Event ID 21502: Live migration of 'VM{n:03d}' failed at migration source 'HV01'." for n in range(5)
    )
    assert unwrap_console(log) == log


@pytest.mark.parametrize(
    "text",
    [
        # Get-WinEvent | ConvertTo-Json (Windows PowerShell 5.1 escapes quotes and line breaks).
        r'{"Id": 21502, "Message": "Virtual machine migration operation for \u0027WEB01\u0027 failed at migration '
        r"destination \u0027HV2\u0027.\r\n\r\nThe virtual switch \u0027LAN-Prod\u0027 is not present on the "
        r'destination.", "MachineName": "HV1.corp.example"}',
        # The same message inside PowerShell's CLIXML error stream.
        '<S S="Error">Move-VM : Virtual machine migration operation for _x0027_WEB01_x0027_ failed._x000D__x000A_'
        "The virtual switch _x0027_LAN-Prod_x0027_ is not present on the destination._x000D__x000A_</S>",
    ],
)
def test_escaped_quotes_and_line_breaks_are_read_as_text(text: str) -> None:
    assert explain_text(text).causes[0].id == "virtual_switch_missing"


def test_paths_in_plain_text_are_not_taken_for_escapes() -> None:
    from lmpreflight.explain.normalize import unescape

    plain = r"Failed to open \\nas01\vms\new\SQL01.vhdx from C:\users\net: access denied"
    assert unescape(plain) == plain


def test_the_hosts_facts_confirm_a_missing_virtual_san() -> None:
    def vfc(source: dict[str, Any], destination: dict[str, Any]) -> None:
        source["vms"][0]["fibre_channel_sans"] = ["Fabric-A"]
        destination["storage"]["virtual_sans"] = ["Fabric-B"]

    source, destination = healthy_pair(vfc)
    name = source.vms[0].name
    text = f"Move-VM : The virtual SAN 'Fabric-A' used by '{name}' does not exist on the destination host."
    first = explain_text(text, full_run(source, destination, (name,)), "Kerberos").causes[0]
    assert first.id == "vfc_san_missing" and first.confidence == "high"
    assert "New-VMSan -Name 'Fabric-A'" in (first.fix.powershell or "")


def test_text_copied_from_a_web_page_is_read_through_its_entities_and_invisible_characters() -> None:
    text = (
        "Failed to establish a connection with host &#39;HV02&#39;: No cre\u200bdentials are available in the "
        "security package (0x8009030E). Move-VM -Name &quot;SQL01&quot; &amp; retry"
    )
    phrases = [m.value for m in explain_text(text).matches if m.kind == "message"]
    assert "no credentials are available in the security package" in phrases


def test_the_virtual_san_an_error_names_fills_the_fix() -> None:
    named = explain_text("Compare-VM: Could not find virtual SAN 'Fabric-A' on host 'HV04'.").causes[0]
    assert named.id == "vfc_san_missing" and "New-VMSan -Name 'Fabric-A'" in (named.fix.powershell or "")
    unnamed = explain_text("Move-VM : no matching virtual SAN on the destination host.").causes[0]
    assert unnamed.id == "vfc_san_missing" and "New-VMSan -Name <SanName>" in (unnamed.fix.powershell or "")
