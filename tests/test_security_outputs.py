"""Hostile host data through every output: the fix script, the Markdown summary, the JSON,
JUnit and terminal reports cannot be broken out of, and files land only where asked."""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from lmpreflight.commands.check import facts_file_names
from lmpreflight.errors import UserError
from lmpreflight.fileio import write_atomic
from tests.helpers import invoke
from tests.hostile import MARKER, PAYLOADS, REPO, name_part, write_pair
from tests.powershell_model import code_text, decode, evaluate

EXPRESSION = re.compile(r"\('(?:[^']|'')*'(?: \+ (?:\[char\]0x[0-9A-F]{4}|'(?:[^']|'')*'))*\)")
"""What ps_literal writes for text that is not printable ASCII."""
FENCE = re.compile(r"^( *)(`{3,})powershell\n(.*?)\n\1\2$", re.S | re.M)


def _analyze(tmp_path: Path, capsys, monkeypatch, payload: str) -> tuple[int, str, str]:
    source, destination, vms = write_pair(tmp_path, payload)
    vm_args = [word for vm in vms for word in ("--vm", vm)]
    return invoke(
        capsys,
        monkeypatch,
        "analyze",
        str(source),
        str(destination),
        *vm_args,
        "--include-storage",
        "--json",
        str(tmp_path / "r.json"),
        "--junit",
        str(tmp_path / "j.xml"),
        "--fix-script",
        str(tmp_path / "fix.ps1"),
        "--markdown",
        str(tmp_path / "s.md"),
        "-v",
    )


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_hostile_names_stay_data_in_every_output(tmp_path: Path, capsys, monkeypatch, name: str) -> None:
    payload = PAYLOADS[name]
    code, out, err = _analyze(tmp_path, capsys, monkeypatch, payload)
    assert code == 1, err  # the broken example is NOT READY, whatever the names

    # The fix script: UTF-8 with a BOM, and no payload in code however
    # Windows PowerShell 5.1 decodes it (as UTF-8 thanks to the BOM, or as cp1252 without).
    data = (tmp_path / "fix.ps1").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    for text in (decode(data), decode(data[3:])):
        assert MARKER not in code_text(text)

    # The names reach the script exactly (no re-indented line breaks, no changed quotes).
    script = decode(data)
    host_line = next(line for line in script.splitlines() if line.strip().startswith("Assert-LmpHost"))
    in_name = name_part(payload)
    assert evaluate(host_line.strip().removeprefix("Assert-LmpHost ")) in {f"HV01{in_name}", f"HV02{in_name}"}

    # Every PowerShell command in the JSON report, and the same text in the Markdown summary.
    report = json.loads((tmp_path / "r.json").read_text())
    commands = [
        r["remediation"]["powershell"] for r in report["results"] if (r.get("remediation") or {}).get("powershell")
    ]
    for command in commands:
        assert MARKER not in code_text(command)
    markdown = (tmp_path / "s.md").read_text()
    blocks = [re.sub(r"^" + indent, "", body, flags=re.M) for indent, _, body in FENCE.findall(markdown)]
    assert blocks and set(blocks) <= set(commands), "the summary shows the report's commands unchanged"
    for line in markdown.splitlines():
        assert "\x1b" not in line

    # JUnit stays well-formed XML 1.0; the terminal shows no control character from a host.
    ET.parse(tmp_path / "j.xml")
    shown = out + err
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]", shown.replace("\r\n", "\n"))


def test_cyrillic_names_keep_their_value_in_the_fix_script(tmp_path: Path, capsys, monkeypatch) -> None:
    _analyze(tmp_path, capsys, monkeypatch, "\u0422\u0435\u0441\u0442")
    script = decode((tmp_path / "fix.ps1").read_bytes())
    values = [evaluate(m) for m in EXPRESSION.findall(script)]
    assert "HV01\u0422\u0435\u0441\u0442" in values


def test_collector_script_is_byte_exact_and_has_a_bom(tmp_path: Path) -> None:
    name = "\x1b[2J\x1b[31mFAKE\u0452"
    done = subprocess.run(
        [sys.executable, "-m", "lmpreflight", "collector-script", "--vm", name, "--vm", "SQL01"],
        capture_output=True,
        check=True,
    )
    assert done.stdout.startswith(b"\xef\xbb\xbf")
    line = next(line for line in decode(done.stdout).splitlines() if line.startswith("$LmpVmNames"))
    array = line.split("=", 1)[1].strip()
    assert array.startswith("@(") and array.endswith(")")
    first, second = array[2:-1].split(", ")
    assert evaluate(first) == name and evaluate(second) == "SQL01"
    (tmp_path / "c.ps1").unlink(missing_ok=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "lmpreflight",
            "collector-script",
            "--vm",
            name,
            "--vm",
            "SQL01",
            "-o",
            str(tmp_path / "c.ps1"),
        ],
        capture_output=True,
        check=True,
    )
    assert (tmp_path / "c.ps1").read_bytes() == done.stdout


