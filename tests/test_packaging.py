"""The package as users install it: a wheel carrying its templates, and third-party plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, REPO, validate_report_json

pytestmark = pytest.mark.slow
HEALTHY = [str(EXAMPLES / "healthy" / "source.json"), str(EXAMPLES / "healthy" / "destination.json")]


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=300, **kwargs)


def test_wheel_installs_non_editable_and_renders_reports(tmp_path: Path) -> None:
    built = _run(
        sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"), str(REPO)
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("lmpreflight-*.whl"))
    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", "--without-pip", str(venv)).returncode == 0
    python = venv / "bin" / "python"
    installed = _run(
        sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)
    )
    assert installed.returncode == 0, installed.stderr[-2000:]
    # Dependencies come from the test environment; lmpreflight itself only from the wheel.
    site = _run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip()
    Path(site, "test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")

    where = _run(str(python), "-c", "import lmpreflight.resources as r; print(r.data_dir('templates'))", cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(venv)), "templates must come from inside the installed package"

    out = tmp_path / "out"
    out.mkdir()
    report = _run(
        str(venv / "bin" / "lmpreflight"), "analyze", *HEALTHY, "--html", "r.html", "--json", "r.json", cwd=out
    )
    assert report.returncode == 0, report.stderr
    assert "READY" in (out / "r.html").read_text()
    validate_report_json((out / "r.json").read_text())
    demo = _run(str(venv / "bin" / "lmpreflight"), "demo", "-q", "--fix-script", "fix.ps1", cwd=out)
    assert demo.returncode == 1, demo.stderr
    assert "Verdict: NOT READY" in demo.stdout and (out / "report.html").exists() and (out / "fix.ps1").exists()


def _plugin(root: Path, name: str, module_body: str) -> Path:
    package = root / name
    (package / f"{name}_checks").mkdir(parents=True)
    (package / "pyproject.toml").write_text(
        textwrap.dedent(f"""
        [build-system]
        requires = ["hatchling"]
        build-backend = "hatchling.build"
        [project]
        name = "{name}"
        version = "1.0"
        [project.entry-points."lmpreflight.checks"]
        {name} = "{name}_checks"
        [tool.hatch.build.targets.wheel]
        packages = ["{name}_checks"]
    """)
    )
    (package / f"{name}_checks" / "__init__.py").write_text(textwrap.dedent(module_body))
    return package


GOOD_PLUGIN = '''
    from lmpreflight import Category, Remediation, Severity, check, warned

    @check(id="acme.naming-convention", title="Host names follow ACME's convention", category=Category.PLUGIN,
           severity=Severity.LOW, remediation=Remediation("Rename the host."), references=("https://acme.invalid",),
           needs=("hosts.identity",))
    def naming_convention(context):
        """ACME names Hyper-V hosts HV-<site>-<n>; others are not in the CMDB."""
        for role in ("source", "destination"):
            host = context.host(role)
            yield warned(f"{host.name} does not start with 'HV-'", role)
'''


def test_plugin_checks_run_and_broken_plugins_are_named(tmp_path: Path) -> None:
    site = tmp_path / "site"
    good = _plugin(tmp_path, "acmegood", GOOD_PLUGIN)
    bad = _plugin(tmp_path, "acmebad", "raise ImportError('needs the acme-cmdb package')\n")
    for package in (good, bad):
        done = _run(
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(site),
            str(package),
        )
        assert done.returncode == 0, done.stderr[-2000:]
    env = {**os.environ, "PYTHONPATH": str(site)}
    listed = _run(sys.executable, "-m", "lmpreflight", "checks", env=env)
    assert "acme.naming-convention" in listed.stdout
    assert "plugin 'acmebad' failed to load: ImportError: needs the acme-cmdb package" in listed.stderr

    run = _run(sys.executable, "-m", "lmpreflight", "analyze", *HEALTHY, "--format", "json", env=env)
    document = validate_report_json(run.stdout)
    by_id = {r["check_id"]: r for r in document["results"]}
    assert by_id["acme.naming-convention"]["status"] == "warn"
    assert by_id["plugin.load"]["status"] == "error"
    assert "acmebad" in by_id["plugin.load"]["message"]
    assert run.returncode == 3, "a plugin that did not load leaves the verdict incomplete"
    assert json.loads(run.stdout)["verdict"] == "incomplete"
