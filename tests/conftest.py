"""Fixtures and pytest options; the shared helpers are in tests/helpers.py."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator

import pytest
from hypothesis import settings

from tests.helpers import REPO


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


@pytest.fixture
def interactive_ctrl_c() -> Iterator[None]:
    """Ctrl-C as an interactive run has it, in this process and in the runs it starts.

    A background job of a non-interactive shell (CI, ``pytest &`` in a script) starts with
    SIGINT ignored. Python then installs no KeyboardInterrupt handler, and every process it
    starts inherits the ignored signal: a Ctrl-C test would prove nothing, or fail."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# CI runs the property tests with a fixed seed so a run is reproducible; local runs keep exploring.
settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
