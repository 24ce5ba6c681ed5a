"""CLIXML stderr captured from real Windows hosts (tests/data/README.md names each origin),
decoded as the transport decodes a collector's stderr."""

from __future__ import annotations

from pathlib import Path

from lmpreflight.collect import winrm as transport
from lmpreflight.collect.winrm import Connection, clixml_errors

DATA = Path(__file__).parent / "data" / "clixml"
CONNECTION = Connection("hv01.corp.example", "http://hv01.corp.example:5985/wsman", "ntlm", "CORP\\a", "pw")
# What pywinrm's own test expects the capture to decode to (one line per <S S="Error"> part).
COMMAND_NOT_FOUND = (
    "fake : The term 'fake' is not recognized as the name of a cmdlet, function, script file, or operable "
    "program. Check \nthe spelling of the name, or if a path was included, verify that the path is correct and "
    "try again.\nAt line:1 char:1\n+ fake cmdlet\n+ ~~~~\n    + CategoryInfo          : ObjectNotFound: "
    "(fake:String) [], CommandNotFoundException\n    + FullyQualifiedErrorId : CommandNotFoundException"
)


def test_a_real_error_record_in_eight_parts_is_one_message() -> None:
    text = (DATA / "pywinrm-command-not-found.txt").read_bytes().decode("utf-8")
    assert text.count('<S S="Error">') == 8 and text.count('<Obj S="progress"') == 2
    [message] = clixml_errors(text)
    assert message == " ".join(COMMAND_NOT_FOUND.split())
    assert "Preparing modules" not in message


def test_real_progress_records_alone_carry_no_error() -> None:
    text = (DATA / "pywinrm-progress-only.txt").read_bytes().decode("utf-8")
    assert clixml_errors(text) == []
    line = transport._no_output_message(CONNECTION, 1, bytearray(), bytearray(text.encode("utf-8")))
    assert line == "the collector on hv01.corp.example ended with exit code 1: no error text (only progress records)"


def test_a_failed_collector_names_the_real_error_in_one_line() -> None:
    stderr = bytearray((DATA / "pywinrm-command-not-found.txt").read_bytes())
    line = transport._no_output_message(CONNECTION, 1, bytearray(), stderr)
    assert "\n" not in line and len(line) < 300
    assert line.startswith(
        "the collector on hv01.corp.example ended with exit code 1: fake : The term 'fake' is not recognized"
    )
