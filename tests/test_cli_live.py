"""The live commands as a user runs them, against the lab."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_powershell

from lmpreflight.commands.check import SECTIONS, collection_summary
from lmpreflight.facts import load_host_facts
from lmpreflight.facts.model import CollectionError
from lmpreflight.lab.environment import Lab
from lmpreflight.lab.scenario import builtin_names, load_scenario
from tests.helpers import EXAMPLES, invoke, invoke_with_password, refused_before_the_password, validate_report_json
from tests.lab_helpers import LAB_PAIR, cli_connection_args, invoke_on_lab, lab_run_printed

POWERSHELL = tree_sitter.Language(tree_sitter_powershell.language())


def parses_as_powershell(script: str) -> bool:
    return not tree_sitter.Parser(POWERSHELL).parse(script.encode("utf-8")).root_node.has_error


def test_demo_from_a_fresh_folder(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "lmpreflight", "demo", "-q"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "Verdict: NOT READY" in done.stdout
    assert "FAIL  delegation.spns-to-destination" in done.stdout
    assert validate_report_json((tmp_path / "report.json").read_text())["run"]["command"] == "demo"
    assert "NOT READY" in (tmp_path / "report.html").read_text()
    assert f"Open {tmp_path / 'report.html'}" in done.stderr


def test_demo_of_a_healthy_scenario_is_ready(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = invoke(capsys, monkeypatch, "demo", "healthy", "--json", "h.json")
    assert code == 0 and "Verdict: READY" in out
    assert validate_report_json((tmp_path / "h.json").read_text())["verdict"] == "ready"


def test_lab_list_names_every_scenario_first(capsys, monkeypatch) -> None:
    code, out, _ = invoke(capsys, monkeypatch, "lab", "list")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == builtin_names()


def test_unknown_scenario_is_one_line(capsys, monkeypatch) -> None:
    code, _, err = invoke(capsys, monkeypatch, "demo", "no-such-scenario")
    assert code == 2
    assert err.startswith("lmpreflight: error: no scenario 'no-such-scenario': not a file, and not a built-in one (")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("name: x\n  bad: [", "not valid YAML"),
        ("extends: healthy\nhosts: {HV02: {clock_offset: soon}}\n", "hosts.HV02.clock_offset"),
        (
            "extends: healthy\nhosts: {HV02: {facts: {vms: {X: {version: 9.0}}}}}\n",
            "hosts.HV02.facts.vms.X.id: required field is missing",
        ),
        ("extends: healthy\nhosts: {HV02: {role: source}}\n", "exactly one host must have role source"),
    ],
)
def test_bad_scenario_files_are_one_line(tmp_path: Path, content: str, expected: str, capsys, monkeypatch) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(content)
    code, _, err = invoke(capsys, monkeypatch, "demo", str(path))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and expected in err, err


def test_user_scenario_extending_a_builtin(tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "ours.yaml"
    path.write_text("extends: healthy\nname: ours\nsummary: our pair\nhosts: {HV02: {clock_offset: 120}}\n")
    monkeypatch.chdir(tmp_path)
    code, out, _ = invoke(capsys, monkeypatch, "demo", str(path))
    assert code == 0
    assert "WARN  domain.clock-skew" in out


def test_check_collect_and_analyze_against_a_running_lab(tmp_path: Path, capsys, monkeypatch) -> None:
    scenario = load_scenario("delegation-missing")
    with Lab(scenario) as lab:
        code, out, err = invoke_on_lab(
            capsys, monkeypatch, lab, scenario, "check", *LAB_PAIR, "--vm", "SQL01", "--save-facts", str(tmp_path)
        )
        assert code == 1, err
        assert "FAIL  delegation.spns-to-destination" in out
        code, _, err = invoke_on_lab(
            capsys, monkeypatch, lab, scenario, "collect", "hv02.corp.example", "-o", str(tmp_path / "one.json")
        )
        assert code == 0, err
    collected = json.loads((tmp_path / "one.json").read_text())
    assert collected["identity"]["computer_name"] == "HV02"
    sections = sum(collected[name] is not None for name in SECTIONS)
    assert err.splitlines()[-1] == (
        f"HV02: {collected['os']['caption']} (build {collected['os']['build']}); Hyper-V vmms Running; "
        f"migration auth {collected['migration']['authentication_type']}; {len(collected['vms'])} VM(s); "
        f"{sections} section(s) collected, 0 failed"
    )
    code, out, _ = invoke(
        capsys, monkeypatch, "analyze", str(tmp_path / "hv01.json"), str(tmp_path / "hv02.json"), "--vm", "SQL01"
    )
    assert code == 1 and "FAIL  delegation.spns-to-destination" in out


def test_collect_summary_names_what_is_missing() -> None:
    facts = load_host_facts(EXAMPLES / "healthy" / "source.json")
    full = collection_summary(facts)
    broken = facts.model_copy(
        update={"os": None, "migration": None, "errors": [CollectionError(section="os", message="access denied")]}
    )
    assert full == (
        "HV01: Microsoft Windows Server 2022 Datacenter (build 20348); Hyper-V vmms Running; "
        "migration auth Kerberos; 2 VM(s); 18 section(s) collected, 0 failed"
    )
    assert collection_summary(broken) == (
        "HV01: OS not collected; Hyper-V vmms Running; migration settings not collected; 2 VM(s); "
        "16 section(s) collected, 1 failed"
    )


def test_password_is_never_a_command_line_option(capsys, monkeypatch) -> None:
    code, _, err = invoke(capsys, monkeypatch, "check", "a", "b", "--user", "x", "--password", "secret")
    assert code == 2 and "No such option '--password'" in err


def test_missing_password_without_a_terminal_is_one_line(capsys, monkeypatch) -> None:
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    code, _, err = invoke(capsys, monkeypatch, "check", "a", "b", "--user", "CORP\\x")
    assert code == 2
    assert "no password: pass --password-env VAR, or run in a terminal to be prompted" in err


@pytest.mark.parametrize(
    ("option", "value", "error"),
    [
        ("--dns-server", "dc01:99999", "--dns-server dc01:99999: the port must be between 1 and 65535"),
        ("--endpoint", "hv01", "--endpoint hv01: expected NAME=http(s)://ADDRESS:PORT/wsman"),
    ],
)
def test_arguments_are_refused_before_the_password_is_looked_for(capsys, monkeypatch, option, value, error) -> None:
    for command in (["check", "a", "b"], ["collect", "a", "-o", "a.json"]):
        lines = refused_before_the_password(capsys, monkeypatch, *command, "--user", "CORP\\x", option, value)
        assert lines == [f"lmpreflight: error: {error}"]


@pytest.mark.parametrize(
    ("words", "error"),
    [
        (["check", "hv01", "HV01"], "source and destination are both hv01; name two different hosts"),
        (["check", "a", "b", "--skip", "no.such-check"], "--skip no.such-check: no check has this id"),
        (["check", "a", "b", "--save-facts", "/no/such/folder"], "--save-facts /no/such/folder: not a folder"),
        (["diagnose", "a", "a"], "source and destination are both a; name two different hosts"),
        (
            ["collect", "a", "-o", "/no/such/folder/a.json"],
            "cannot write /no/such/folder/a.json: the folder /no/such/folder does not exist",
        ),
    ],
)
def test_command_arguments_are_refused_before_the_password_is_looked_for(capsys, monkeypatch, words, error) -> None:
    (line,) = refused_before_the_password(capsys, monkeypatch, *words, "--user", "CORP\\x")
    assert line.startswith(f"lmpreflight: error: {error}")


def test_unset_password_variable(capsys, monkeypatch) -> None:
    monkeypatch.delenv("NOPE", raising=False)
    code, _, err = invoke(capsys, monkeypatch, "check", "a", "b", "--user", "CORP\\x", "--password-env", "NOPE")
    assert code == 2 and "--password-env NOPE: the environment variable is not set" in err


def test_same_host_twice_is_a_usage_error(capsys, monkeypatch) -> None:
    code, _, err = invoke_with_password(capsys, monkeypatch, "check", "hv01", "HV01")
    assert code == 2 and "name two different hosts" in err


def test_bad_endpoint_option(capsys, monkeypatch) -> None:
    code, _, err = invoke_with_password(capsys, monkeypatch, "check", "a", "b", "--endpoint", "a=ftp://x")
    assert code == 2 and "--endpoint a=ftp://x: expected NAME=http(s)://ADDRESS:PORT/wsman" in err


def test_collector_script_is_valid_powershell_with_escaped_names(capsys, monkeypatch) -> None:
    code, out, _ = invoke(capsys, monkeypatch, "collector-script", "--vm", "O'Brien's VM", "--vm", "$(evil)")
    assert code == 0
    assert "$LmpVmNames = @('O''Brien''s VM', '$(evil)')" in out
    assert "param([string]$OutFile" in out
    assert parses_as_powershell(out)


def test_live_collector_is_valid_powershell() -> None:
    from lmpreflight.collect.script import BOOTSTRAP, render_collector

    assert parses_as_powershell(render_collector(["SQL01"]))
    assert parses_as_powershell(BOOTSTRAP)


def test_lab_run_prints_a_working_check_command() -> None:
    with lab_run_printed("port-6600-blocked", "check") as (command, env):
        done = subprocess.run(
            [sys.executable, "-m", "lmpreflight", "check", *command],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    assert "FAIL  network.port-6600" in done.stdout


def test_https_with_no_verify_warns_and_works(capsys, monkeypatch) -> None:
    from lmpreflight.lab.environment import LabTuning

    scenario = load_scenario("healthy")
    with Lab(scenario, LabTuning(https=True)) as lab:
        monkeypatch.setenv("LAB_PW", scenario.client.password)
        args = [a for a in cli_connection_args(lab, scenario, "LAB_PW") if a != str(lab.endpoints.ca_cert)]
        args.remove("--ca-cert")
        code, out, err = invoke(
            capsys, monkeypatch, "check", "hv01.corp.example", "hv02.corp.example", "--https", "--no-verify", *args
        )
    assert code == 0, out + err
    assert "lmpreflight: warning: TLS certificates are not verified (--no-verify)" in err


def test_progress_shows_each_host_on_a_terminal_and_nothing_when_piped() -> None:
    import io

    from rich.console import Console

    from lmpreflight.commands.connection import HostProgress

    now = [100.0]
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=120)
    with HostProgress(["hv01", "hv02"], quiet=False, console=terminal, clock=lambda: now[0]) as progress:
        progress.update("hv01", "connecting")
        progress.update("hv02", "connecting")
        now[0] += 2
        progress.update("hv01", "collecting")
        progress.update("hv02", "directory")
        now[0] += 12  # no update meanwhile: the seconds still count
        progress.live.refresh()
    shown = screen.getvalue()
    assert "running the collector" in shown and "reading the directory and DNS" in shown
    assert "14s (12s in this stage)" in shown
    stuck = io.StringIO()
    terminal = Console(file=stuck, force_terminal=True, width=120)
    with HostProgress(["hv01"], quiet=False, console=terminal, clock=lambda: now[0]) as progress:
        progress.update("hv01", "connecting")
        progress.update("hv01", "stage-two")
        now[0] += 7
        progress.live.refresh()
    assert "stage two (port tests / compatibility)" in stuck.getvalue() and "7s" in stuck.getvalue()
    piped = io.StringIO()
    with HostProgress(["hv01"], quiet=False, console=Console(file=piped)) as progress:
        progress.update("hv01", "done")
    assert piped.getvalue() == ""
    quiet = io.StringIO()
    with HostProgress(["hv01"], quiet=True, console=Console(file=quiet, force_terminal=True)) as progress:
        progress.update("hv01", "done")
    assert quiet.getvalue() == ""


@pytest.mark.parametrize(
    ("words", "error"),
    [
        (["--skip", "no.such-check"], "--skip no.such-check: no check has this id; 'lmpreflight checks' lists the ids"),
        (["fleet", "--skip", "nope"], "--skip nope: no check has this id; 'lmpreflight checks' lists the ids"),
        (["healthy", "--skip", "delegation.spn"], "--skip delegation.spn: no check has this id; did you mean"),
        (["--format", "xml"], "Invalid value for '--format': 'xml' is not one of 'text', 'json'."),
        (["--junit", "{tmp}/no/j.xml"], "cannot write {tmp}/no/j.xml: the folder {tmp}/no does not exist"),
        (["--html", "{tmp}/a-file/r.html"], "cannot write {tmp}/a-file/r.html: Not a directory"),
        (["healthy", "--json", "/proc/r.json"], "cannot write /proc/r.json: "),
        (["--markdown", "{tmp}"], "Invalid value for '--markdown': File '{tmp}' is a directory."),
        (["--waivers", "{tmp}/none.yaml"], "{tmp}/none.yaml"),
        (["fleet", "--fix-script", "{tmp}/f.ps1"], "demo fleet runs 'plan', which does not take --fix-script"),
        (["fleet", "--markdown", "{tmp}/s.md"], "demo fleet runs 'plan', which does not take --markdown"),
    ],
)
def test_demo_refuses_a_mistake_in_one_line_before_the_lab_starts(
    tmp_path: Path, capsys, monkeypatch, words: list[str], error: str
) -> None:
    def no_lab(self: Lab) -> Lab:
        raise AssertionError("the lab started before the options were checked")

    monkeypatch.setattr(Lab, "__enter__", no_lab)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("")
    args = [word.replace("{tmp}", str(tmp_path)) for word in words]
    code, out, err = invoke(capsys, monkeypatch, "demo", *args)
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("lmpreflight: error: ") and error.replace("{tmp}", str(tmp_path)) in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"], "nothing written"


def test_demo_says_which_existing_report_it_replaces(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "report.json").write_text("{}")
    code, _, err = invoke(capsys, monkeypatch, "demo", "healthy", "-q", "--html", "/dev/null")
    assert code == 0, err
    assert "lmpreflight demo: replacing report.json (name another file with --html/--json)" in err
    assert "replacing /dev/null" not in err and "wrote /dev/null" in err, "a device is written into, not replaced"
    assert "Open /dev/null" not in err and "in a browser" not in err, "a device is not a page to open"
    assert validate_report_json((tmp_path / "report.json").read_text())["verdict"] == "ready"
