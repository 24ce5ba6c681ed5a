"""Attacks that come from a host, played by the lab over the real transport: a host naming
the file its facts are saved to, and event messages carrying markup and terminal escapes."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from lmpreflight.lab.environment import Lab
from lmpreflight.lab.scenario import load_scenario
from tests.lab_helpers import LAB_PAIR, invoke_on_lab

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _scenario(tmp_path: Path, text: str):
    path = tmp_path / "attack.yaml"
    path.write_text(text)
    return load_scenario(str(path))


def test_a_host_cannot_choose_where_its_facts_are_saved(tmp_path: Path, capsys, monkeypatch) -> None:
    (tmp_path / "escaped").mkdir()
    (tmp_path / "facts").mkdir()
    for name in ("../escaped/PWNED", str(tmp_path / "escaped" / "ABSOLUTE")):
        scenario = _scenario(
            tmp_path,
            "extends: healthy\nname: save-facts-traversal\nsummary: s\n"
            f"hosts:\n  HV02:\n    dns_name: hv02.corp.example\n    facts:\n      identity:\n"
            f"        computer_name: {json.dumps(name)}\n",
        )
        with Lab(scenario) as lab:
            save = ["--save-facts", str(tmp_path / "facts")]
            code, _, err = invoke_on_lab(capsys, monkeypatch, lab, scenario, "check", *LAB_PAIR, "--vm", "SQL01", *save)
        assert code == 1, err  # the lying host fails its identity check
        assert sorted(p.name for p in (tmp_path / "facts").iterdir()) == ["hv01.json", "hv02.json"]
        assert list((tmp_path / "escaped").iterdir()) == []


HOSTILE_EVENTS = """extends: healthy
name: hostile-events
summary: events carrying markup and terminal escapes
hosts:
  HV01:
    events:
    - id: 21502
      message: "Live migration of 'Virtual Machine SQL01<script>window.__xss=11</script>' failed. The operation failed with error code 0x8009030E. \\e[2J\\e[32mPASS  forged\\e[0m"
    - id: 20413
      level: Error
      minutes_ago: 29.9
      message: "Virtual machine migration operation for 'SQL01' failed \\e]52;c;U3RvcC1Db21wdXRlciAtRm9yY2U=\\a\\e]0;owned\\a\\x9b31m (0x80090303)"
"""


def test_hostile_event_messages_from_a_host_are_shown_not_obeyed(tmp_path: Path, capsys, monkeypatch) -> None:
    scenario = _scenario(tmp_path, HOSTILE_EVENTS)
    with Lab(scenario) as lab:
        reports = ["--junit", str(tmp_path / "j.xml"), "--markdown", str(tmp_path / "d.md")]
        code, out, err = invoke_on_lab(
            capsys, monkeypatch, lab, scenario, "diagnose", *LAB_PAIR, "--since", "2h", *reports
        )
    assert code == 1, err
    assert "0x8009030E" in out
    assert not CONTROL.search((out + err).replace("\r\n", "\n"))
    ET.parse(tmp_path / "j.xml")
    assert not CONTROL.search((tmp_path / "d.md").read_text().replace("\r\n", "\n"))
