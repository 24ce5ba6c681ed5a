"""A host under check must not steer the admin's credentials or the fix script's directory
changes: the lab plays the hosts that lie about their domain or their name."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import pytest

from lmpreflight.collect.directory import DirectoryCredentials, DirectoryError, _spnego_credentials, read_directory
from lmpreflight.collect.parallel import CollectOptions, chosen_domain
from lmpreflight.escape import dn_value
from lmpreflight.lab.environment import Lab
from lmpreflight.lab.scenario import DnsChange, load_scenario
from lmpreflight.report.fixscript import plan_fixes, render_fix_script
from tests.helpers import invoke
from tests.lab_helpers import LAB_PAIR, collect_pair, invoke_on_lab, options_for, scenario_report


def test_a_host_claiming_another_domain_gets_no_credentials_sent_there() -> None:
    scenario = load_scenario("host-claims-other-domain")
    with Lab(scenario) as lab:
        _, destination = collect_pair(lab, scenario)
        evil, corp = lab.ldap["evil.example"].directory, lab.ldap["corp.example"].directory
    assert evil.bind_attempts == [], "the DC of the domain the host claims was offered a logon"
    assert corp.bind_attempts and all(mechanism == "GSS-SPNEGO" for mechanism, _ in corp.bind_attempts)
    assert destination.directory is not None and destination.directory.domain_dns_name == "corp.example"
    assert destination.domain is not None and destination.domain.domain == "evil.example"


def test_the_password_itself_never_reaches_a_dc() -> None:
    """Every bind the tool makes is SASL; a simple bind would hand the password to the server."""
    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        collect_pair(lab, scenario)
        attempts = [a for server in lab.ldap.values() for a in server.directory.bind_attempts]
    assert attempts and {mechanism for mechanism, _ in attempts} == {"GSS-SPNEGO"}
    assert all(principal.casefold() == "corp\\hvadmin" for _, principal in attempts)


def test_a_wrong_password_is_rejected_by_the_negotiated_bind() -> None:
    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        options = options_for(lab, scenario)
        credentials = DirectoryCredentials("CORP\\hvadmin", "wrong", str(lab.endpoints.ca_cert))
        with pytest.raises(DirectoryError, match=r"rejected the password for CORP\\hvadmin \(52e = bad password\)"):
            read_directory(options.dns, "corp.example", "HV01", "hv01.corp.example", credentials, _later(10))


def test_srv_targets_outside_the_domain_are_not_contacted() -> None:
    base = load_scenario("healthy")
    srv = DnsChange(name="_ldap._tcp.dc._msdcs.corp.example", type="SRV", values=["0 100 389 dc.evil.example"])
    scenario = base.model_copy(update={"dns_changes": [*base.dns_changes, srv]})
    with Lab(scenario) as lab:
        options = options_for(lab, scenario)
        credentials = DirectoryCredentials("CORP\\hvadmin", scenario.client.password, str(lab.endpoints.ca_cert))
        with pytest.raises(DirectoryError, match=r"dc\.evil\.example: not a name inside corp\.example"):
            read_directory(options.dns, "corp.example", "HV01", "hv01.corp.example", credentials, _later(10))


def test_the_domain_comes_from_the_admin_never_the_host() -> None:
    options = CollectOptions(username="CORP\\hvadmin", password="x")
    assert chosen_domain(options, "hv02.corp.example") == "corp.example"
    assert chosen_domain(options, None) is None
    assert chosen_domain(dataclasses.replace(options, username="hvadmin@Corp.Example"), None) == "corp.example"
    assert chosen_domain(dataclasses.replace(options, domain="lab.example"), "hv02.corp.example") == "lab.example"


def test_domain_option_refuses_anything_but_a_dns_name(capsys, monkeypatch) -> None:
    code, _, err = invoke(capsys, monkeypatch, "check", "a", "b", "--domain", "x,DC=evil", "--user", "u")
    assert code == 2 and "not a DNS domain name" in err


def test_dn_values_are_escaped() -> None:
    assert dn_value("x,DC=evil") == "x\\,DC\\=evil"
    assert dn_value("#a ") == "\\#a\\ "


def test_a_host_answering_as_a_dc_fails_identity_and_gets_no_directory_change() -> None:
    report = scenario_report(load_scenario("host-claims-another-identity"))
    identity = next(r for r in report.results if r.check_id == "identity.host-is-who-it-says" and r.status == "fail")
    assert "DC01" in identity.message and identity.subject == "destination"
    directory = plan_fixes(report).steps["directory"]
    assert directory and all(step.change is None and step.needed is None for step in directory)
    script = render_fix_script(report)
    directory_part = script.split("if ($Part -eq 'Directory')")[1].split("if ($Part -eq ")[0]
    code = [line for line in directory_part.splitlines() if not line.strip().startswith("#")]
    assert not any("DC01" in line or "Set-AD" in line for line in code)


def test_the_healthy_lab_confirms_both_identities() -> None:
    report = scenario_report(load_scenario("healthy"))
    statuses = {(r.check_id, r.subject): r.status for r in report.results if r.check_id.startswith("identity.")}
    assert set(statuses.values()) == {"pass"} and len(statuses) == 4


def test_check_reports_the_lying_host_from_the_command_line(tmp_path: Path, capsys, monkeypatch) -> None:
    scenario = load_scenario("host-claims-other-domain")
    with Lab(scenario) as lab:
        code, out, err = invoke_on_lab(capsys, monkeypatch, lab, scenario, "check", *LAB_PAIR, "--vm", "SQL01")
        assert lab.ldap["evil.example"].directory.bind_attempts == []
    assert code == 1, err
    assert "FAIL  identity.domain-as-chosen" in out and "evil.example" in out


def _later(seconds: float) -> float:
    import time

    return time.monotonic() + seconds


def test_basic_over_plain_http_warns_whatever_the_flags(capsys, monkeypatch) -> None:
    """--https does not help when the endpoint itself is http://: the warning names it."""
    monkeypatch.setenv("LAB_PW", "x")
    _, _, err = invoke(
        capsys,
        monkeypatch,
        "check",
        "hv01.corp.example",
        "hv02.corp.example",
        "--user",
        "CORP\\hvadmin",
        "--password-env",
        "LAB_PW",
        "--transport",
        "basic",
        "--https",
        "--endpoint",
        "hv01.corp.example=http://127.0.0.1:9/wsman",
        "--dns-server",
        "127.0.0.1:9",
        "--timeout",
        "5",
        "-q",
    )
    assert "WARNING: Basic authentication over plain HTTP (http://127.0.0.1:9/wsman)" in err


@pytest.mark.parametrize(("platform", "proxy"), [("win32", "SSPI"), ("linux", "NegotiateProxy")])
def test_a_bind_on_windows_goes_through_windows_own_negotiate(
    platform: str, proxy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pyspnego binds through SSPI (Windows' own Negotiate, Kerberos first) only when no NTLM
    hash is among the credentials; elsewhere the hashes derived once a run are handed over.
    SSPI is made to look available here, as it is on Windows."""
    import spnego
    import spnego.auth

    class WindowsNegotiate:
        @staticmethod
        def available_protocols(options: Any = None) -> list[str]:
            return ["kerberos", "negotiate", "ntlm"]

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise LookupError("SSPI")

    monkeypatch.setattr(spnego.auth, "SSPIProxy", WindowsNegotiate)
    monkeypatch.setattr(sys, "platform", platform)
    credentials = _spnego_credentials(DirectoryCredentials("CORP\\hvadmin", "Pa55-word"))
    try:
        chosen = type(spnego.client(credentials, hostname="dc01", service="ldap", protocol="negotiate")).__name__
    except LookupError as windows:
        chosen = str(windows)
    assert chosen == proxy
