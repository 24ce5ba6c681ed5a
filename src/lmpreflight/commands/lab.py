"""The lab on the command line: demo, lab list, lab run."""

from __future__ import annotations

import dataclasses
import importlib
import shlex
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import click

from lmpreflight.commands.check import live_check
from lmpreflight.commands.common import ReportOptions, report_options
from lmpreflight.commands.plan import PlanRequest, run_plan
from lmpreflight.errors import UserError
from lmpreflight.fleet.inventory import InventoryHost
from lmpreflight.lab.scenario import DEFAULT_SCENARIO, Scenario, builtin_names, load_scenario

if TYPE_CHECKING:
    from lmpreflight.lab.environment import Lab

PASSWORD_VARIABLE = "LMPREFLIGHT_LAB_PASSWORD"
LAB_EXTRA_MODULES = ("dnslib", "ldaptor", "twisted")


def _lab_environment() -> type[Lab]:
    """The lab's servers, imported only when a lab command runs: they need the optional 'lab' extra."""
    try:
        for extra in LAB_EXTRA_MODULES:
            importlib.import_module(extra)
        from lmpreflight.lab.environment import Lab
    except ModuleNotFoundError as missing:
        raise UserError(
            f"the lab needs extra packages ({missing.name} is missing): pip install 'lmpreflight[lab]'"
        ) from None
    return Lab


@click.command()
@click.argument("scenario", default=DEFAULT_SCENARIO, metavar="[SCENARIO|PATH]")
@report_options
@click.option("--quiet", "-q", is_flag=True, help="No progress display.")
def demo(scenario: str, quiet: bool, report: ReportOptions) -> None:
    """Run a full 'check' against the built-in lab: no Windows needed.

    The lab starts in this process (WinRM, DNS and LDAP on loopback) and lmpreflight collects
    from it exactly as from real hosts. Writes report.html and report.json here unless told
    otherwise. 'lmpreflight lab list' names the scenarios.
    """
    lab_environment = _lab_environment()
    options = report
    spec = load_scenario(scenario)
    html = options.html_path or Path("report.html")
    options = dataclasses.replace(
        options,
        vms=options.vms or tuple(spec.vms),
        include_storage=options.include_storage or spec.include_storage or spec.storage_path is not None,
        move_from=options.move_from or spec.move_from,
        storage_path=options.storage_path or spec.storage_path,
        outputs={**options.outputs, "html": html, "json": options.json_path or Path("report.json")},
    )
    click.echo(f"lmpreflight demo: scenario '{spec.name}': {spec.summary}", err=True)
    for path in (options.html_path, options.json_path):
        if path is not None and path.exists():
            click.echo(f"lmpreflight demo: replacing {path} (name another file with --html/--json)", err=True)
    if spec.demo == "plan":
        sys.exit(demo_plan(spec, lab_environment, options, quiet))
    with lab_environment(spec) as lab:
        checked = live_check(
            lab.fqdn(spec.role("source")),
            lab.fqdn(spec.role("destination")),
            options,
            lambda: lab.collect_options(options.include_storage, options.vms),
            quiet,
            "demo",
        )
    click.echo(f"Open {html.resolve()} in a browser to see the report.", err=True)
    sys.exit(checked.exit_code)


def demo_plan(spec: Scenario, lab_environment: type[Lab], options: ReportOptions, quiet: bool) -> int:
    """'plan --all-pairs' over every host of the lab; writes plan.html and plan.json here."""
    html = Path("plan.html") if options.html_path in (None, Path("report.html")) else options.html_path
    json_path = Path("plan.json") if options.json_path in (None, Path("report.json")) else options.json_path
    assert html is not None
    outputs = {"json": json_path, "html": html}
    junit = options.output("junit")
    if junit is not None:
        outputs["junit"] = junit
    request = PlanRequest(
        source=None,
        destinations=(),
        inventory=None,
        limit=None,
        all_pairs=True,
        facts_dir=None,
        save_facts=None,
        vms=(),
        skip=options.skip,
        strict=options.strict,
        include_storage=options.include_storage,
        output_format=options.output_format,
        outputs=outputs,
        verbose=options.verbose,
        quiet=quiet,
    )
    with lab_environment(spec) as lab:
        hosts = [InventoryHost(name, lab.fqdn(name)) for name in spec.hosts]
        matrix = run_plan(request, lambda: lab.collect_options(options.include_storage, ()), "demo", hosts)
    click.echo(f"Open {html.resolve()} in a browser to see the placement matrix.", err=True)
    return matrix.exit_code


def _this_program() -> list[str]:
    """How to start this lmpreflight from another terminal: the absolute path of the running
    executable (a README user has it in .venv/bin, not on PATH)."""
    launched = Path(sys.argv[0])
    if launched.name == "lmpreflight" and launched.is_file():
        return [str(launched.resolve())]
    return [sys.executable, "-m", "lmpreflight"]


@click.group()
def lab() -> None:
    """The built-in lab: simulated Hyper-V hosts, DNS and Active Directory on loopback."""


@lab.command("list")
def lab_list() -> None:
    """The built-in scenarios, one line each, name first."""
    for name in builtin_names():
        spec = load_scenario(name)
        click.echo(f"{name:<32} {spec.summary}")


@lab.command("run")
@click.argument("scenario", metavar="SCENARIO|PATH")
def lab_run(scenario: str) -> None:
    """Run the lab in the foreground and print how to point 'lmpreflight check' at it."""
    lab_environment = _lab_environment()
    spec = load_scenario(scenario)
    with lab_environment(spec) as running:
        endpoints = running.endpoints
        source, destination = spec.role("source"), spec.role("destination")
        click.echo(f"lmpreflight lab: scenario '{spec.name}' is running (Ctrl-C stops it)")
        click.echo(f"  {spec.summary}\n")
        for name, url in endpoints.winrm.items():
            click.echo(f"  {name:<8} {running.fqdn(name):<28} WinRM {url}")
        for domain, port in endpoints.ldap.items():
            click.echo(f"  DC       {spec.domains[domain].dc:<28} LDAP 127.0.0.1:{port} (StartTLS)")
        click.echo(f"  DNS      127.0.0.1 port {endpoints.dns.split(':')[1]}")
        click.echo(f"  CA       {endpoints.ca_cert}")
        click.echo(f"  user     {spec.client.user}    password {spec.client.password}\n")
        if spec.demo == "plan":
            inventory = str(running.write_inventory())
            words = [*_this_program(), "plan", "--inventory", inventory, "--all-pairs"]
            words += running.connection_arguments(PASSWORD_VARIABLE, endpoints=False)
        else:
            words = [
                *_this_program(),
                "check",
                running.fqdn(source),
                running.fqdn(destination),
                *running.connection_arguments(PASSWORD_VARIABLE),
            ]
            for vm in spec.vms:
                words += ["--vm", vm]
        click.echo("Check it from another terminal:")
        click.echo(f"  export {PASSWORD_VARIABLE}={shlex.quote(spec.client.password)}")
        click.echo("  " + shlex.join(words))
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            click.echo("\nlmpreflight lab: stopped", err=True)
