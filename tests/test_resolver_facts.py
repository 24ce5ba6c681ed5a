"""The hosts' own resolver and DC locator: nltest's printed output read into facts, the section
in both collectors (live and offline), and the peer's names reaching PowerShell escaped."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lmpreflight.collect.script import render_collector
from lmpreflight.escape import ps_literal
from lmpreflight.facts import load_host_facts
from lmpreflight.facts.from_collector import facts_from_collector
from lmpreflight.facts.model import CollectorInfo, DcLocator
from lmpreflight.facts.nltest import parse_dsgetdc
from lmpreflight.lab.hosts import LabHost, LabWorld
from lmpreflight.lab.scenario import load_scenario
from tests.powershell_usage import usages

INFO = CollectorInfo(method="lab", tool_version="test", run_from="test")
NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)

# The shape Microsoft's own troubleshooting articles print for `nltest /dsgetdc:contoso.com /force`
# (SupportArticles-docs, network location awareness troubleshooting), with the labels right-aligned.
DNS_FORM = [
    "           DC: \\\\DC.contoso.com",
    "      Address: \\\\10.0.1.2",
    "     Dom Guid: 6e400f03-975a-43b4-9763-519970b7cb57",
    "     Dom Name: contoso.com",
    "  Forest Name: contoso.com",
    " Dc Site Name: Default-First-Site-Name",
    "Our Site Name: Default-First-Site-Name",
    "        Flags: PDC GC DS LDAP KDC TIMESERV WRITABLE DNS_DC DNS_DOMAIN DNS_FOREST CLOSE_SITE FULL_SECRET WS",
    "The command completed successfully",
]
# Asked with a NetBIOS domain name, nltest answers in flat names.
FLAT_FORM = [
    "           DC: \\\\DC01",
    "      Address: \\\\172.16.213.10",
    "     Dom Guid: 29ae137a-f795-4fd5-a839-607b5807b1d7",
    "     Dom Name: MEDTECH",
    "  Forest Name: medtech.com",
    " Dc Site Name: Default-First-Site-Name",
    "Our Site Name: Default-First-Site-Name",
    "        Flags: PDC GC DS LDAP KDC TIMESERV GTIMESERV WRITABLE DNS_FOREST CLOSE_SITE FULL_SECRET WS DS_8",
    "The command completed successfully",
]
NO_SUCH_DOMAIN = "Getting DC name failed: Status = 1355 0x54b ERROR_NO_SUCH_DOMAIN"


def _locator(domain: str, exit_code: int | None, lines: list[str]) -> DcLocator:
    return DcLocator.model_validate(parse_dsgetdc(domain, exit_code, lines))


def test_a_found_dc_is_read_field_by_field() -> None:
    locator = _locator("contoso.com", 0, DNS_FORM)
    assert locator.found and locator.error is None and locator.status is None
    assert locator.domain_controller == "DC.contoso.com" and locator.address == "10.0.1.2"
    assert (locator.domain_name, locator.forest) == ("contoso.com", "contoso.com")
    assert locator.dc_site == locator.client_site == "Default-First-Site-Name"
    assert "CLOSE_SITE" in locator.flags and "KDC" in locator.flags
    assert locator.output == DNS_FORM


def test_flat_names_are_kept_as_printed() -> None:
    locator = _locator("medtech", 0, FLAT_FORM)
    assert (locator.domain_controller, locator.domain_name, locator.forest) == ("DC01", "MEDTECH", "medtech.com")


@pytest.mark.parametrize(
    "line",
    [
        NO_SUCH_DOMAIN,
        # The same line as an error record's text (stderr redirected in Windows PowerShell 5.1).
        f"nltest : {NO_SUCH_DOMAIN}",
        "Getting DC name failed: Status = 1311 0x51f ERROR_NO_LOGON_SERVERS",
    ],
)
def test_no_dc_is_a_status_not_a_guess(line: str) -> None:
    locator = _locator("corp.example", 1, [line])
    assert not locator.found
    assert locator.status in (1355, 1311)
    assert locator.error is not None and "Status =" in locator.error
    assert locator.domain_controller is None


def test_output_it_cannot_read_is_kept_and_said_so() -> None:
    unread = _locator("corp.example", 0, ["Der Befehl wurde erfolgreich ausgeführt."])
    assert not unread.found and unread.status is None
    assert unread.error == "nltest printed no DC: line"
    assert unread.output == ["Der Befehl wurde erfolgreich ausgeführt."]
    nothing = _locator("corp.example", 9009, [])
    assert nothing.error == "nltest printed no DC: line (exit code 9009)"


def test_a_dc_line_with_a_failing_exit_code_is_not_trusted() -> None:
    locator = _locator("contoso.com", 5, DNS_FORM)
    assert not locator.found and locator.error == "nltest ended with exit code 5"


def test_a_flood_of_output_is_cut() -> None:
    locator = _locator("corp.example", 0, [*DNS_FORM, *(f"noise {i}" for i in range(500))])
    assert locator.found and len(locator.output) == 40


def _document(scenario: str = "healthy", host: str = "HV01") -> dict[str, Any]:
    return LabHost(LabWorld(load_scenario(scenario), "CORP\\hvadmin"), host).collector_document()


def test_the_collector_section_is_read_into_typed_facts() -> None:
    document = _document()
    document["sections"]["resolver"] = {
        "peer_names": [
            {"name": "hv02.corp.example", "addresses": ["10.0.10.12"], "error": None},
            {"name": "HV02", "addresses": [], "error": "HV02 : DNS name does not exist"},
        ],
        "dc_locator": {"domain": "contoso.com", "exit_code": 0, "output": DNS_FORM},
    }
    facts = facts_from_collector(document, target="hv01.corp.example", collector=INFO, observer_utc=NOW)
    assert facts.resolver is not None and facts.resolver.dc_locator is not None
    assert facts.resolver.dc_locator.domain_controller == "DC.contoso.com"
    assert [(n.name, n.addresses, n.error) for n in facts.resolver.peer_names or []] == [
        ("hv02.corp.example", ["10.0.10.12"], None),
        ("HV02", [], "HV02 : DNS name does not exist"),
    ]
    assert not [e for e in facts.errors if e.section.startswith("resolver")]


def test_one_malformed_lookup_costs_the_resolver_section_only() -> None:
    document = _document()
    document["sections"]["resolver"] = {
        "peer_names": [{"name": "hv02", "addresses": ["not-an-address"], "error": None}],
        "dc_locator": None,
    }
    facts = facts_from_collector(document, target="hv01.corp.example", collector=INFO, observer_utc=NOW)
    assert facts.resolver is None and facts.migration is not None
    assert [e.section for e in facts.errors] == ["resolver"]


def test_an_older_collector_without_the_section_records_no_error() -> None:
    document = _document()
    del document["sections"]["resolver"]
    facts = facts_from_collector(document, target="hv01.corp.example", collector=INFO, observer_utc=NOW)
    assert facts.resolver is None and not facts.errors


def test_the_lab_answers_the_peer_names_it_was_rendered_with() -> None:
    script = render_collector(["SQL01"], peer_names=["hv02.corp.example", "HV02"])
    document = LabHost(LabWorld(load_scenario("source-hosts-file-stale"), "CORP\\hvadmin"), "HV01").collector_document(
        script
    )
    section = document["sections"]["resolver"]
    assert section["peer_names"] == [
        {"name": "hv02.corp.example", "addresses": ["10.0.10.99"], "error": None},
        {"name": "HV02", "addresses": ["10.0.10.12"], "error": None},  # asked with the primary DNS suffix
    ]
    assert section["dc_locator"]["exit_code"] == 0 and section["dc_locator"]["output"][0].endswith(
        "DC: \\\\dc01.corp.example"
    )


def test_peer_names_reach_powershell_as_literals_only() -> None:
    hostile = "hv02'; Remove-Item C:\\ -Recurse; '"
    for mode in ("live", "offline"):
        script = render_collector([], mode, peer_names=[hostile, "hv02.corp.example"])
        assert ps_literal(hostile) in script
        commands = {u.name for u in usages(script) if u.kind == "command"}
        assert "Remove-Item" not in commands


def test_the_offline_script_takes_the_peer_as_a_parameter_defaulting_to_the_rendered_names() -> None:
    script = render_collector(["SQL01"], "offline", peer_names=["HV02", "hv02.corp.example"])
    assert "[string[]]$Peer = @('HV02', 'hv02.corp.example')" in script
    assert "$LmpPeerNames = @($Peer | Where-Object { $_ })" in script
    assert "Invoke-LmpSection 'resolver'" in script
    live = render_collector(["SQL01"], peer_names=["HV02"])
    assert "$LmpPeerNames = @('HV02')" in live and "Invoke-LmpSection 'resolver'" in live


def test_an_offline_file_with_the_section_is_analysable(tmp_path: Path) -> None:
    document = _document()
    document["mode"] = "offline"
    document["sections"]["resolver"] = {
        "peer_names": None,  # an empty pipeline: Windows PowerShell 5.1 writes null
        "dc_locator": {"domain": "corp.example", "exit_code": 1, "output": [NO_SUCH_DOMAIN]},
    }
    path = tmp_path / "HV01.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    facts = load_host_facts(path)
    assert facts.collector.method == "offline-script"
    assert facts.resolver is not None and facts.resolver.peer_names == []
    assert facts.resolver.dc_locator is not None and facts.resolver.dc_locator.status == 1355