def test_saved_facts_are_named_after_what_was_typed() -> None:
    assert facts_file_names("hv01.corp.example", "HV02.corp.example") == ("hv01.json", "hv02.json")
    assert facts_file_names("hv01.corp.example", "hv01.lab.example") == (
        "hv01_corp_example.json",
        "hv01_lab_example.json",
    )
    assert facts_file_names("10.0.0.1", "10.0.0.2") == ("10_0_0_1.json", "10_0_0_2.json")
    assert facts_file_names("hv01", "hv01.") == ("source-hv01.json", "destination-hv01.json")
    for name in facts_file_names("../../etc/x", "/abs/y"):
        assert re.fullmatch(r"[a-z0-9_-]+\.json", name)


def test_special_files_are_written_into_never_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "p"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    write_atomic(fifo, "report\n")
    reader.join(5)
    assert received == [b"report\n"] and stat.S_ISFIFO(fifo.lstat().st_mode)
    write_atomic(Path("/dev/null"), "x")
    assert stat.S_ISCHR(Path("/dev/null").stat().st_mode)
    with pytest.raises(UserError, match="it is a folder"):
        write_atomic(tmp_path, "x")


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a device node needs root")
def test_a_device_node_survives_as_root(tmp_path: Path) -> None:
    node = tmp_path / "fakenull"
    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    write_atomic(node, "x" * 1000)
    assert stat.S_ISCHR(node.lstat().st_mode)


def test_replacing_a_file_keeps_its_mode(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    path.write_text("old")
    path.chmod(0o640)
    write_atomic(path, "new")
    assert path.read_text() == "new" and stat.S_IMODE(path.stat().st_mode) == 0o640
    fresh = tmp_path / "fresh.json"
    write_atomic(fresh, "x")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o600


def test_a_symlink_at_the_output_is_replaced_not_followed(tmp_path: Path) -> None:
    target = tmp_path / "keep.json"
    target.write_text('{"keep": true}')
    link = tmp_path / "out.json"
    link.symlink_to(target)
    write_atomic(link, "new")
    assert target.read_text() == '{"keep": true}' and not link.is_symlink() and link.read_text() == "new"


TERMINAL_PAYLOADS = ["ansi", "ansi_c1", "osc52", "bidi", "xml_ctrl", "vt_ff"]
BROKEN = REPO / "examples" / "facts" / "broken"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@pytest.mark.parametrize("name", TERMINAL_PAYLOADS)
def test_a_hostile_event_export_is_shown_not_obeyed(tmp_path: Path, capsys, monkeypatch, name: str) -> None:
    events = json.loads((REPO / "tests" / "data" / "events" / "hv02-vmms-admin.json").read_text())
    for event in events:
        event["Message"] = (
            f"Live migration of 'Virtual Machine SQL01{PAYLOADS[name]}' failed (0x8009030E). {PAYLOADS[name]}"
        )
        event["MachineName"] += PAYLOADS[name]
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events))
    facts = [str(BROKEN / "source.json"), str(BROKEN / "destination.json")]
    code, out, err = invoke(
        capsys, monkeypatch, "diagnose", "--evtx", str(path), "--facts", *facts, "--junit", str(tmp_path / "j.xml")
    )
    assert code in (0, 1), err
    assert not CONTROL.search((out + err).replace("\r\n", "\n"))
    ET.parse(tmp_path / "j.xml")


@pytest.mark.parametrize("name", TERMINAL_PAYLOADS)
def test_a_hostile_paste_is_shown_not_obeyed(capsys, monkeypatch, name: str) -> None:
    paste = f"Live migration of 'SQL01{PAYLOADS[name]}' failed. Error 0x8009030E {PAYLOADS[name]}\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(paste.encode())))
    code, out, err = invoke(capsys, monkeypatch, "explain", "-")
    assert code in (0, 1), err
    assert not CONTROL.search((out + err).replace("\r\n", "\n"))
