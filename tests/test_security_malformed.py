"""A crash is never a verdict: every malformed input is one line on stderr and exit code 2
(exit 1 would read as NOT READY in CI). Fact files, offline collector documents, event
exports and scenario files are each attacked with the same kinds of damage."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import invoke
from tests.hostile import REPO

BROKEN = REPO / "examples" / "facts" / "broken"


def _source_text() -> str:
    return (BROKEN / "source.json").read_text()


def _offline(sections: dict[str, object], errors: list[object]) -> str:
    return json.dumps({"lmpreflight_collector": 1, "mode": "offline", "sections": sections, "errors": errors})


FACT_FILES: dict[str, Callable[[Path], Path]] = {}


def fact_file(name: str) -> Callable[[Callable[[Path], Path]], Callable[[Path], Path]]:
    def register(make: Callable[[Path], Path]) -> Callable[[Path], Path]:
        FACT_FILES[name] = make
        return make

    return register


def _write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@fact_file("nested arrays")
def _deep(folder: Path) -> Path:
    return _write(folder, "deep.json", "[" * 100_000)


@fact_file("nested field")
def _deep_field(folder: Path) -> Path:
    return _write(folder, "deep-field.json", _source_text().rstrip()[:-1] + ', "x": ' + "[" * 3000 + "]" * 3000 + "}")


@fact_file("5000-digit integer")
def _big_int(folder: Path) -> Path:
    return _write(folder, "int.json", _source_text().rstrip()[:-1] + ', "n": ' + "9" * 5000 + "}")


@fact_file("a folder")
def _folder(folder: Path) -> Path:
    (folder / "adir").mkdir()
    return folder / "adir"


@fact_file("a FIFO nobody writes")
def _fifo(folder: Path) -> Path:
    os.mkfifo(folder / "fifo")
    return folder / "fifo"


@fact_file("/dev/zero")
def _zero(folder: Path) -> Path:
    return Path("/dev/zero")


@fact_file("binary")
def _binary(folder: Path) -> Path:
    return _write(folder, "bin.json", bytes(range(256)) * 4)


@fact_file("collector errors of the wrong type")
def _offline_errors(folder: Path) -> Path:
    return _write(folder, "off-errors.json", _offline({}, ["x", 1]))


@pytest.mark.parametrize("name", sorted(FACT_FILES))
def test_malformed_fact_files_are_one_line_and_exit_2(tmp_path: Path, capsys, monkeypatch, name: str) -> None:
    path = FACT_FILES[name](tmp_path)
    code, out, err = invoke(capsys, monkeypatch, "analyze", str(path), str(BROKEN / "destination.json"))
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("lmpreflight: error: "), err
    assert "Traceback" not in err and out == ""


EVENT_EXPORTS: dict[str, str | bytes | None] = {
    "numbers": "[1,2,3]",
    "strings": '["a"]',
    "nested": "[" * 100_000,
    "binary": bytes(range(256)),
    "empty": "",
    "fifo": None,
}


@pytest.mark.parametrize("name", sorted(EVENT_EXPORTS))
def test_malformed_event_exports_are_one_line_and_exit_2(tmp_path: Path, capsys, monkeypatch, name: str) -> None:
    content = EVENT_EXPORTS[name]
    path = tmp_path / "events.json"
    if content is None:
        os.mkfifo(path)
    else:
        _write(tmp_path, "events.json", content)
    code, _, err = invoke(capsys, monkeypatch, "diagnose", "--evtx", str(path))
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("lmpreflight: error: "), err


SCENARIOS: dict[str, str | bytes] = {
    "nested": "[" * 100_000,
    "binary": bytes(range(256)) * 4,
    "python tag": 'extends: healthy\nname: !!python/object/apply:os.system ["true"]\nsummary: s\n',
    "NUL in a VM name": 'extends: healthy\nname: n\nsummary: s\nvms: ["SQL\\0x01"]\n',
    "top-level list": "- a\n- b\n",
    "built-in name climbing out": "extends: ../../../../../../../../etc/passwd\nname: n\nsummary: s\n",
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_malformed_scenarios_are_one_line_and_exit_2(tmp_path: Path, capsys, monkeypatch, name: str) -> None:
    path = _write(tmp_path, "s.yaml", SCENARIOS[name])
    code, _, err = invoke(capsys, monkeypatch, "demo", str(path))
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("lmpreflight: error: "), err


def test_a_long_extends_chain_is_refused(tmp_path: Path, capsys, monkeypatch) -> None:
    for i in range(40):
        _write(tmp_path, f"c{i}.yaml", f"extends: ./c{i + 1}.yaml\nname: c{i}\nsummary: s\n")
    _write(tmp_path, "c40.yaml", "extends: healthy\nname: last\nsummary: s\n")
    code, _, err = invoke(capsys, monkeypatch, "demo", str(tmp_path / "c0.yaml"))
    assert code == 2 and "levels of 'extends'" in err, err
