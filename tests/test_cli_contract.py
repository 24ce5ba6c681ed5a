"""The command-line contract: any input ends in a verdict or in one line and a usage exit
code, never in a traceback; credentials are checked before anything is sent, and a rejected
password is tried only once."""

from __future__ import annotations

import pytest

from lmpreflight.collect.dns import DnsServer
from lmpreflight.commands.connection import normalise_user
from lmpreflight.errors import UserError
from lmpreflight.lab.environment import Lab
from lmpreflight.lab.scenario import load_scenario
from tests.helpers import invoke
from tests.lab_helpers import collect_pair


@pytest.mark.parametrize(
    ("text", "address", "port"),
    [
        ("10.0.0.5", "10.0.0.5", 53),
        ("10.0.0.5:5353", "10.0.0.5", 5353),
        ("::1", "::1", 53),
        ("[::1]", "::1", 53),
        ("[::1]:5353", "::1", 5353),
        ("localhost", "127.0.0.1", 53),
        ("localhost:5353", "127.0.0.1", 5353),
    ],
)
def test_dns_server_accepts_addresses_names_and_ports(text: str, address: str, port: int) -> None:
    server = DnsServer.parse(text)
    assert (server.address, server.port) in ((address, port), ("::1" if address == "127.0.0.1" else address, port))


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("x:y:z", "expected an IP address, a host name, HOST:PORT or [IPv6]:PORT"),
        ("10.0.0.1:99999", "between 1 and 65535"),
        ("10.0.0.1:0", "between 1 and 65535"),
        ("10.0.0.1:dns", "the port must be a number"),
        ("[::1", "expected an IP address"),
        ("[::1]x", "expected an IP address"),
        ("no-such-dc.invalid", "cannot resolve no-such-dc.invalid"),
        ("a b", "expected an IP address"),
    ],
)
def test_dns_server_refuses_in_one_line(text: str, says: str) -> None:
    with pytest.raises(UserError, match=r"^--dns-server ") as refused:
        DnsServer.parse(text)
    assert says in str(refused.value) and "\n" not in str(refused.value)


def test_dns_server_label_brackets_ipv6_with_a_port() -> None:
    assert DnsServer.parse("[fd00::5]:5353").label() == "[fd00::5]:5353"


def test_a_bad_dns_server_on_the_command_line_is_exit_2(capsys, monkeypatch) -> None:
    monkeypatch.setenv("PW", "secret")
    code, out, err = invoke(
        capsys, monkeypatch, "check", "a.corp.example", "b.corp.example", "-u", "C\\u", "--password-env", "PW",
        "--dns-server", "x:y:z",
    )  # fmt: skip
    assert code == 2
    assert err.startswith("lmpreflight: error: --dns-server x:y:z: expected") and err.count("\n") == 1
    assert "Traceback" not in out + err


@pytest.mark.parametrize("user", ["CORP\\admin", "admin@corp.example", ".\\admin"])
def test_user_forms_that_name_a_domain(user: str) -> None:
    assert normalise_user(user) == user


def test_a_doubled_backslash_becomes_one() -> None:
    assert normalise_user("CORP\\\\admin") == "CORP\\admin"


@pytest.mark.parametrize("user", ["CORPhvadmin", "CORP\\", "\\admin", "@corp", "admin@", "a\\b\\c"])
def test_user_without_a_domain_is_refused_before_anything_is_sent(user: str, capsys, monkeypatch) -> None:
    monkeypatch.setenv("PW", "secret")
    # The hosts do not exist: reaching them would be a resolution error, not a usage error.
    code, _, err = invoke(
        capsys, monkeypatch, "check", "a.invalid", "b.invalid", "--user", user, "--password-env", "PW"
    )
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"lmpreflight: error: --user {user}: ")
    assert "quote it: --user 'CORP\\admin'" in err


def test_a_rejected_password_costs_one_failed_logon_and_says_so() -> None:
    scenario = load_scenario("bad-password")
    with Lab(scenario) as lab:
        source, destination = collect_pair(lab, scenario)
        winrm_failures = sum(server.stats.failed_logons for server in lab.wsman.values())
        ldap_failures = sum(server.directory.failed_binds for server in lab.ldap.values())
    assert winrm_failures + ldap_failures == 1, "only the first logon tries the rejected password"
    errors = [
        *(f.whole_host_error.message for f in (source, destination) if f.whole_host_error),
        *(e.message for f in (source, destination) for e in f.errors if e.section == "directory"),
    ]
    rejected = [m for m in errors if "not tried" not in m]
    assert len(rejected) == 1 and "rejected" in rejected[0]
    held_back = [m for m in errors if "not tried" in m]
    assert held_back and all("lockout" in m and rejected[0] in m for m in held_back)


def test_a_good_password_still_collects_both_hosts_and_the_directory() -> None:
    scenario = load_scenario("healthy")
    with Lab(scenario) as lab:
        source, destination = collect_pair(lab, scenario)
        assert sum(server.stats.failed_logons for server in lab.wsman.values()) == 0
    assert source.directory is not None and destination.directory is not None
    assert source.migration is not None and destination.migration is not None


def test_an_unexpected_exception_is_one_line_and_exit_4(capsys, monkeypatch) -> None:
    import lmpreflight.commands.common as common_command

    def broken(path: object) -> None:
        raise RuntimeError("something\nunexpected")

    monkeypatch.setattr(common_command, "load_host_facts", broken)
    code, out, err = invoke(capsys, monkeypatch, "analyze", "a.json", "b.json")
    assert code == 4 and "Traceback" not in out + err
    assert err == (
        "lmpreflight: internal error: RuntimeError: something unexpected "
        "(a bug; LMPREFLIGHT_DEBUG=1 shows the traceback to report)\n"
    )


@pytest.mark.parametrize("transport", ["kerberos", "credssp"])
def test_a_transport_without_its_extra_is_refused_before_connecting(transport: str, capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import winrm.transport

    if getattr(winrm.transport, f"HAVE_{transport.upper()}"):
        pytest.skip(f"the {transport} extra is installed here")
    monkeypatch.setenv("PW", "secret")
    code, _, err = invoke(
        capsys, monkeypatch, "check", "a.invalid", "b.invalid", "-u", "C\\u", "--password-env", "PW",
        "--transport", transport,
    )  # fmt: skip
    assert code == 2 and err == (
        f"lmpreflight: error: --transport {transport} needs extra packages: pip install 'lmpreflight[{transport}]'\n"
    )
