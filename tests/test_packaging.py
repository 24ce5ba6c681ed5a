"""The package as users install it: a wheel carrying its templates, and third-party plugins."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

from tests.helpers import EXAMPLES, REPO, validate_report_json

pytestmark = pytest.mark.slow
HEALTHY = [str(EXAMPLES / "healthy" / "source.json"), str(EXAMPLES / "healthy" / "destination.json")]


def _run(*args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False, timeout=300, **kwargs)


def test_wheel_installs_non_editable_and_renders_reports(tmp_path: Path) -> None:
    """A plain install resolves only the declared dependencies from the package index (nothing borrowed from
    this environment), so an optional extra imported on start-up, or a dependency that is used but not
    declared, fails here as it would for a user."""
    built = _run(
        sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(tmp_path / "dist"), str(REPO)
    )
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("lmpreflight-*.whl"))
    assert "lmpreflight/py.typed" in zipfile.ZipFile(wheel).namelist(), "plugin authors' mypy reads our types"
    venv = tmp_path / "venv"
    assert _run(sys.executable, "-m", "venv", "--without-pip", str(venv)).returncode == 0
    python = venv / "bin" / "python"
    installed = _run(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", str(wheel))
    assert installed.returncode == 0, installed.stderr[-2000:]
    isolated = _run(str(python), "-c", "import sys; print('\\n'.join(sys.path))")
    assert sysconfig.get_paths()["purelib"] not in isolated.stdout.splitlines(), "the test environment leaked in"
    for extra in ("dnslib", "ldaptor", "twisted", "evtx", "playwright", "tree_sitter", "hypothesis", "ansible"):
        # From an empty folder: "-c" puts the working directory on sys.path, and the repository's ansible/
        # playbook folder would otherwise pass for the ansible package.
        absent = _run(
            str(python), "-c", f"import importlib.util as u; print(u.find_spec('{extra}') is None)", cwd=tmp_path
        )
        assert absent.stdout.strip() == "True", f"{extra} is an optional extra but came with a plain install"

    where = _run(str(python), "-c", "import lmpreflight.resources as r; print(r.data_dir('templates'))", cwd=tmp_path)
    assert where.returncode == 0, where.stderr
    assert where.stdout.strip().startswith(str(venv)), "templates must come from inside the installed package"

    out = tmp_path / "out"
    out.mkdir()
    tool = str(venv / "bin" / "lmpreflight")
    for command in (["--version"], ["check", "--help"], ["collect", "--help"], ["diagnose", "--help"]):
        shown = _run(tool, *command, cwd=out)
        assert shown.returncode == 0 and shown.stdout and not shown.stderr, (command, shown.stderr)
    listed = _run(tool, "checks", cwd=out)
    assert listed.returncode == 0 and "delegation." in listed.stdout, listed.stderr
    for kind in ("report", "facts", "explanation"):
        schema = _run(tool, "schema", kind, cwd=out)
        assert schema.returncode == 0 and json.loads(schema.stdout)["type"] == "object", schema.stderr
    explained = _run(tool, "explain", "0x8009030E", cwd=out)
    assert explained.returncode == 0 and "delegation" in explained.stdout.lower(), explained.stderr
    report = _run(tool, "analyze", *HEALTHY, "--html", "r.html", "--json", "r.json", cwd=out)
    assert report.returncode == 0, report.stderr
    assert "READY" in (out / "r.html").read_text()
    validate_report_json((out / "r.json").read_text())

    for command in (["demo", "-q"], ["lab", "run", "healthy"]):
        refused = _run(tool, *command, cwd=out)
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.strip().splitlines()[-1:] == [
            "lmpreflight: error: the lab needs extra packages (dnslib is missing): pip install 'lmpreflight[lab]'"
        ]
    assert _run(tool, "lab", "list", cwd=out).returncode == 0, "listing scenarios needs no extra"

    with_lab = _run(sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", f"{wheel}[lab]")
    assert with_lab.returncode == 0, with_lab.stderr[-2000:]
    demo = _run(tool, "demo", "-q", "--fix-script", "fix.ps1", cwd=out)
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
    from lmpreflight import Category, PathPart, Remediation, Severity, check, host_step, warned

    @check(id="acme.naming-convention", title="Host names follow ACME's convention", category=Category.PLUGIN,
           severity=Severity.LOW, remediation=Remediation("Rename the host."), references=("https://acme.invalid",),
           needs=("hosts.identity",), shows_on=(PathPart.FORWARD_AUTH,),
           fix=host_step("Record the host in the ACME CMDB", "-not (Test-Path 'C:/acme')", "New-Item 'C:/acme'"))
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
    assert document["path"]["forward_auth"] == "warn", "a plugin check colours its place in the picture"
    assert by_id["acme.naming-convention"]["fix_step"]["change"] == "New-Item 'C:/acme'"
    fix_script = tmp_path / "fix.ps1"
    _run(sys.executable, "-m", "lmpreflight", "analyze", *HEALTHY, "--fix-script", str(fix_script), env=env)
    assert "Invoke-LmpStep 'acme.naming-convention'" in fix_script.read_text(), "a plugin check adds its fix step"
    assert by_id["plugin.load"]["status"] == "error"
    assert "acmebad" in by_id["plugin.load"]["message"]
    assert run.returncode == 3, "a plugin that did not load leaves the verdict incomplete"
    assert json.loads(run.stdout)["verdict"] == "incomplete"
