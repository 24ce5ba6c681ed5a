"""Test helpers shared by the test modules: the example fact files, builders that vary them,
the broken example's report, and the real CLI run in-process. Fixtures live in conftest.py."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lmpreflight.facts import load_host_facts
from lmpreflight.facts.model import HostFacts
from lmpreflight.registry import check, load_checks
from lmpreflight.report.build import RunInfo, build_report
from lmpreflight.report.model import Report
from lmpreflight.runner import Selection, evaluate, run_check
from lmpreflight.vocabulary import Category, Check, CheckFunction, Context, Remediation, Severity, Status

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples" / "facts"
HEALTHY_VMS = ("SQL01", "WEB02")
BROKEN_VMS = ("LEGACY01", "WEB02")

Doc = dict[str, Any]
Mutator = Callable[[Doc, Doc], None]


def example_docs(name: str) -> tuple[Doc, Doc]:
    folder = EXAMPLES / name
    return (
        json.loads((folder / "source.json").read_text()),
        json.loads((folder / "destination.json").read_text()),
    )


def healthy_pair(mutate: Mutator | None = None) -> tuple[HostFacts, HostFacts]:
    """The healthy example pair, optionally changed by ``mutate(source_doc, destination_doc)``."""
    source, destination = copy.deepcopy(example_docs("healthy"))
    if mutate is not None:
        mutate(source, destination)
    return HostFacts.model_validate(source), HostFacts.model_validate(destination)


def run_one(
    check_id: str,
    source: HostFacts,
    destination: HostFacts,
    vms: tuple[str, ...] = HEALTHY_VMS,
    include_storage: bool = False,
) -> list[Any]:
    check = load_checks(include_plugins=False).checks[check_id]
    return run_check(check, Context(source, destination, vms, include_storage))


def probe_check(
    id: str = "test.probe", needs: tuple[str, ...] = (), quotes_destination: bool = False
) -> Callable[[CheckFunction], Check]:
    """The decorator for a check a test defines, as a plug-in would."""
    return check(
        id=id,
        title="Probe",
        category=Category.PLUGIN,
        severity=Severity.LOW,
        remediation=Remediation("fix"),
        references=("https://example.invalid",),
        needs=needs,
        quotes_destination=quotes_destination,
    )


def statuses(findings: list[Any]) -> set[Status]:
    return {f.status for f in findings}


def invoke(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str, str]:
    """Run the real CLI entry point in-process and return (exit code, stdout, stderr)."""
    from lmpreflight.cli import main

    monkeypatch.setattr(sys, "argv", ["lmpreflight", *args])
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0) if not isinstance(exc.code, str) else 1
    out, err = capsys.readouterr()
    return code, out, err


def invoke_with_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> tuple[int, str, str]:
    """Run the CLI with a user and a password in the environment, so that what it says is about ``args`` alone."""
    monkeypatch.setenv("LMPREFLIGHT_TEST_PASSWORD", "x")
    return invoke(capsys, monkeypatch, *args, "--user", "CORP\\x", "--password-env", "LMPREFLIGHT_TEST_PASSWORD")


def refused_before_the_password(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *args: str
) -> list[str]:
    """Run the CLI with no terminal to prompt on and no password given: a mistake in the arguments must be
    what the admin hears about (exit code 2). Returns the lines written to stderr."""
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    code, _, err = invoke(capsys, monkeypatch, *args)
    assert code == 2, err
    return err.strip().splitlines()


def full_run(source: HostFacts, destination: HostFacts, vms: tuple[str, ...]) -> list[Any]:
    return evaluate(load_checks(include_plugins=False), source, destination, Selection(vms=vms))


def validate_report_json(text: str) -> dict[str, Any]:
    """Every JSON report the tests produce must validate against the published schema."""
    import jsonschema

    document = json.loads(text)
    schema = json.loads((REPO / "schemas" / "report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(document)
    return document


FIXED = RunInfo(command="analyze", run_from="ADMIN-WS01", generated_at=datetime(2026, 11, 20, 10, 5, tzinfo=UTC))


def broken_report(strict: bool = False) -> Report:
    source = load_host_facts(EXAMPLES / "broken" / "source.json")
    destination = load_host_facts(EXAMPLES / "broken" / "destination.json")
    results = full_run(source, destination, BROKEN_VMS)
    run = RunInfo(FIXED.command, FIXED.run_from, strict, FIXED.generated_at)
    return build_report(results, source, destination, Selection(vms=BROKEN_VMS), run)
