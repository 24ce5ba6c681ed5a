"""explain and diagnose fixes name the VM, hosts and switch the error text or the facts state;
what nobody stated stays a marked placeholder (<SourceHost>) that PowerShell refuses to run.
Event text shown shortened is cut at a word and marked with "…"."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from rich.console import Console

from lmpreflight.commands.diagnose import Diagnosis
from lmpreflight.explain.engine import explain_text
from lmpreflight.explain.incidents import find_incidents
from lmpreflight.explain.names import KnownNames, filled, names_in
from lmpreflight.explain.render import EVENT_TEXT_TERMINAL, event_text, incidents_markdown, render_incidents
from lmpreflight.facts.model import EventRecord, HostFacts
from tests.helpers import EXAMPLES, invoke

MOVE_VM_ERROR = (
    "Move-VM : Virtual machine migration operation for 'SQL01' failed at migration source 'HV01'. "
    "Failed to establish a connection with host 'HV02': No credentials are available in the security "
    "package (0x8009030E)."
)
BARE = ("SOURCE", "DESTINATION", "-Name VM ", "'SWITCH'", "'NIC'")


def _commands(explanation_causes: list) -> str:  # type: ignore[type-arg]
    return "\n".join(c.fix.powershell or "" for c in explanation_causes)


def test_the_names_an_error_states_fill_the_fixes() -> None:
    shown = _commands(explain_text(MOVE_VM_ERROR).causes)
    assert "Enter-PSSession -ComputerName 'HV01'" in shown
    assert "Move-VM -Name 'SQL01' -DestinationHost 'HV02'" in shown
    assert "Set-ADAccountControl -Identity (Get-ADComputer -Identity 'HV01')" in shown
    assert "'Microsoft Virtual System Migration Service/HV02'" in shown
    assert not any(word in shown for word in BARE), shown


def test_names_nobody_stated_are_marked_placeholders() -> None:
    shown = _commands(explain_text("0x8009030E").causes)
    assert "Enter-PSSession -ComputerName <SourceHost>" in shown
    assert "Move-VM -Name <VMName> -DestinationHost <DestinationHost>" in shown
    assert "'Microsoft Virtual System Migration Service/<DestinationFQDN>'" in shown
    assert not any(word in shown for word in BARE), shown


def test_a_processor_message_names_its_vm() -> None:
    text = "The virtual machine 'WEB02' is using processor-specific features not supported on physical computer 'HV02'."
    code = _commands(explain_text(text).causes)
    assert "Stop-VM -Name 'WEB02'; Set-VMProcessor -VMName 'WEB02'" in code


def test_the_facts_name_the_hosts_the_text_does_not(capsys, monkeypatch) -> None:
    facts = [str(EXAMPLES / "healthy" / "source.json"), str(EXAMPLES / "healthy" / "destination.json")]
    code, out, _ = invoke(capsys, monkeypatch, "explain", "0x8009030E", "--all", "--facts", *facts)
    assert code == 0, "recognised"
    assert "Enter-PSSession -ComputerName 'hv01.corp.example'" in out
    assert "-DestinationHost 'hv02.corp.example'" in out
    assert "'Microsoft Virtual System Migration Service/hv02.corp.example'" in out
    assert "<DestinationFQDN>" not in out and "<SourceHost>" not in out
    assert "Fill in <VMName> (the VM's name): neither the error text nor the hosts' facts state it." in out


@pytest.mark.parametrize(
    ("command", "names", "expected"),
    [
        (
            "Move-VM -Name VM -DestinationHost DESTINATION",
            KnownNames(vm="O'Brien"),
            "Move-VM -Name 'O''Brien' -DestinationHost <DestinationHost>",
        ),
        (
            "New-VMSwitch -Name 'SWITCH' -NetAdapterName 'NIC'",
            KnownNames(switch="DMZ"),
            "New-VMSwitch -Name 'DMZ' -NetAdapterName <NetAdapterName>",
        ),
        ("Get-VM VM; (Get-VM VM).Id", KnownNames(vm="SQL01"), "Get-VM 'SQL01'; (Get-VM 'SQL01').Id"),
        (
            "Move-VM -Name VM -DestinationStoragePath 'D:\\Hyper-V\\VM'",
            KnownNames(vm="A"),
            "Move-VM -Name 'A' -DestinationStoragePath 'D:\\Hyper-V\\VM'",
        ),
        (
            'certutil -store "Shielded VM Local Certificates"',
            KnownNames(vm="A"),
            'certutil -store "Shielded VM Local Certificates"',
        ),
        (
            "Grant-SmbShareAccess -AccountName 'DOMAIN\\DESTINATION$'",
            KnownNames(destination="hv02.corp.example"),
            "Grant-SmbShareAccess -AccountName '<DomainNetBIOSName>\\hv02$'",
        ),
        (
            "Get-VM -Id VMID",
            KnownNames(vm_id="0D9E6B2C-8F3A-47D1-B0C2-5A4E9D7C2B02"),
            "Get-VM -Id '0D9E6B2C-8F3A-47D1-B0C2-5A4E9D7C2B02'",
        ),
        (
            "Test-NetConnection DESTINATION -Port 6600",
            KnownNames(destination="HV\u04302"),
            "Test-NetConnection ('HV' + [char]0x0430 + '2') -Port 6600",
        ),
        (
            "Set-ADComputer -Add @{x = @('cifs/DESTINATION')}",
            KnownNames(destination="HV\u04302"),
            "Set-ADComputer -Add @{x = @('cifs/<DestinationHost>')}",
        ),
    ],
)
def test_placeholders_are_filled_through_the_escaping_module(command: str, names: KnownNames, expected: str) -> None:
    assert filled(command, names) == expected


def test_the_text_names_outrank_the_facts_and_the_peer_is_the_destination() -> None:
    assert names_in(MOVE_VM_ERROR, ("HV07", "HV08")) == KnownNames("HV01", "HV02", "SQL01", None)
    assert names_in("0x8009030E", ("HV07", "HV08")) == KnownNames("HV07", "HV08", None, None)
    assert names_in("Could not find Ethernet switch 'Production'.").switch == "Production"


def test_a_host_the_text_names_short_gets_the_fqdn_the_facts_hold() -> None:
    """The text says 'HV02'; the facts know HV02 as hv02.corp.example: the FQDN a delegation
    entry needs is the real one, not <DestinationFQDN>. A host the facts do not know keeps its short name."""
    facts = ("hv01.corp.example", "hv02.corp.example")
    assert names_in(MOVE_VM_ERROR, facts) == KnownNames("hv01.corp.example", "hv02.corp.example", "SQL01")
    assert names_in(MOVE_VM_ERROR, ("hv07.corp.example", "hv08.corp.example")).destination == "HV02"
    shown = _commands(explain_text(MOVE_VM_ERROR, [], "Kerberos", facts).causes)
    assert "'Microsoft Virtual System Migration Service/hv02.corp.example'" in shown
    assert "'cifs/hv02.corp.example'" in shown and "Set-ADComputer -Identity 'hv01' -Add" in shown
    assert "<DestinationFQDN>" not in shown and "<SourceFQDN>" not in shown


def test_a_placeholder_left_in_a_fix_is_said_aloud() -> None:
    """Without facts the FQDN is truly unknown: the command keeps the marker and the fix says what
    to fill in and why it could not be."""
    (cause,) = [c for c in explain_text(MOVE_VM_ERROR).causes if c.id == "kerberos_delegation_missing"]
    assert "'Microsoft Virtual System Migration Service/<DestinationFQDN>'" in (cause.fix.powershell or "")
    assert cause.fix.text.endswith(
        "Fill in <DestinationFQDN> (the destination host's full DNS name): the error text does not state it "
        "(--facts SOURCE.json DEST.json gives the hosts' names)."
    )
    everything_known = [c for c in explain_text(MOVE_VM_ERROR).causes if c.id == "credssp_remote_start"]
    assert "Fill in" not in everything_known[0].fix.text, "nothing left to fill in: nothing said"


def test_the_vm_id_a_message_states_fills_the_fix() -> None:
    text = (
        "Virtual machine migration operation for 'WEB02' failed at migration destination 'HV02'. "
        "(Virtual machine ID 5E1B6C2A-9F0D-4C3B-8A7E-1D2C3B4A5F60) Cannot create a file when that file already "
        "exists. (0x800700B7)"
    )
    (cause,) = [c for c in explain_text(text).causes if c.id == "vm_already_on_destination"]
    assert (cause.fix.powershell or "").startswith("Get-VM -Id '5E1B6C2A-9F0D-4C3B-8A7E-1D2C3B4A5F60';")


def test_a_host_the_facts_know_by_its_account_or_only_by_address(tmp_path, capsys, monkeypatch) -> None:
    """No identity facts: the destination's account names it in the delegation fix; with no
    account either, it was typed as an address, and the fix asks for its name rather than
    building an SPN from the address (or from its first octet, '10')."""
    data = json.loads((EXAMPLES / "broken" / "destination.json").read_text())
    data.update(target="10.0.10.2", identity=None)
    for account, wanted in (("hv02.corp.example", "Service/hv02.corp.example'"), (None, "Service/<DestinationFQDN>'")):
        if account is None:
            data["directory"] = None
        path = tmp_path / "destination.json"
        path.write_text(json.dumps(data))
        facts = [str(EXAMPLES / "broken" / "source.json"), str(path)]
        code, out, _ = invoke(capsys, monkeypatch, "explain", "0x8009030E", "--all", "--facts", *facts)
        assert code == 0 and wanted in out, out
        assert "Service/10'" not in out and "Service/10.0.10.2'" not in out


@pytest.mark.parametrize(
    ("identity", "account", "target", "expected"),
    [
        ("hv01.corp.example", None, "10.0.0.1", "hv01.corp.example"),
        ("hv01.corp.example", "other.corp.example", "hv01", "hv01.corp.example"),
        (None, "hv01.corp.example", "10.0.0.1", "hv01.corp.example"),
        (None, None, "hv01.corp.example.", "hv01.corp.example"),
        ("HV01", None, "10.0.0.1", "HV01"),
        (None, None, "10.0.0.1", "10.0.0.1"),
        (None, None, "[fd00::1]", "fd00::1"),
        (None, None, "HV01", "HV01"),
    ],
)
def test_the_fullest_name_the_facts_hold_names_a_host(
    identity: str | None, account: str | None, target: str, expected: str
) -> None:
    """An address typed as the host is never taken for its DNS name while the facts hold a name:
    Windows tries no Kerberos for an address. Known by nothing else, the address is what there is."""
    data = json.loads((EXAMPLES / "healthy" / "source.json").read_text())
    data["target"] = target
    if identity is None:
        data["identity"] = None
    else:
        data["identity"]["fqdn"] = identity
    if account is None:
        data["directory"] = None
    else:
        data["directory"]["computer"]["dns_host_name"] = account
    assert HostFacts.model_validate(data).full_name == expected


def test_a_host_known_only_by_its_address_leaves_its_placeholder_in_a_fix() -> None:
    """No account name or SPN is built from an address: the admin is asked for the name."""
    names = names_in("The operation failed.", ("hv01.corp.example", "10.0.0.2"))
    assert (names.source, names.destination, names.dns_domain) == ("hv01.corp.example", None, "corp.example")
    fix = filled("Set-ADComputer -Identity SOURCE -Add @{'msDS-AllowedToDelegateTo'='cifs/DESTINATION.domain'}", names)
    assert fix == "Set-ADComputer -Identity 'hv01' -Add @{'msDS-AllowedToDelegateTo'='cifs/<DestinationFQDN>'}"


def test_event_text_is_cut_at_a_word_and_marked() -> None:
    long = "Virtual machine migration operation for 'WEB02' failed at migration source 'HV01'. " * 5
    shown = event_text(long, EVENT_TEXT_TERMINAL)
    assert shown.endswith("…") and len(shown) <= EVENT_TEXT_TERMINAL
    assert long.startswith(shown[:-1]) and long[len(shown) - 1] == " ", "cut between words"
    assert event_text("short  text", 50) == "short text"
    assert event_text("x" * 300, 50) == "x" * 49 + "…"


def _event(message: str, computer: str | None) -> EventRecord:
    return EventRecord(
        time_created=datetime(2026, 11, 20, 10, 5, tzinfo=UTC),
        id=21502,
        provider="Microsoft-Windows-Hyper-V-VMMS",
        channel="Microsoft-Windows-Hyper-V-VMMS-Admin",
        level="Error",
        computer=computer,
        message=message,
    )


def test_diagnose_shows_a_cut_event_with_the_mark_and_the_incidents_names() -> None:
    message = (
        "Virtual machine migration operation for 'WEB02' failed at migration source 'HV01'. 'WEB02' failed to live "
        "migrate because a virtual switch used by the VM doesn't exist on the destination node 'HV02'. "
        + "Detail. "
        * 30
    )
    event = _event(message, None)
    found = Diagnosis(events_read=1, **dict(find_incidents({"HV01": [event]})))
    console = Console(width=400, record=True, color_system=None)
    render_incidents(found, console)
    out = console.export_text()
    assert "Detail.…" in out and "Detail. " * 30 not in out
    assert "New-VMSwitch -Name <SwitchName> -NetAdapterName <NetAdapterName>" in out and "'SWITCH'" not in out
    assert "…" in incidents_markdown(found)


@pytest.mark.parametrize(("computer", "source"), [("HV21.corp.example", "'HV21'"), (None, "<SourceHost>")])
def test_an_incident_names_the_machine_that_logged_it_as_the_source(computer: str | None, source: str) -> None:
    """The event's own machine name (not the file it was read from) is the source when the text
    names only the destination; an AD -Identity gets the short name."""
    text = "Failed to establish a connection with host 'HV22': No credentials are available in the security package (0x8009030E)."
    (incident,) = find_incidents({"exported-file": [_event(text, computer)]}).incidents
    shown = _commands(incident.explanation.causes)
    assert f"Set-ADComputer -Identity {source} -Add" in shown
    assert "'Microsoft Virtual System Migration Service/HV22'" in shown
    assert "exported-file" not in shown


def test_an_ad_identity_takes_the_short_name() -> None:
    names = KnownNames(source="hv01.corp.example")
    assert filled("Get-ADComputer -Identity SOURCE; Test-WSMan SOURCE", names) == (
        "Get-ADComputer -Identity 'hv01'; Test-WSMan 'hv01.corp.example'"
    )


def test_no_knowledge_fix_shows_an_example_name_as_if_it_were_real() -> None:
    """Filled with nothing known, every generic fix holds only marked placeholders: no example
    domain, share, path or account that would read as the admin's own."""
    from lmpreflight.explain.knowledge import knowledge

    examples = ("corp.example", "'VMS'", "-Name VMS", "D:\\Hyper-V", "DOMAIN\\", "\\user'", "'SHARE'", "'PATH'")
    for cause_id, cause in knowledge().causes.items():
        shown = filled(cause.fix.remediation().powershell or "", KnownNames())
        assert not any(example in shown for example in examples), (cause_id, shown)
        assert not any(word in shown for word in BARE), (cause_id, shown)


@pytest.mark.parametrize(
    ("text", "hosts", "expected"),
    [
        (
            "Failed to access '\\\\FS01\\VMS\\SQL01\\disk.vhdx': Access is denied. (0x80070005)",
            ("hv01.corp.example", "hv02.corp.example"),
            "Grant-SmbShareAccess -Name 'VMS' -AccountName '<DomainNetBIOSName>\\hv02$'",
        ),
        (
            "The specified domain either does not exist or could not be contacted. (0x8007054B)",
            ("hv01.corp.example", "hv02.corp.example"),
            "nltest /dsgetdc:'corp.example';",
        ),
        (
            "The specified domain either does not exist or could not be contacted. (0x8007054B)",
            ("hv01.a.example", "hv02.b.example"),
            "nltest /dsgetdc:<DomainDNSName>;",
        ),
    ],
)
def test_the_share_and_domain_the_text_or_facts_state_fill_the_fix(
    text: str, hosts: tuple[str, str], expected: str
) -> None:
    assert expected in _commands(explain_text(text, [], "Kerberos", hosts).causes)
