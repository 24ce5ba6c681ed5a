"""What `--help` says agrees with the README, and the command list shows each command's whole summary."""

from __future__ import annotations

import re

import pytest

from tests.helpers import REPO, invoke

README = (REPO / "README.md").read_text()


def test_every_command_summary_is_whole_in_the_command_list(capsys, monkeypatch) -> None:
    code, out, _ = invoke(capsys, monkeypatch, "--help")
    assert code == 0
    listed = dict(re.findall(r"^  (\S+)\s{2,}(.+)$", out.split("Commands:")[1], flags=re.MULTILINE))
    assert set(listed) >= {
        *("analyze", "check", "checks", "collect", "collector-script", "demo", "diagnose", "explain", "lab", "plan")
    }
    for name in listed:
        assert not listed[name].endswith("..."), f"{name}: {listed[name]}"
    code, out, _ = invoke(capsys, monkeypatch, "lab", "--help")
    assert code == 0
    lab = dict(re.findall(r"^  (\S+)\s{2,}(.+)$", out.split("Commands:")[1], flags=re.MULTILINE))
    assert {"list", "run"} <= set(lab) and not any(text.endswith("...") for text in lab.values()), lab


@pytest.mark.parametrize(
    ("command", "shown", "in_readme"),
    [
        ("check", "--dns-server ADDRESS|NAME[:PORT]", "--dns-server ADDRESS|NAME[:PORT]"),
        ("check", "--save-facts DIR", "--save-facts DIR"),
        ("check", "--timeout SECONDS", "--timeout SECONDS"),
        ("check", "--password-env VAR", "--password-env VAR"),
        ("collect", "--record DIR", "--record DIR"),
        ("diagnose", "--since DURATION", "--since 24h"),
        ("plan", "--facts-dir DIR", "--facts-dir DIR"),
        ("plan", "--save-facts DIR", "--save-facts facts/"),
    ],
)
def test_help_names_values_as_the_readme_does(command: str, shown: str, in_readme: str, capsys, monkeypatch) -> None:
    code, out, _ = invoke(capsys, monkeypatch, command, "--help")
    assert code == 0 and shown in out
    assert in_readme in README


def test_fix_script_help_describes_the_script_it_writes(capsys, monkeypatch) -> None:
    """The script is a SupportsShouldProcess script: -WhatIf previews, each change is confirmed."""
    _, out, _ = invoke(capsys, monkeypatch, "check", "--help")
    assert "-WhatIf previews" in " ".join(out.split())
    assert "-Apply" not in out and "-Apply" not in README


@pytest.mark.parametrize(
    ("words", "says"),
    [
        (["check"], "Missing argument 'SOURCE'. ('"),
        (["check"], "check --help' lists the options)"),
        (["check", "a", "b", "--pasword-env", "X"], "No such option '--pasword-env'. Did you mean '--password-env'?"),
        (["analyze", "a", "b", "--format", "xml"], "Invalid value for '--format': 'xml' is not one of 'text', 'json'."),
        (["lab", "nope"], "No such command 'nope'."),
    ],
)
def test_a_usage_mistake_is_one_line(words: list[str], says: str, capsys, monkeypatch) -> None:
    code, out, err = invoke(capsys, monkeypatch, *words)
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith("lmpreflight: error: ") and says in line


def test_the_tool_named_alone_lists_its_commands(capsys, monkeypatch) -> None:
    code, out, err = invoke(capsys, monkeypatch)
    assert code == 2
    assert "Commands:" in out + err and "demo" in out + err
