"""Bad input to every command ends in one line on stderr and exit code 2, before any slow work
or password prompt, with nothing written: empty names (an unset shell variable), the same host
twice, an empty password variable, output paths under a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import EXAMPLES, invoke, refused_before_the_password

HEALTHY = [str(EXAMPLES / "healthy" / "source.json"), str(EXAMPLES / "healthy" / "destination.json")]
ON_THE_HOSTS = ["--user", "CORP\\x", "--password-env", "LMPREFLIGHT_UNSET_PASSWORD"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", *HEALTHY, "--vm", ""], "--vm: the value is empty"),
        (["analyze", *HEALTHY, "--storage-path", " "], "--storage-path: the value is empty"),
        (["collector-script", "--vm", ""], "--vm: the value is empty"),
        (["collector-script", "--peer", ""], "--peer: the value is empty"),
        (["check", "", "hv02", *ON_THE_HOSTS], "SOURCE: the value is empty"),
        (["check", "hv01", " ", *ON_THE_HOSTS], "DESTINATION: the value is empty"),
        (["check", "hv01", "hv02", "--vm", "", *ON_THE_HOSTS], "--vm: the value is empty"),
        (["diagnose", "", "hv02", *ON_THE_HOSTS], "SOURCE: the value is empty"),
        (["collect", "", "-o", "{tmp}/x.json", *ON_THE_HOSTS], "HOST: the value is empty"),
        (["plan", "", "--to", "hv02", *ON_THE_HOSTS], "SOURCE: the value is empty"),
        (["plan", "hv01", "--to", "", *ON_THE_HOSTS], "--to: the value is empty"),
        (["plan", "hv01", "--to", "hv02", "--vm", "", *ON_THE_HOSTS], "--vm: the value is empty"),
        (["check", "hv01", "hv02", "--dns-server", "", *ON_THE_HOSTS], "--dns-server: the value is empty"),
    ],
)
def test_an_empty_name_is_refused_before_the_password(
    args: list[str], message: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    monkeypatch.delenv("LMPREFLIGHT_UNSET_PASSWORD", raising=False)
    lines = refused_before_the_password(capsys, monkeypatch, *(a.replace("{tmp}", str(tmp_path)) for a in args))
    assert len(lines) == 1 and lines[0].startswith(f"lmpreflight: error: {message}"), lines
    assert not list(tmp_path.iterdir()), "nothing written"


def test_an_empty_password_variable_is_refused_without_a_logon(capsys, monkeypatch) -> None:
    """An exported but empty variable is a mistake; trying it would cost a failed logon on each host."""
    monkeypatch.setenv("LMPREFLIGHT_EMPTY_PASSWORD", "")
    code, _, err = invoke(
        capsys,
        monkeypatch,
        "check",
        "hv01",
        "hv02",
        "--user",
        "CORP\\x",
        "--password-env",
        "LMPREFLIGHT_EMPTY_PASSWORD",
    )
    assert code == 2
    assert err == "lmpreflight: error: --password-env LMPREFLIGHT_EMPTY_PASSWORD: the environment variable is empty\n"


@pytest.mark.parametrize("command", ["explain", "diagnose"])
def test_the_same_host_twice_as_facts_is_refused(command: str, capsys, monkeypatch) -> None:
    """As analyze does: a move needs two hosts, and checks judging a host against itself mislead."""
    source = HEALTHY[0]
    text = ["0x8009030E"] if command == "explain" else ["--evtx", str(Path(__file__).parent / "data" / "system.evtx")]
    code, out, err = invoke(capsys, monkeypatch, command, *text, "--facts", source, source)
    assert code == 2 and out == ""
    assert err == f"lmpreflight: error: {source} and {source} both describe HV01: a move needs two different hosts\n"


@pytest.mark.parametrize(
    "args",
    [
        ["collect", "hv01", "-o", "{file}/x.json", *ON_THE_HOSTS],
        ["plan", "--facts-dir", str(EXAMPLES / "healthy"), "--all-pairs", "--json", "{file}/x.json"],
        ["analyze", *HEALTHY, "--html", "{file}/x.json"],
    ],
)
def test_an_output_under_a_file_is_refused_in_one_line(args: list[str], tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("LMPREFLIGHT_UNSET_PASSWORD", raising=False)
    file = tmp_path / "report"
    file.write_text("kept")
    lines = refused_before_the_password(capsys, monkeypatch, *(a.replace("{file}", str(file)) for a in args))
    assert lines == [f"lmpreflight: error: cannot write {file}/x.json: Not a directory"]
    assert file.read_text() == "kept"


@pytest.mark.parametrize(
    ("inventory", "limit", "reason"),
    [
        ("folder", [], "no hosts are listed (Ansible: Unable to parse {path} as an inventory source)"),
        ("hosts.ini", ["--limit", "zzz"], "no hosts match --limit zzz (Ansible: Could not match supplied host pattern"),
    ],
)
def test_an_inventory_without_hosts_is_one_line_with_ansibles_reason(
    inventory: str, limit: list[str], reason: str, tmp_path: Path, capsys, monkeypatch
) -> None:
    """Ansible prints its warnings as blocks of lines; an inventory that names no host is still one line."""
    path = tmp_path / inventory
    if inventory == "folder":
        path.mkdir()
    else:
        path.write_text("[hyperv]\nhv01\nhv02\n")
    lines = refused_before_the_password(capsys, monkeypatch, "plan", "--inventory", str(path), "--all-pairs", *limit)
    assert len(lines) == 1 and lines[0].startswith(
        f"lmpreflight: error: --inventory {path}: " + reason.format(path=path)
    ), lines


def test_ansibles_warnings_on_a_good_inventory_are_one_line_each(tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "hosts.yml"
    path.write_text("all:\n  hosts:\n    hv01:\n    hv02:\n  bogus: 5\n")
    monkeypatch.delenv("LMPREFLIGHT_UNSET_PASSWORD", raising=False)
    lines = refused_before_the_password(
        capsys, monkeypatch, "plan", "--inventory", str(path), "--all-pairs", *ON_THE_HOSTS
    )
    assert lines[0].startswith(
        f"lmpreflight: warning: --inventory {path}: Ansible: Skipping key (bogus) in group (all)"
    )
    assert lines[1:] == [
        "lmpreflight: error: --password-env LMPREFLIGHT_UNSET_PASSWORD: the environment variable is not set"
    ]


def test_an_impossible_waiver_date_is_a_usage_error(tmp_path: Path, capsys, monkeypatch) -> None:
    """YAML reads 2026-13-45 as a date and the calendar refuses it: one line, exit 2, not an internal error."""
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "waivers:\n  - check: network.port-6600\n    subject: HV01\n    reason: x\n    expires: 2026-13-45\n"
    )
    code, out, err = invoke(capsys, monkeypatch, "analyze", *HEALTHY, "--waivers", str(waivers))
    assert (code, out) == (2, "")
    assert err == f"lmpreflight: error: --waivers {waivers}: not a valid date: month must be in 1..12\n"


def test_an_impossible_date_in_a_scenario_file_is_a_usage_error(tmp_path: Path, capsys, monkeypatch) -> None:
    scenario = tmp_path / "mine.yaml"
    scenario.write_text("extends: _base\nname: mine\nsummary: 2026-13-45\n")
    code, out, err = invoke(capsys, monkeypatch, "demo", str(scenario))
    assert (code, out) == (2, "")
    assert err == f"lmpreflight: error: scenario {scenario}: not a valid date: month must be in 1..12\n"


@pytest.mark.parametrize("content", ["", "# nothing yet\n"])
def test_an_empty_waiver_file_says_what_it_should_hold(content: str, tmp_path: Path, capsys, monkeypatch) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(content)
    code, out, err = invoke(capsys, monkeypatch, "analyze", *HEALTHY, "--waivers", str(waivers))
    assert (code, out) == (2, "")
    assert err == (
        f"lmpreflight: error: --waivers {waivers}: the file is empty; it starts with 'waivers:' and lists the "
        "accepted risks\n"
    )
