"""Shared test helpers: the example fact files and builders that vary them."""

from __future__ import annotations

import copy
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from lmpreflight.facts.model import HostFacts
from lmpreflight.registry import load_checks
from lmpreflight.runner import Selection, evaluate, run_check
from lmpreflight.vocabulary import Context, Status

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


def full_run(source: HostFacts, destination: HostFacts, vms: tuple[str, ...]) -> list[Any]:
    return evaluate(load_checks(include_plugins=False), source, destination, Selection(vms=vms))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", help="Rewrite golden files from current output.")


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare text with tests/golden/<name>, or rewrite it with --update-golden."""

    def compare(name: str, text: str) -> None:
        path = REPO / "tests" / "golden" / name
        if request.config.getoption("--update-golden"):
            path.parent.mkdir(exist_ok=True)
            path.write_text(text)
        assert path.exists(), f"{path} is missing; run pytest --update-golden"
        assert text == path.read_text(), f"{name} differs from the golden file; review, then --update-golden"

    return compare


def validate_report_json(text: str) -> dict[str, Any]:
    """Every JSON report the tests produce must validate against the published schema."""
    import jsonschema

    document = json.loads(text)
    schema = json.loads((REPO / "schemas" / "report.schema.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(document)
    return document


# CI runs the property tests with a fixed seed so a run is reproducible; local runs keep exploring.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
