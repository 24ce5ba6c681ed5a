"""The Ansible playbook that collects facts where the estate runs jobs: syntax, lint, and the
controller's half run for real (no Windows host here: the per-host play matches no host)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
PLAYBOOK = REPO / "ansible" / "collect-facts.yml"


def run(*words: str, scratch: Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Ansible and ansible-lint keep their temporary files and caches in ``scratch``, not the checkout."""
    env = {
        **os.environ,
        "ANSIBLE_NOCOLOR": "1",
        "NO_COLOR": "1",
        "ANSIBLE_LOCAL_TEMP": str(scratch / "tmp"),
        "ANSIBLE_HOME": str(scratch / "home"),
        "XDG_CACHE_HOME": str(scratch / "cache"),
    }
    return subprocess.run(words, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_playbook_syntax(tmp_path: Path) -> None:
    done = run(str(BIN / "ansible-playbook"), "--syntax-check", "-i", "localhost,", str(PLAYBOOK), scratch=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


def test_playbook_passes_ansible_lint_production_profile(tmp_path: Path) -> None:
    done = run(
        str(BIN / "ansible-lint"),
        "--offline",
        "--profile",
        "production",
        "--nocolor",
        str(REPO / "ansible"),
        scratch=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_controller_half_renders_the_collector_and_prepares_the_folder(tmp_path: Path) -> None:
    facts = tmp_path / "facts"
    done = run(
        str(BIN / "ansible-playbook"),
        "-i",
        "localhost,",
        str(PLAYBOOK),
        "-e",
        f"lmpreflight_facts_dir={facts}",
        "-e",
        f"lmpreflight_command={BIN / 'lmpreflight'}",
        "-e",
        "lmpreflight_hosts=no-windows-host-here",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        scratch=tmp_path,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert facts.is_dir()
    assert f"Now run: lmpreflight plan --facts-dir {facts} --all-pairs" in done.stdout
    assert "Render the collector" in done.stdout and "failed=0" in done.stdout
