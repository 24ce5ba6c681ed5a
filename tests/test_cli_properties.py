"""Every command, every option, odd values: the answer is a verdict, a report, or a usage
error in a few lines with exit code 2 — never a traceback, never exit 4 (internal error).

The options are read from the click commands themselves, so a new option is driven too.
Two boundaries are replaced, because they stand for Windows and would make each example take
seconds: reaching hosts (``collect_hosts``) and starting the lab (``Lab``). Reaching either
means every option before it was accepted; the example then ends there.
"""

from __future__ import annotations

import io
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lmpreflight.collect.parallel
import lmpreflight.lab.environment
from lmpreflight.cli import cli, main
from tests.helpers import EXAMPLES


class Reached(BaseException):
    """Raised where the run would reach hosts or start the lab: the options were accepted."""


def _refuse_network(*args: Any, **kwargs: Any) -> Any:
    raise Reached


class _NoLab:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise Reached


ODD_TEXT = [
    "",
    " ",
    "-",
    "--",
    ":",
    "x:y:z",
    "[::1]:53",
    "[::1",
    "10.0.0.1:99999",
    "CORP\\admin",
    "CORPadmin",
    "a@",
    "\x1b[31mred",
    "é✓",
    "a" * 300,
    "../..",
    "%s%n{0}",
    "'\"`$()",
    "0",
    "-1",
    "nan",
    "inf",
    "1e309",
    "24h",
    "0x8009030E",
    "\udcff",  # what an undecodable argv byte becomes
    "delegation.spns-to-destination",
    "SQL01",
    "name=http://127.0.0.1:1/wsman",
    "name=ftp://x",
]
# A command line cannot carry a NUL character (exec refuses it), so the text has none.
TEXT = st.one_of(st.sampled_from(ODD_TEXT), st.text(st.characters(blacklist_characters="\x00"), max_size=20))
INPUT_FILES = [
    str(EXAMPLES / "healthy" / "source.json"),
    str(EXAMPLES / "broken" / "destination.json"),
    "missing.json",
    "folder",
    "garbage.json",
    "",
]
OUTPUT_FILES = ["out.html", "out.json", "missing-folder/out.html", "folder", "é.md", ""]


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


COMMANDS = dict(_commands(cli))


def _value(param: click.Parameter) -> st.SearchStrategy[str]:
    kind = param.type
    if isinstance(kind, click.Choice):
        return st.one_of(st.sampled_from([str(c) for c in kind.choices]), TEXT)
    if isinstance(kind, (click.FloatRange, click.IntRange)) or kind in (click.INT, click.FLOAT):
        return st.one_of(st.integers(-10, 10**6).map(str), st.floats(allow_nan=True).map(str), TEXT)
    if isinstance(kind, click.Path):
        writes = isinstance(param, click.Option) and not kind.exists and param.name not in ("facts", "event_files")
        return st.sampled_from(OUTPUT_FILES if writes else INPUT_FILES)
    return TEXT


def _argv(command: click.Command) -> st.SearchStrategy[list[str]]:
    @st.composite
    def build(draw: st.DrawFn) -> list[str]:
        words: list[str] = []
        for param in command.params:
            if isinstance(param, click.Argument):
                count = param.nargs if param.nargs > 0 else draw(st.integers(0, 3))
                if not param.required and draw(st.booleans()):
                    continue
                words += [draw(_value(param)) for _ in range(count)]
            elif isinstance(param, click.Option) and draw(st.integers(0, 2)) == 0:
                flag = draw(st.sampled_from(param.opts))
                if param.is_flag:
                    words.append(flag)
                else:
                    for _ in range(param.nargs):
                        words += [flag, draw(_value(param))]
        if draw(st.booleans()):
            words += (
                ["--password-env", "LMP_TEST_PASSWORD"] if "password_env" in {p.name for p in command.params} else []
            )
        return words

    return build()


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    collect_hosts, lab = lmpreflight.collect.parallel.collect_hosts, lmpreflight.lab.environment.Lab
    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("lmpreflight"):
            if getattr(module, "collect_hosts", None) is collect_hosts:
                monkeypatch.setattr(module, "collect_hosts", _refuse_network)
            if getattr(module, "Lab", None) is lab:
                monkeypatch.setattr(module, "Lab", _NoLab)
    monkeypatch.setenv("LMP_TEST_PASSWORD", "not-a-secret")
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        (work / "folder").mkdir()
        (work / "garbage.json").write_text("{not json", encoding="utf-8")
        monkeypatch.chdir(work)
        yield work


def _run(argv: list[str]) -> tuple[int | str, str]:
    """Exit code (or 'reached') and what went to stderr."""
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="surrogateescape")
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="surrogateescape")
    saved = sys.argv, sys.stdout, sys.stderr, sys.stdin
    sys.argv = ["lmpreflight", *argv]
    sys.stdout, sys.stderr = stdout, stderr
    sys.stdin = io.TextIOWrapper(io.BytesIO(b"Error 0x8009030E while moving 'SQL01'"))
    try:
        main()
        code: int | str = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except Reached:
        code = "reached"
    finally:
        sys.argv, sys.stdout, sys.stderr, sys.stdin = saved
    stdout.flush()
    stderr.flush()
    written = stdout.buffer.getvalue() + stderr.buffer.getvalue()
    return code, written.decode("utf-8", "replace")


@pytest.mark.parametrize("path", sorted(COMMANDS), ids=" ".join)
def test_any_options_end_in_an_answer_or_a_usage_error(path: tuple[str, ...], sandbox: Path) -> None:
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(argv=_argv(COMMANDS[path]))
    def run(argv: list[str]) -> None:
        code, output = _run([*path, *argv])
        assert "Traceback" not in output, (argv, output)
        assert code in ("reached", 0, 1, 2, 3), (argv, code, output)
        if code == 2:
            assert output.strip(), "a usage error says what is wrong"

    run()


def test_the_property_test_reaches_deep_into_commands(sandbox: Path) -> None:
    """The driving is not only refused at the door: good options get through to hosts or files."""
    password = ["--user", "CORP\\admin", "--password-env", "LMP_TEST_PASSWORD"]
    assert _run(["check", "a.corp.example", "b.corp.example", *password, "--dns-server", "[::1]:53"])[0] == "reached"
    assert _run(["analyze", INPUT_FILES[0], INPUT_FILES[1], "--html", "out.html"])[0] in (0, 1, 3)
    assert Path("out.html").exists()
